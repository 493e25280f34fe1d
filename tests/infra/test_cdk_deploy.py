"""bootstrap -> deploy -> run -> approve -> serve -> update -> roll back -> unserve -> destroy, with the real CDK CLI.

The project's CDK app goes into a fresh localcloud of its own (on a 60x clock: the endpoint's
canary bakes take seconds), with nothing but AWS_ENDPOINT_URL (and placeholder credentials)
pointing the plain CDK CLI at it, as a user would. Every resource is then read back through its
own service's API, the pipeline the stack created runs on real data (its code shipped as CDK
assets), its approved model is deployed by the stack's own rule and function, and the endpoint
is updated and removed by deploying the stack with a different `ModelPackageArn` parameter.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from cdk_support import cdk, cdk_env
from support import ROOT, LocalCloud, wait_until

from infra import outputs
from training.datagen import generate_month

STACK = "SageStack-local"
pytestmark = pytest.mark.localcloud


class Deployment:
    """A localcloud, the synthesized app, and the CDK CLI pointed at them."""

    def __init__(self, root: Path):
        self.cloud = LocalCloud.start(root / "localcloud", args=["--time-scale", "60"])
        self.env = cdk_env(root / "cdk-home", self.cloud.url)
        self.assembly = root / "assembly"
        self.client = self.cloud.client

    def cdk(self, *args: str) -> tuple[int, str]:
        result = cdk(list(args), self.env)
        return result.returncode, result.stdout + result.stderr

    def deploy(self, **parameters: str) -> tuple[int, str]:
        given = [x for k, v in parameters.items() for x in ("--parameters", f"{k}={v}")]
        return self.cdk("deploy", STACK, "--app", str(self.assembly), "--require-approval", "never", *given)

    def stack(self) -> dict[str, Any]:
        return self.client("cloudformation").describe_stacks(StackName=STACK)["Stacks"][0]

    def outputs(self) -> dict[str, str]:
        return {o["OutputKey"]: o["OutputValue"] for o in self.stack().get("Outputs", [])}


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    d = Deployment(tmp_path_factory.mktemp("cdk-deploy"))
    try:
        code, said = d.cdk("synth", "--quiet", "--output", str(d.assembly))
        assert code == 0, said[-3000:]
        code, said = d.cdk("bootstrap", "aws://123456789012/us-east-1")
        assert code == 0, said[-3000:]
        code, said = d.deploy()
        assert code == 0, said[-3000:]
        yield d
    finally:
        d.cloud.stop()


# ---------------------------------------------------------------------------------------- what the deploy made


def test_storage_is_encrypted_private_ssl_only_logged_and_expiring(deployment: Deployment) -> None:
    out, s3, kms = deployment.outputs(), deployment.client("s3"), deployment.client("kms")
    key = out[outputs.KEY_ARN]
    assert kms.get_key_rotation_status(KeyId=key)["KeyRotationEnabled"]
    for name in (outputs.DATA_BUCKET, outputs.ARTIFACTS_BUCKET, outputs.CAPTURE_BUCKET):
        bucket = out[name]
        [rule] = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
        assert rule["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key}
        block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
        assert all(block.values()) and len(block) == 4
        policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
        assert any(st["Effect"] == "Deny" and st["Condition"]["Bool"]["aws:SecureTransport"] == "false"
                   for st in policy["Statement"])
        assert s3.get_bucket_logging(Bucket=bucket)["LoggingEnabled"]["TargetPrefix"] == f"{name[:-6].lower()}/"
    assert s3.get_bucket_versioning(Bucket=out[outputs.ARTIFACTS_BUCKET])["Status"] == "Enabled"
    rules = s3.get_bucket_lifecycle_configuration(Bucket=out[outputs.CAPTURE_BUCKET])["Rules"]
    assert rules[0]["Expiration"]["Days"] == 7  # the local stage's capture retention


def test_roles_registry_and_pipeline(deployment: Deployment) -> None:
    out, iam, sm = deployment.outputs(), deployment.client("iam"), deployment.client("sagemaker")
    for key in (outputs.PIPELINE_ROLE_ARN, outputs.MODEL_ROLE_ARN):
        role = iam.get_role(RoleName=out[key].rsplit("/", 1)[-1])["Role"]
        assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]["Service"] == "sagemaker.amazonaws.com"
    group = sm.describe_model_package_group(ModelPackageGroupName=out[outputs.MODEL_PACKAGE_GROUP])
    assert group["ModelPackageGroupStatus"] == "Completed"
    pipeline = sm.describe_pipeline(PipelineName=out[outputs.PIPELINE_NAME])
    assert pipeline["RoleArn"] == out[outputs.PIPELINE_ROLE_ARN]
    definition = json.loads(pipeline["PipelineDefinition"])
    assert [s["Name"] for s in definition["Steps"]][:3] == ["Preprocess", "Train", "Evaluate"]
    assert out[outputs.INPUT_DATA_URI] in pipeline["PipelineDefinition"]
    assert "placeholder" not in pipeline["PipelineDefinition"]


def test_alarms_dashboard_alerts_and_rules(deployment: Deployment) -> None:
    out = deployment.outputs()
    cw, sns, sqs, events = (deployment.client(s) for s in ("cloudwatch", "sns", "sqs", "events"))
    topic = out[outputs.ALERT_TOPIC_ARN]
    alarms = cw.describe_alarms(AlarmNamePrefix="sagestack-local-")["MetricAlarms"]
    assert {a["AlarmName"] for a in alarms} == {"sagestack-local-endpoint-5xx", "sagestack-local-endpoint-latency-p99",
                                                "sagestack-local-data-drift", "sagestack-local-model-quality-rmse"}
    assert all(a["AlarmActions"] == [topic] and a["OKActions"] == [topic] for a in alarms)
    assert cw.get_dashboard(DashboardName=out[outputs.DASHBOARD])["DashboardBody"]
    assert sns.get_topic_attributes(TopicArn=topic)["Attributes"]["KmsMasterKeyId"]
    [subscription] = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=out[outputs.ALERT_QUEUE_URL], AttributeNames=["QueueArn"])
    assert subscription["Endpoint"] == queue_arn["Attributes"]["QueueArn"]
    rules = {r["Name"]: r for r in events.list_rules(NamePrefix="sagestack-local-")["Rules"]}
    assert rules["sagestack-local-retraining"]["ScheduleExpression"] == "rate(1 day)"
    [target] = events.list_targets_by_rule(Rule="sagestack-local-retraining")["Targets"]
    assert target["Arn"].endswith(f":pipeline/{out[outputs.PIPELINE_NAME]}")
    targets = events.list_targets_by_rule(Rule="sagestack-local-model-approved")["Targets"]
    assert sorted(t["Arn"] for t in targets) == sorted([topic, deployment.client("lambda").get_function(
        FunctionName=out[outputs.DEPLOYER_FUNCTION])["Configuration"]["FunctionArn"]])
    with pytest.raises(ClientError):  # no endpoint until a package is named
        deployment.client("sagemaker").describe_endpoint(EndpointName=out[outputs.ENDPOINT_NAME])


# ---------------------------------------------------------------------------------------- the lifecycle


def _train(deployment: Deployment, seed: int, approval: str) -> dict[str, Any]:
    """Run the stack's pipeline on a small month of trips; the package it registers (with `approval`)."""
    out, sm = deployment.outputs(), deployment.client("sagemaker")
    month = io.BytesIO()
    generate_month(2024, 1, trips=1500, seed=seed).to_parquet(month, index=False)
    bucket, _, prefix = out[outputs.INPUT_DATA_URI].removeprefix("s3://").partition("/")
    deployment.client("s3").put_object(Bucket=bucket, Key=f"{prefix}2024-01.parquet", Body=month.getvalue())
    arn = sm.start_pipeline_execution(PipelineName=out[outputs.PIPELINE_NAME], PipelineParameters=[
        {"Name": "MaxIter", "Value": "15"}, {"Name": "ModelApprovalStatus", "Value": approval}])[
        "PipelineExecutionArn"]

    def finished() -> str | None:
        status = sm.describe_pipeline_execution(PipelineExecutionArn=arn)["PipelineExecutionStatus"]
        return None if status == "Executing" else status

    assert wait_until(finished, 300, 0.3) == "Succeeded", sm.list_pipeline_execution_steps(PipelineExecutionArn=arn)
    latest = sm.list_model_packages(ModelPackageGroupName=out[outputs.MODEL_PACKAGE_GROUP], SortOrder="Descending")[
        "ModelPackageSummaryList"][0]
    return sm.describe_model_package(ModelPackageName=latest["ModelPackageArn"])


