"""Guarded endpoint updates on the fast clock: canary traffic really split, baking, and automatic rollback.

Two models answer differently (1 and 2), so each answer says which fleet served it. Steady
loopback traffic runs through every update: a good canary deployment loses no request and ends
on the new config; a model that fails every request is caught by the 5XX rollback alarm during
the canary's baking, traffic returns to the old fleet, and at most the canary's share of the
requests in that window fail.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from click.testing import CliRunner
from lc_fixtures import ANSWERING_SERVE, ROLE, SKLEARN_IMAGE, Workspace, tarball
from support import LocalCloud, wait_until

from sagestack.cli import cli

SCALE = 60
"""A one-minute alarm period or baking interval lasts a second."""



@pytest.fixture(scope="module")
def fast(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloud]:
    with LocalCloud.start(tmp_path_factory.mktemp("deployments"), args=["--time-scale", str(SCALE)]) as cloud:
        yield cloud


@pytest.fixture(scope="module")
def endpoint(fast: LocalCloud) -> Iterator[tuple[Workspace, str]]:
    ws = Workspace(fast)
    code = ws.put("serve/sourcedir.tar.gz", tarball({"serve.py": ANSWERING_SERVE.encode()}))
    for name, env in (("one", {"ANSWER": "1"}), ("two", {"ANSWER": "2"}), ("broken", {"ANSWER": "3", "BROKEN": "1"}),
                      ("slow", {"ANSWER": "4", "SLOW_MS": "150"})):
        ws.sm.create_model(ModelName=f"{name}-{ws.tag}", ExecutionRoleArn=ROLE, PrimaryContainer={
            "Image": SKLEARN_IMAGE, "Environment": {"SAGEMAKER_PROGRAM": "serve.py",
                                                    "SAGEMAKER_SUBMIT_DIRECTORY": code, **env}})
        ws.sm.create_endpoint_config(EndpointConfigName=f"{name}-{ws.tag}", ProductionVariants=[{
            "VariantName": "AllTraffic", "ModelName": f"{name}-{ws.tag}", "InstanceType": "ml.m5.large",
            "InitialInstanceCount": 2}])
    name = f"guarded-{ws.tag}"
    ws.sm.create_endpoint(EndpointName=name, EndpointConfigName=f"one-{ws.tag}")
    assert wait_until(lambda: ws.sm.describe_endpoint(EndpointName=name)["EndpointStatus"] == "InService", 120, 0.1)
    fast.client("cloudwatch").put_metric_alarm(
        AlarmName=f"{name}-5xx", Namespace="AWS/SageMaker", MetricName="Invocation5XXErrors", Statistic="Sum",
        Dimensions=[{"Name": "EndpointName", "Value": name}, {"Name": "VariantName", "Value": "AllTraffic"}],
        Period=60, EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanOrEqualToThreshold",
        TreatMissingData="notBreaching")
    yield ws, name
    ws.sm.delete_endpoint(EndpointName=name)


class Traffic:
    """Bounded loopback traffic from one thread: every answer, or the error code of a failed request."""

    def __init__(self, cloud: LocalCloud, endpoint: str):
        self.rt = cloud.client("sagemaker-runtime", config=Config(retries={"max_attempts": 1}))
        self.endpoint = endpoint
        self.answers: list[str] = []
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.done.is_set():
            try:
                answer = self.rt.invoke_endpoint(EndpointName=self.endpoint, ContentType="text/csv",
                                                 Accept="text/csv", Body=b"1.0,2.0")["Body"].read()
                body = f"{float(answer):g}"  # the model's answer: which fleet served the request
            except ClientError as e:
                body = f"error {e.response['Error'].get('Code')}"
            self.answers.append(body)
            self.done.wait(0.01)

    def __enter__(self) -> Traffic:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        self.thread.join(10)


def _canary(alarm: str, wait: int = 120) -> dict[str, Any]:
    return {"BlueGreenUpdatePolicy": {
        "TrafficRoutingConfiguration": {"Type": "CANARY", "WaitIntervalInSeconds": wait,
                                        "CanarySize": {"Type": "INSTANCE_COUNT", "Value": 1}},
        "TerminationWaitInSeconds": 60, "MaximumExecutionTimeoutInSeconds": 1800},
        "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": alarm}]}}


def _settled(sm: Any, name: str) -> dict[str, Any]:
    described = wait_until(lambda: (lambda d: d if d["EndpointStatus"] == "InService" else None)(
        sm.describe_endpoint(EndpointName=name)), 120, 0.1)
    assert described, "the update did not end"
    return described  # type: ignore[return-value]


def test_a_good_canary_splits_traffic_then_moves_it_all_without_a_failed_request(
        fast: LocalCloud, endpoint: tuple[Workspace, str]) -> None:
    ws, name = endpoint
    with Traffic(fast, name) as traffic:
        assert wait_until(lambda: len(traffic.answers) > 20, 20, 0.05)
        ws.sm.update_endpoint(EndpointName=name, EndpointConfigName=f"two-{ws.tag}",
                              DeploymentConfig=_canary(f"{name}-5xx"))
        updating = ws.sm.describe_endpoint(EndpointName=name)
        assert updating["EndpointStatus"] == "Updating"
        assert updating["PendingDeploymentSummary"]["EndpointConfigName"] == f"two-{ws.tag}"
        start = len(traffic.answers)
        baking = wait_until(lambda: (lambda v: v if v and v[0]["Status"] == "Baking" else None)(
            ws.sm.describe_endpoint(EndpointName=name).get("PendingDeploymentSummary", {}).get(
                "ProductionVariants", [{}])[0].get("VariantStatus")), 30, 0.05)
        assert baking and baking[0]["StatusMessage"].startswith("CANARY: 50% of the traffic on the new fleet")
        assert f"rollback alarms {name}-5xx" in baking[0]["StatusMessage"]
        shown = CliRunner().invoke(cli, ["--endpoint-url", fast.url, "--endpoint-name", name, "endpoint", "status"],
                                   env={"COLUMNS": "250"})
        assert shown.exit_code == 0, shown.output
        # the canary's share, or already all of it: the bake lasts two seconds on this clock
        assert re.search(rf"two-{ws.tag}: Baking \(CANARY: (50|100)% of the traffic on the new fleet", shown.stdout)
        assert re.search(rf"{name}-5xx (OK|INSUFFICIENT_DATA)", shown.stdout)  # the rollback alarm, its state
        described = _settled(ws.sm, name)
        during = traffic.answers[start:]
        assert wait_until(lambda: len(traffic.answers) > len(during) + start + 30, 20, 0.05)
    assert not [body for body in traffic.answers if body.startswith("error")]  # zero failed requests
    assert {"1", "2"} <= set(during)  # both fleets answered while the canary baked
    assert share_of(during[: len(during) // 2], "2") < 0.9  # the canary, not everything at once
    assert set(traffic.answers[-20:]) == {"2"}
    assert described["EndpointConfigName"] == f"two-{ws.tag}" and "FailureReason" not in described
    assert described["LastDeploymentConfig"]["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]["Type"] == \
        "CANARY"
    assert "PendingDeploymentSummary" not in described


def share_of(answers: list[str], value: str) -> float:
    return sum(1 for a in answers if a == value) / max(1, len(answers))


def test_a_broken_model_is_rolled_back_by_its_alarm_with_at_most_the_canary_failing(
        fast: LocalCloud, endpoint: tuple[Workspace, str]) -> None:
    ws, name = endpoint
    serving = ws.sm.describe_endpoint(EndpointName=name)["EndpointConfigName"]
    with Traffic(fast, name) as traffic:
        assert wait_until(lambda: len(traffic.answers) > 20, 20, 0.05)
        start = len(traffic.answers)
        ws.sm.update_endpoint(EndpointName=name, EndpointConfigName=f"broken-{ws.tag}",
                              DeploymentConfig=_canary(f"{name}-5xx", wait=600))
        described = _settled(ws.sm, name)
        end = len(traffic.answers)
        assert wait_until(lambda: len(traffic.answers) > end + 30, 20, 0.05)
    window = traffic.answers[start:end]
    failed = share_of(window, "error ModelError")
    assert 0 < failed <= 0.5 + 0.1  # the canary (1 of 2 instances) failed, nothing more
    assert described["EndpointConfigName"] == serving  # back on the old config
    assert "was rolled back" in described["FailureReason"] and f"{name}-5xx" in described["FailureReason"]
    assert set(traffic.answers[end:]) == {"2"}  # the old fleet serves everything again
    history = fast.client("cloudwatch").describe_alarm_history(AlarmName=f"{name}-5xx", HistoryItemType="StateUpdate")
    assert any('"stateValue": "ALARM"' in item["HistoryData"] for item in history["AlarmHistoryItems"])


def test_a_slow_model_is_rolled_back_by_a_p99_latency_alarm_on_the_new_fleet_alone(
        fast: LocalCloud, endpoint: tuple[Workspace, str]) -> None:
    """SageMaker publishes an updated fleet's metrics with its EndpointConfigName too; latency goes out as a
    distribution, so a p99 alarm on the new config's fleet sees the slow model and nothing of the old one."""
    ws, name = endpoint
    serving, slow = ws.sm.describe_endpoint(EndpointName=name)["EndpointConfigName"], f"slow-{ws.tag}"
    cloudwatch = fast.client("cloudwatch")
    alarm = f"{name}-new-fleet-latency"
    cloudwatch.put_metric_alarm(
        AlarmName=alarm, Namespace="AWS/SageMaker", MetricName="ModelLatency", ExtendedStatistic="p99",
        Dimensions=[{"Name": "EndpointName", "Value": name}, {"Name": "VariantName", "Value": "AllTraffic"},
                    {"Name": "EndpointConfigName", "Value": slow}],
        Period=60, EvaluationPeriods=1, Threshold=100_000, ComparisonOperator="GreaterThanThreshold",
        TreatMissingData="notBreaching")
    with Traffic(fast, name) as traffic:
        assert wait_until(lambda: len(traffic.answers) > 20, 20, 0.05)
        ws.sm.update_endpoint(EndpointName=name, EndpointConfigName=slow, DeploymentConfig=_canary(alarm, wait=600))
        described = _settled(ws.sm, name)
    assert described["EndpointConfigName"] == serving
    assert "was rolled back" in described["FailureReason"] and alarm in described["FailureReason"]
    assert "4" in traffic.answers and not [a for a in traffic.answers if a.startswith("error")]
    metrics = cloudwatch.list_metrics(Namespace="AWS/SageMaker", MetricName="ModelLatency", Dimensions=[
        {"Name": "EndpointConfigName", "Value": slow}])["Metrics"]
    assert metrics and all({d["Name"] for d in m["Dimensions"]} == {"EndpointName", "VariantName",
                                                                     "EndpointConfigName"} for m in metrics)
    old_fleet = cloudwatch.list_metrics(Namespace="AWS/SageMaker", MetricName="ModelLatency", Dimensions=[
        {"Name": "EndpointConfigName", "Value": f"one-{ws.tag}"}])["Metrics"]
    assert not old_fleet  # the fleet the endpoint was created with reports without it


