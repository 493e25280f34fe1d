"""S3 resource types: AWS::S3::Bucket with the configuration moto's type drops, and AWS::S3::BucketPolicy.

moto's own bucket type applies only encryption and tags: versioning, lifecycle rules, access
logging, the public access block and object ownership in a template were silently not there.
This type applies each through moto's S3 backend (so GetBucketVersioning and friends answer
what the template says), changes them in place on update, and refuses a property it cannot
apply rather than pretend. The bucket is deleted only when empty, as on AWS (localcloud.s3).
"""

from __future__ import annotations

import json
import re
from typing import Any

from moto.core.common_models import CloudFormationModel
from moto.s3.cloud_formation import cfn_to_api_encryption
from moto.s3.models import get_canned_acl, s3_backends
from moto.utilities.utils import get_partition

from localcloud.cloudformation.resource import ResourceFailed, ResourceType

APPLIED = ("BucketName", "AccessControl", "BucketEncryption", "Tags", "VersioningConfiguration",
           "LifecycleConfiguration", "LoggingConfiguration", "PublicAccessBlockConfiguration", "OwnershipControls",
           "CorsConfiguration")
"""The bucket properties localcloud applies; any other makes the resource fail, saying which."""


def _backend(account_id: str, region: str) -> Any:
    return s3_backends[account_id][get_partition(region)]


def _policy_text(document: Any) -> bytes:
    return (document if isinstance(document, str) else json.dumps(document)).encode()


def _lifecycle_rule(rule: dict[str, Any], index: int) -> dict[str, Any]:
    """One CloudFormation lifecycle rule in the PutBucketLifecycleConfiguration shape moto keeps."""
    api: dict[str, Any] = {"ID": rule.get("Id") or f"rule-{index}", "Status": rule["Status"],
                           "Filter": {"Prefix": rule.get("Prefix", "")}}
    expiration = {k: v for k, v in (("Days", rule.get("ExpirationInDays")), ("Date", rule.get("ExpirationDate")),
                                    ("ExpiredObjectDeleteMarker", rule.get("ExpiredObjectDeleteMarker")))
                  if v is not None}
    if expiration:
        api["Expiration"] = expiration
    noncurrent = rule.get("NoncurrentVersionExpiration") or (
        {"NoncurrentDays": rule["NoncurrentVersionExpirationInDays"]} if "NoncurrentVersionExpirationInDays" in rule
        else None)
    if noncurrent:
        api["NoncurrentVersionExpiration"] = noncurrent
    if rule.get("AbortIncompleteMultipartUpload"):
        api["AbortIncompleteMultipartUpload"] = rule["AbortIncompleteMultipartUpload"]
    if rule.get("Transitions"):
        api["Transition"] = [{"Days": t.get("TransitionInDays"), "Date": t.get("TransitionDate"),
                              "StorageClass": t["StorageClass"]} for t in rule["Transitions"]]
    if rule.get("NoncurrentVersionTransitions"):
        api["NoncurrentVersionTransition"] = [
            {"NoncurrentDays": t["TransitionInDays"], "StorageClass": t["StorageClass"]}
            for t in rule["NoncurrentVersionTransitions"]]
    return api


def _cors_rule(rule: dict[str, Any]) -> dict[str, Any]:
    api = {"AllowedMethod": rule["AllowedMethods"], "AllowedOrigin": rule["AllowedOrigins"],
           "AllowedHeader": rule.get("AllowedHeaders", []), "ExposeHeader": rule.get("ExposedHeaders", [])}
    if "MaxAge" in rule:
        api["MaxAgeSeconds"] = str(rule["MaxAge"])
    if "Id" in rule:
        api["ID"] = rule["Id"]
    return api


def _refuse_unsupported(properties: dict[str, Any]) -> None:
    unsupported = sorted(set(properties) - set(APPLIED))
    if unsupported:
        raise ResourceFailed(f"localcloud does not apply the bucket properties {', '.join(unsupported)} yet")