def _serve(deployment: Deployment, package: dict[str, Any]) -> tuple[int, str]:
    return deployment.deploy(ModelPackageArn=package["ModelPackageArn"],
                             ModelSha256=package["CustomerMetadataProperties"]["sagestack:model-sha256"])


def _predict(deployment: Deployment, endpoint: str) -> float:
    row = "2.5,132,236,1,8,2,0,0.5,-0.5,1"
    answer = deployment.client("sagemaker-runtime").invoke_endpoint(EndpointName=endpoint, ContentType="text/csv",
                                                                    Accept="text/csv", Body=row.encode())
    return float(answer["Body"].read())


def _stack_models(deployment: Deployment) -> list[str]:
    return [m["ModelName"] for m in deployment.client("sagemaker").list_models(MaxResults=100)["Models"]
            if m["ModelName"].startswith(f"{STACK}-ServingModel")]


def test_the_lifecycle_through_the_cdk_cli(deployment: Deployment) -> None:
    sm, sqs = deployment.client("sagemaker"), deployment.client("sqs")
    out = deployment.outputs()
    endpoint = out[outputs.ENDPOINT_NAME]

    # the stack's pipeline runs its asset-shipped code, and the approval reaches the alert queue
    first = _train(deployment, seed=3, approval="Approved")
    assert first["ModelApprovalStatus"] == "Approved"

    def approval_alert() -> bool:
        messages = sqs.receive_message(QueueUrl=out[outputs.ALERT_QUEUE_URL], MaxNumberOfMessages=10)
        return any(json.loads(m["Body"]).get("detail", {}).get("ModelApprovalStatus") == "Approved"
                   for m in messages.get("Messages", []))

    assert wait_until(approval_alert, 15, 0.2), "the model-approved rule did not reach the alert queue"

    # the approval deploys it: the stack's rule and function update the stack with the package, which creates
    # the endpoint from it, with its pin, capture and scaling
    def deployed() -> bool:
        stack = deployment.stack()
        values = {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}
        return values["ModelPackageArn"] == first["ModelPackageArn"] and stack["StackStatus"] == "UPDATE_COMPLETE"

    assert wait_until(deployed, 180, 0.3), deployment.stack()["StackStatus"]
    described = sm.describe_endpoint(EndpointName=endpoint)
    assert described["EndpointStatus"] == "InService"
    config = sm.describe_endpoint_config(EndpointConfigName=described["EndpointConfigName"])
    assert config["DataCaptureConfig"]["KmsKeyId"] == out[outputs.KEY_ARN]
    model = sm.describe_model(ModelName=config["ProductionVariants"][0]["ModelName"])
    assert model["PrimaryContainer"]["ModelPackageName"] == first["ModelPackageArn"]
    assert 1 < _predict(deployment, endpoint) < 120  # minutes
    scaling = deployment.client("application-autoscaling").describe_scalable_targets(ServiceNamespace="sagemaker")
    assert [t["ResourceId"] for t in scaling["ScalableTargets"]] == [f"endpoint/{endpoint}/variant/AllTraffic"]
    assert deployment.outputs()[outputs.SERVED_MODEL_PACKAGE] == first["ModelPackageArn"]

    # a new package: the endpoint is updated in place to a new model and config; the old ones go
    second = _train(deployment, seed=4, approval="PendingManualApproval")  # deployed by hand, with the CDK CLI
    old_models = _stack_models(deployment)
    code, said = _serve(deployment, second)
    assert code == 0, said[-3000:]
    updated = sm.describe_endpoint(EndpointName=endpoint)
    assert updated["EndpointArn"] == described["EndpointArn"]
    assert updated["EndpointConfigName"] != described["EndpointConfigName"]
    assert set(_stack_models(deployment)).isdisjoint(old_models) and len(_stack_models(deployment)) == 1
    assert deployment.outputs()[outputs.SERVED_MODEL_PACKAGE] == second["ModelPackageArn"]

    # a deploy that names no package keeps serving the last one (the CLI reuses parameter values)
    code, said = deployment.deploy()
    assert code == 0 and "(no changes)" in said, said[-3000:]
    assert sm.describe_endpoint(EndpointName=endpoint)["EndpointConfigName"] == updated["EndpointConfigName"]

    # a package that does not exist: the deploy fails, says why, and rolls back to what served
    missing = {**second, "ModelPackageArn": re.sub(r"/\d+$", "/99", second["ModelPackageArn"])}
    code, said = _serve(deployment, missing)
    assert code != 0
    assert "ServingModel" in said and "/99" in said, said[-3000:]
    assert deployment.stack()["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
    assert sm.describe_endpoint(EndpointName=endpoint)["EndpointConfigName"] == updated["EndpointConfigName"]
    assert 1 < _predict(deployment, endpoint) < 120

    # a package without its digest is refused before anything changes
    code, said = deployment.deploy(ModelPackageArn=second["ModelPackageArn"], ModelSha256="")
    assert code != 0 and "ModelPackageArn and ModelSha256 go together" in said, said[-3000:]

    # an empty package parameter removes the endpoint, its config and model
    code, said = deployment.deploy(ModelPackageArn="", ModelSha256="")
    assert code == 0, said[-3000:]
    with pytest.raises(ClientError):
        sm.describe_endpoint(EndpointName=endpoint)
    assert _stack_models(deployment) == []
    assert outputs.SERVED_MODEL_PACKAGE not in deployment.outputs()


def test_destroy_refuses_to_drop_data_and_sagestack_destroy_empties_first(deployment: Deployment) -> None:
    out = deployment.outputs()
    s3, sm, cf = deployment.client("s3"), deployment.client("sagemaker"), deployment.client("cloudformation")
    s3.put_object(Bucket=out[outputs.DATA_BUCKET], Key="taxi-duration/data/kept.parquet", Body=b"rows")
    access_logs = s3.get_bucket_logging(Bucket=out[outputs.DATA_BUCKET])["LoggingEnabled"]["TargetBucket"]
    code, said = deployment.cdk("destroy", STACK, "--app", str(deployment.assembly), "--force")
    assert code != 0 and "not empty" in said, said[-3000:]
    assert deployment.stack()["StackStatus"] == "DELETE_FAILED"
    # `sagestack destroy` empties the buckets of a stage that does not retain data, then destroys
    destroyed = subprocess.run([str(Path(sys.executable).parent / "sagestack"), "--endpoint-url", deployment.cloud.url,
                                "destroy"], cwd=ROOT, env=deployment.env, capture_output=True, text=True, timeout=600)
    assert destroyed.returncode == 0, destroyed.stdout[-2000:] + destroyed.stderr[-3000:]
    assert re.search(r"emptied bucket sagestack-local-storagedata\S+ \(\d+ object version", destroyed.stderr)
    assert access_logs not in destroyed.stderr
    assert f"stack {STACK} destroyed" in destroyed.stdout
    assert STACK not in [s["StackName"] for s in cf.describe_stacks()["Stacks"]]
    names = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert not names & {out[outputs.DATA_BUCKET], out[outputs.ARTIFACTS_BUCKET], out[outputs.CAPTURE_BUCKET]}
    assert s3.list_objects_v2(Bucket=access_logs, Prefix="data/")["KeyCount"] > 0  # retained: the access record
    assert s3.list_objects_v2(Bucket=access_logs, Prefix="data/")["KeyCount"] > 0  # retained: the access record
    group = sm.describe_model_package_group(ModelPackageGroupName=out[outputs.MODEL_PACKAGE_GROUP])
    assert group["ModelPackageGroupStatus"] == "Completed"  # retained: the registry's history outlives the stack
    with pytest.raises(ClientError):
        sm.describe_pipeline(PipelineName=out[outputs.PIPELINE_NAME])


def test_a_cdk_app_that_is_not_ours_deploys_works_and_goes(deployment: Deployment, tmp_path: Path) -> None:
    app = f"{sys.executable} {Path(__file__).with_name('foreign_app.py')}"
    code, said = deployment.cdk("deploy", "--app", app, "--output", str(tmp_path / "out"), "--require-approval",
                                "never")
    assert code == 0, said[-3000:]
    cf, sqs, sns, s3, ssm, iam, events = (deployment.client(s) for s in ("cloudformation", "sqs", "sns", "s3", "ssm",
                                                                         "iam", "events"))
    described = cf.describe_stacks(StackName="OrdersStack")["Stacks"][0]
    out = {o["OutputKey"]: o["OutputValue"] for o in described["Outputs"]}
    queue, bucket = out["QueueUrlOutput"], out["BucketName"]
    attributes = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["All"])["Attributes"]
    assert attributes["VisibilityTimeout"] == "45" and json.loads(attributes["RedrivePolicy"])["maxReceiveCount"] == 3
    assert ssm.get_parameter(Name="/orders/queue-url")["Parameter"]["Value"] == queue
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    assert s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"][0]["Expiration"]["Days"] == 30
    [role] = [r for r in iam.list_roles()["Roles"] if r["RoleName"].startswith("OrdersStack-Worker")]
    assert [p["PolicyName"] for p in iam.list_attached_role_policies(RoleName=role["RoleName"])[
        "AttachedPolicies"]] == ["CloudWatchReadOnlyAccess"]

    # it works: an event and a notification both reach the queue
    events.put_events(Entries=[{"Source": "shop.orders", "DetailType": "OrderPlaced", "Detail": '{"id": 7}'}])
    sns.publish(TopicArn=out["TopicArn"], Message="shipped 7")
    bodies: list[str] = []

    def both() -> bool:
        bodies.extend(m["Body"] for m in sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get(
            "Messages", []))
        return any('"id": 7' in b for b in bodies) and any("shipped 7" in b for b in bodies)

    assert wait_until(both, 15, 0.2), bodies

    code, said = deployment.cdk("destroy", "--app", app, "--output", str(tmp_path / "out"), "--force")
    assert code == 0, said[-3000:]
    assert "OrdersStack" not in [s["StackName"] for s in cf.describe_stacks()["Stacks"]]
    with pytest.raises(ClientError):
        ssm.get_parameter(Name="/orders/queue-url")