def test_a_config_sagemaker_refuses_is_refused_at_the_call(endpoint: tuple[Workspace, str]) -> None:
    ws, name = endpoint
    config = _canary("x")
    config["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]["CanarySize"] = {"Type": "INSTANCE_COUNT",
                                                                                    "Value": 2}
    with pytest.raises(ClientError, match="at most 50%"):
        ws.sm.update_endpoint(EndpointName=name, EndpointConfigName=f"two-{ws.tag}", DeploymentConfig=config)
    assert ws.sm.describe_endpoint(EndpointName=name)["EndpointStatus"] == "InService"


def _two_variants(ws: Workspace, name: str, a: str, b: str, capture: str | None = None) -> str:
    """An InService endpoint `name` with variants A (model `a`) and B (model `b`), weighted equally."""
    extra: dict[str, Any] = {"DataCaptureConfig": {
        "EnableCapture": True, "InitialSamplingPercentage": 100, "DestinationS3Uri": capture,
        "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}]}} if capture else {}
    ws.sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[
        {"VariantName": variant, "ModelName": f"{model}-{ws.tag}", "InstanceType": "ml.m5.large",
         "InitialInstanceCount": 1, "InitialVariantWeight": 1.0} for variant, model in (("A", a), ("B", b))],
        **extra)
    ws.sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
    assert wait_until(lambda: ws.sm.describe_endpoint(EndpointName=name)["EndpointStatus"] == "InService", 120, 0.1)
    return name


def test_weights_change_the_live_split_between_two_variants(fast: LocalCloud, endpoint: tuple[Workspace, str]) -> None:
    """UpdateEndpointWeightsAndCapacities moves traffic at once (A/B tests shift weights this way)."""
    ws, _ = endpoint
    name = _two_variants(ws, f"ab-{ws.tag}", "one", "two")
    rt = fast.client("sagemaker-runtime")

    def answers(count: int) -> list[str]:
        return [rt.invoke_endpoint(EndpointName=name, ContentType="text/csv", Body=b"1")["InvokedProductionVariant"]
                for _ in range(count)]

    assert set(answers(60)) == {"A", "B"}

    def sagestack(*args: str) -> Any:
        return CliRunner().invoke(cli, ["--endpoint-url", fast.url, "--endpoint-name", name, "endpoint", *args],
                                  env={"COLUMNS": "250"})

    shifted = sagestack("weights", "B=0")
    assert shifted.exit_code == 0, shifted.output
    assert re.search(r"A\s+1\s+100%", shifted.stdout) and re.search(r"B\s+0\s+0%", shifted.stdout)
    assert set(answers(40)) == {"A"}
    for bad in ("B=-1", "B", "B=x", "=1"):
        refused = sagestack("weights", bad)
        assert refused.exit_code != 0 and "is not VARIANT=WEIGHT" in refused.output
    variants = {v["VariantName"]: v for v in ws.sm.describe_endpoint(EndpointName=name)["ProductionVariants"]}
    assert (variants["A"]["CurrentWeight"], variants["B"]["CurrentWeight"]) == (1.0, 0.0)
    assert variants["B"]["CurrentInstanceCount"] == 1  # not given: kept
    with pytest.raises(ClientError, match='"C" is/are not present'):
        ws.sm.update_endpoint_weights_and_capacities(EndpointName=name, DesiredWeightsAndCapacities=[
            {"VariantName": "C", "DesiredWeight": 1.0}])
    ws.sm.delete_endpoint(EndpointName=name)


def test_cloudformation_updates_an_endpoint_with_its_templates_deployment_config(
        fast: LocalCloud, endpoint: tuple[Workspace, str]) -> None:
    """A changed EndpointConfigName in a stack is a guarded update with the template's DeploymentConfig; an
    update SageMaker would refuse fails the stack update, which rolls back."""
    ws, _ = endpoint
    cf = fast.client("cloudformation")
    name, stack = f"cfn-{ws.tag}", f"guarded-{ws.tag}"

    def template(config: str, canary: int) -> str:
        return json.dumps({"Resources": {"Endpoint": {"Type": "AWS::SageMaker::Endpoint", "Properties": {
            "EndpointName": name, "EndpointConfigName": config, "DeploymentConfig": {
                "BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": {
                    "Type": "CANARY", "WaitIntervalInSeconds": 60,
                    "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": canary}}},
                "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": f"{name}-none"}]}}}}}})

    def settled() -> str:
        status = wait_until(lambda: (lambda s: s if not s.endswith("_IN_PROGRESS") else None)(
            cf.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"]), 120, 0.1)
        return str(status)

    cf.create_stack(StackName=stack, TemplateBody=template(f"one-{ws.tag}", 50))
    assert settled() == "CREATE_COMPLETE"
    cf.update_stack(StackName=stack, TemplateBody=template(f"two-{ws.tag}", 50))
    assert settled() == "UPDATE_COMPLETE"
    described = ws.sm.describe_endpoint(EndpointName=name)
    assert described["EndpointConfigName"] == f"two-{ws.tag}"
    assert described["LastDeploymentConfig"]["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"][
        "CanarySize"]["Value"] == 50
    cf.update_stack(StackName=stack, TemplateBody=template(f"one-{ws.tag}", 80))
    assert settled() == "UPDATE_ROLLBACK_COMPLETE"
    events = cf.describe_stack_events(StackName=stack)["StackEvents"]
    assert any("at most 50%" in e.get("ResourceStatusReason", "") for e in events)
    assert ws.sm.describe_endpoint(EndpointName=name)["EndpointConfigName"] == f"two-{ws.tag}"
    cf.delete_stack(StackName=stack)


def test_compare_finds_a_challenger_that_fails_more(fast: LocalCloud, endpoint: tuple[Workspace, str]) -> None:
    """`sagestack endpoint compare`: per-variant traffic and errors from CloudWatch, and the z-test's verdict."""
    ws, _ = endpoint
    name = _two_variants(ws, f"compare-{ws.tag}", "one", "broken")
    rt = fast.client("sagemaker-runtime", config=Config(retries={"max_attempts": 1}))
    for variant in ("A", "B"):
        for _ in range(30):
            with contextlib.suppress(ClientError):  # B fails every request: what the comparison must see
                rt.invoke_endpoint(EndpointName=name, ContentType="text/csv", Body=b"1", TargetVariant=variant)
    options = ["--endpoint-url", fast.url, "--endpoint-name", name, "endpoint", "compare", "A", "B"]

    def compared() -> str | None:
        shown = CliRunner().invoke(cli, options, env={"COLUMNS": "250"})
        assert shown.exit_code == 0, shown.output
        return shown.stdout if re.search(r"B\s+30\s+30\s+100\.00%", shown.stdout) else None

    text = wait_until(compared, 20, 0.2)  # the metrics reach CloudWatch within a (scaled) minute
    assert text, "the comparison never saw all the traffic"
    assert re.search(r"A\s+30\s+0\s+0\.00%", str(text))
    assert "the error rates differ" in str(text) and "B fails more" in str(text)
    unknown = CliRunner().invoke(cli, [*options[:-2], "A", "C"], env={"COLUMNS": "250"})
    assert unknown.exit_code == 1 and "has no variant C (it has: A, B)" in unknown.output
    ws.sm.delete_endpoint(EndpointName=name)


def test_compare_finds_the_less_accurate_variant_from_ground_truth(fast: LocalCloud,
                                                                  endpoint: tuple[Workspace, str]) -> None:
    """Model quality per variant: captured answers joined with labels by InferenceId, Welch's t-test."""
    ws, _ = endpoint
    name = _two_variants(ws, f"quality-{ws.tag}", "one", "two", capture=ws.uri("capture"))
    rt = fast.client("sagemaker-runtime")
    labels = []
    for variant in ("A", "B"):
        for n in range(20):
            rt.invoke_endpoint(EndpointName=name, ContentType="text/csv", Body=b"1", TargetVariant=variant,
                               InferenceId=f"{variant}-{n}")
            truth = 1.0 + 0.05 * (n % 5 - 2)  # A answers 1 (off by 0.06 on average), B answers 2 (off by 1)
            labels.append(json.dumps({"groundTruthData": {"data": f"{truth}", "encoding": "CSV"},
                                      "eventMetadata": {"eventId": f"{variant}-{n}"}, "eventVersion": "0"}))
    ws.put(f"truth/{datetime.now(UTC):%Y/%m/%d/%H}/labels.jsonl", "\n".join(labels).encode())
    captured = wait_until(lambda: sum(o["Size"] > 0 for o in ws.s3.list_objects_v2(
        Bucket=ws.bucket, Prefix=f"capture/{name}/").get("Contents", [])) >= 2, 20, 0.2)
    assert captured, "both variants' requests were not captured"
    options = ["--endpoint-url", fast.url, "--endpoint-name", name, "endpoint", "compare", "A", "B",
               "--ground-truth", ws.uri("truth")]

    def compared() -> str | None:
        shown = CliRunner().invoke(cli, options, env={"COLUMNS": "250"})
        assert shown.exit_code == 0, shown.output
        return shown.stdout if re.search(r"B\s+20\s+1(\.0+)?\s", shown.stdout) else None

    text = wait_until(compared, 20, 0.3)
    assert text, CliRunner().invoke(cli, options, env={"COLUMNS": "250"}).output
    assert re.search(r"A\s+20\s+0\.06(0+)?\s+0\.0707", str(text)), text
    assert "the accuracy differs" in str(text) and "B is less accurate" in str(text)
    ws.sm.delete_endpoint(EndpointName=name)
