"""CloudFormation in localcloud: moto's template engine, with the stack lifecycle and resource types it lacks.

moto parses templates, resolves intrinsic functions and calls each resource type's
`create/update/delete_from_cloudformation_json`. This package adds what deploying real CDK apps
with the real CDK CLI needs: templates fetched from any S3 URL form, change sets that behave as
AWS's do, and the resource types moto skips, each in a module named after its service, each
creating the resource through that service's own backend so that it really exists.
"""

from __future__ import annotations

_installed = False


def install() -> None:
    """Register our resource types with moto's CloudFormation (they replace moto's for the same type)."""
    global _installed
    if _installed:
        return
    from moto.cloudformation import parsing

    from localcloud.cloudformation import autoscaling, cloudwatch, iam, s3, sagemaker, sns, sqs  # noqa: F401
    from localcloud.cloudformation.resource import ResourceType

    for cached in (parsing.get_model_list, parsing.get_model_map, parsing.get_name_type_map):
        cached.cache_clear()
    ours = {cls.TYPE: cls for cls in ResourceType.__subclasses__()}
    moto_name_property = parsing.resource_name_property_from_type

    def name_property(resource_type: str) -> str | None:
        # moto answers with the first class declaring the type, which may be its own (FakeEndpoint
        # says endpoints take no name): ours decide for the types we provide.
        if resource_type in ours:
            return ours[resource_type].NAME_PROPERTY or None
        return moto_name_property(resource_type)

    parsing.resource_name_property_from_type = name_property
    _installed = True