class Bucket(ResourceType, CloudFormationModel):
    TYPE = "AWS::S3::Bucket"
    NAME_PROPERTY = "BucketName"

    @classmethod
    def create(cls, name: str, properties: dict[str, Any], account_id: str, region: str) -> Bucket:
        _refuse_unsupported(properties)
        _backend(account_id, region).create_bucket(name, region)
        bucket = cls(name, account_id, region, {}, {
            "Arn": f"arn:aws:s3:::{name}", "DomainName": f"{name}.s3.amazonaws.com",
            "RegionalDomainName": f"{name}.s3.{region}.amazonaws.com",
            "DualStackDomainName": f"{name}.s3.dualstack.{region}.amazonaws.com",
            "WebsiteURL": f"http://{name}.s3-website-{region}.amazonaws.com"})
        try:
            bucket._apply(properties)
        except Exception:
            bucket.remove()
            raise
        return bucket

    def update(self, name: str, properties: dict[str, Any]) -> Bucket:
        _refuse_unsupported(properties)
        self._apply(properties)
        return self

    def _apply(self, new: dict[str, Any]) -> None:
        """Set what `new` configures and clear what the previous properties configured and `new` does not."""
        backend, name, old = _backend(self.account_id, self.region), self.physical_id, self.properties
        bucket = backend.get_bucket(name)
        if "AccessControl" in new or "AccessControl" in old:
            canned = re.sub(r"(?<!^)(?=[A-Z])", "-", new.get("AccessControl", "Private")).lower()  # PublicRead
            backend.put_bucket_acl(name, get_canned_acl(canned))
        if "BucketEncryption" in new:
            encryption = cfn_to_api_encryption(new["BucketEncryption"])
            rule = new["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
            if "BucketKeyEnabled" in rule:
                encryption["Rule"]["BucketKeyEnabled"] = str(rule["BucketKeyEnabled"]).lower()
            backend.put_bucket_encryption(name, encryption)
        elif "BucketEncryption" in old:
            backend.delete_bucket_encryption(name)
        if "Tags" in new or "Tags" in old:
            backend.put_bucket_tagging(name, {t["Key"]: t["Value"] for t in new.get("Tags") or []})
        versioning = (new.get("VersioningConfiguration") or {}).get("Status")
        if versioning or "VersioningConfiguration" in old:
            backend.put_bucket_versioning(name, versioning or "Suspended")
        if new.get("LifecycleConfiguration"):
            backend.put_bucket_lifecycle_configuration(name, [
                _lifecycle_rule(r, i) for i, r in enumerate(new["LifecycleConfiguration"]["Rules"])])
        elif "LifecycleConfiguration" in old:
            backend.delete_bucket_lifecycle(name)
        logging = new.get("LoggingConfiguration")
        if logging is not None:
            target = logging.get("DestinationBucketName", name)
            if target not in backend.buckets:
                raise ResourceFailed(f"The target bucket for logging does not exist ({target})")
            # AWS checks no grant here (a policy-based grant may come later in the same stack); moto would.
            bucket.logging = {"TargetBucket": target, "TargetPrefix": logging.get("LogFilePrefix", "")}
        elif "LoggingConfiguration" in old:
            bucket.logging = {}
        if new.get("PublicAccessBlockConfiguration"):
            block = new["PublicAccessBlockConfiguration"]
            backend.put_public_access_block(name, {k: str(block.get(k, False)).lower() for k in (
                "BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")})
        elif "PublicAccessBlockConfiguration" in old:
            backend.delete_public_access_block(name)
        if new.get("OwnershipControls"):
            backend.put_bucket_ownership_controls(name, new["OwnershipControls"]["Rules"][0]["ObjectOwnership"])
        elif "OwnershipControls" in old:
            backend.delete_bucket_ownership_controls(name)
        if new.get("CorsConfiguration"):
            backend.put_bucket_cors(name, [_cors_rule(r) for r in new["CorsConfiguration"]["CorsRules"]])
        elif "CorsConfiguration" in old:
            backend.delete_bucket_cors(name)
        self.properties = new

    def remove(self) -> None:
        backend = _backend(self.account_id, self.region)
        if self.physical_id in backend.buckets:
            backend.delete_bucket(self.physical_id)  # refuses while the bucket holds objects, as AWS does


class BucketPolicy(ResourceType, CloudFormationModel):
    """A bucket's policy (CDK puts its SSL-only and log-delivery statements here)."""

    TYPE = "AWS::S3::BucketPolicy"

    @classmethod
    def create(cls, name: str, properties: dict[str, Any], account_id: str, region: str) -> BucketPolicy:
        bucket = properties["Bucket"]
        _backend(account_id, region).put_bucket_policy(bucket, _policy_text(properties["PolicyDocument"]))
        return cls(bucket, account_id, region, properties)

    def update(self, name: str, properties: dict[str, Any]) -> BucketPolicy:
        _backend(self.account_id, self.region).put_bucket_policy(self.physical_id,
                                                                 _policy_text(properties["PolicyDocument"]))
        self.properties = properties
        return self

    def remove(self) -> None:
        backend = _backend(self.account_id, self.region)
        if self.physical_id in backend.buckets:
            backend.delete_bucket_policy(self.physical_id)
