"""What localcloud's CloudFormation resource types share.

moto finds resource types among the *direct* subclasses of its `CloudFormationModel`, so each
type is declared `class X(ResourceType, CloudFormationModel)`: this mixin supplies the plumbing,
the type supplies `TYPE`, `create`, and optionally `update` and `remove`.

Semantics, as CloudFormation's: `Ref` gives `physical_resource_id`; `Fn::GetAtt` gives an entry of
`attributes`. Whether a change replaces the resource is the schema's call (a create-only property
changed, see schemas.py): then the engine creates a new one under a new generated name and deletes
the old one once the whole update has succeeded, and a resource whose template names it cannot be
replaced, as on AWS. Otherwise `update` changes the resource in place and returns it (or returns
None when the type can only replace).
"""

from __future__ import annotations

from typing import Any, ClassVar

from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

from localcloud.cloudformation import schemas

__all__ = ["ReplacementNeeded", "ResourceFailed", "ResourceType"]


class ResourceFailed(Exception):
    """A resource could not be provisioned; the message is its ResourceStatusReason."""


class ReplacementNeeded(Exception):
    """The update cannot be made in place: the engine creates a new resource instead."""


class ResourceType:
    TYPE: ClassVar[str]
    NAME_PROPERTY: ClassVar[str] = ""
    """The property that names the resource; when a template leaves it out, a name is generated."""

    def __init__(self, physical_id: str, account_id: str, region: str, properties: dict[str, Any],
                 attributes: dict[str, Any] | None = None):
        self.physical_id = physical_id
        self.account_id = account_id
        self.region = region
        self.properties = properties
        self.attributes = attributes or {}

    # ------------------------------------------------------------------- what a type implements
    @classmethod
    def create(cls, name: str, properties: dict[str, Any], account_id: str, region: str) -> ResourceType:
        raise NotImplementedError

    def update(self, name: str, properties: dict[str, Any]) -> ResourceType | None:
        return None  # replace

    def remove(self) -> None:
        raise NotImplementedError

    # ------------------------------------------------------------------- moto's interface
    @property
    def physical_resource_id(self) -> str:
        return self.physical_id

    @classmethod
    def cloudformation_type(cls) -> str:
        return cls.TYPE

    @classmethod
    def cloudformation_name_type(cls) -> str:
        return cls.NAME_PROPERTY

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return True  # checked when resolved: a missing attribute is a template error then

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        if attribute_name in self.attributes:
            return self.attributes[attribute_name]
        raise UnformattedGetAttTemplateException()

    def is_created(self) -> bool:
        return True

    @classmethod
    def create_from_cloudformation_json(cls, resource_name: str, cloudformation_json: dict[str, Any],
                                        account_id: str, region_name: str, **kwargs: Any) -> ResourceType:
        return cls.create(resource_name, cloudformation_json.get("Properties") or {}, account_id, region_name)

    @classmethod
    def update_from_cloudformation_json(cls, original_resource: Any, new_resource_name: str,
                                        cloudformation_json: dict[str, Any], account_id: str,
                                        region_name: str) -> ResourceType:
        properties = cloudformation_json.get("Properties") or {}
        if schemas.replaced_by(cls.TYPE, original_resource.properties, properties):
            named = properties.get(cls.NAME_PROPERTY) if cls.NAME_PROPERTY else None
            if named is not None and named == original_resource.properties.get(cls.NAME_PROPERTY):
                raise ResourceFailed(f"CloudFormation cannot update a stack when a custom-named resource requires "
                                     f"replacing. Rename {named} and update the stack again.")
            raise ReplacementNeeded
        updated = original_resource.update(new_resource_name, properties)
        if updated is None:
            raise ReplacementNeeded
        return updated

    @classmethod
    def delete_from_cloudformation_json(cls, resource_name: str, cloudformation_json: dict[str, Any],
                                        account_id: str, region_name: str) -> None:
        raise NotImplementedError("deleted through the instance")

    def delete(self, account_id: str, region: str) -> None:
        self.remove()
