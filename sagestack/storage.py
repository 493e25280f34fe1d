"""Making sure the artifacts bucket is there before code, data or capture is written to it.

Why the two targets differ: on localcloud nothing exists until someone creates it, and a
fresh `sagestack up` should work without a CDK deploy, so the CLI creates the bucket. On
AWS the bucket belongs to the CDK stack (encryption, policies, retention); the CLI never
creates buckets there, it says what is missing instead.
"""

from __future__ import annotations

from botocore.exceptions import ClientError

from sagestack.context import App
from sagestack.errors import SagestackError


def ensure_bucket(app: App) -> bool:
    """Check (and on localcloud create) the settings' bucket; True if it was created."""
    bucket, region = app.settings.bucket, app.settings.region
    try:
        app.s3.head_bucket(Bucket=bucket)
        return False
    except ClientError as e:
        code = str(e.response.get("Error", {}).get("Code", ""))
        if code in ("403", "AccessDenied", "Forbidden"):
            raise SagestackError(f"bucket {bucket} exists but {app.target.description} denies access to it") from None
        if code not in ("404", "NoSuchBucket", "NotFound"):
            raise
    if app.target.aws:
        raise SagestackError(f"bucket {bucket} does not exist: deploy the stack (`npx cdk deploy`) "
                             "or name the artifacts bucket with --bucket / SAGESTACK_BUCKET")
    kwargs: dict[str, object] = {"Bucket": bucket}
    if region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
    app.s3.create_bucket(**kwargs)
    return True
