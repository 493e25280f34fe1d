"""Guarded endpoint updates on the fast clock, measured: a canary that succeeds, one that rolls back.

    .venv/bin/python bench/deployments.py

localcloud runs on the demo's clock (`--time-scale`, sagestack.demo_monitoring.TIME_SCALE). The
endpoint has two instances and serves a small model; the update is CANARY (one instance's share),
baking 60 s (a twelfth of a second at 720x) after each step, with a one-minute 5XX alarm as the
rollback alarm, under steady traffic.

Targets: a canary deployment completes in <= 15 s; a rollback ends (the old config InService
again) <= 10 s after the alarm fired. A benchmark, not a test: it prints the figures.
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from localcloud.launcher import LocalCloud
from sagestack.demo_monitoring import TIME_SCALE

ROOT = Path(__file__).resolve().parents[1]

sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "localcloud")]  # the tests' models and helpers
from lc_fixtures import ANSWERING_SERVE, ROLE, SKLEARN_IMAGE, tarball  # noqa: E402
from support import wait_until  # noqa: E402


def _wait(condition: Any, timeout: float) -> Any:
    found = wait_until(condition, timeout, 0.02)
    if not found:
        raise TimeoutError("did not happen in time")
    return found


def _alarmed_at(cw: Any, alarm: str) -> datetime | None:
    """When the alarm last went into ALARM, from its history."""
    items = cw.describe_alarm_history(AlarmName=alarm, HistoryItemType="StateUpdate")["AlarmHistoryItems"]
    times = [i["Timestamp"] for i in items if '"stateValue": "ALARM"' in i["HistoryData"].split("newState")[-1]]
    return max(times) if times else None


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="bench-deployments-") as folder, LocalCloud.start(
            Path(folder) / "localcloud", args=["--time-scale", str(TIME_SCALE)]) as cloud:
        sm, s3, cw = cloud.client("sagemaker"), cloud.client("s3"), cloud.client("cloudwatch")
        tag = uuid.uuid4().hex[:6]
        bucket = f"bench-{tag}"
        s3.create_bucket(Bucket=bucket)
        s3.put_object(Bucket=bucket, Key="serve.tar.gz", Body=tarball({"serve.py": ANSWERING_SERVE.encode()}))
        for name, env in (("one", {"ANSWER": "1"}), ("two", {"ANSWER": "2"}), ("broken", {"ANSWER": "3",
                                                                                          "BROKEN": "1"})):
            sm.create_model(ModelName=f"{name}-{tag}", ExecutionRoleArn=ROLE, PrimaryContainer={
                "Image": SKLEARN_IMAGE, "Environment": {"SAGEMAKER_PROGRAM": "serve.py",
                                                "SAGEMAKER_SUBMIT_DIRECTORY": f"s3://{bucket}/serve.tar.gz", **env}})
            sm.create_endpoint_config(EndpointConfigName=f"{name}-{tag}", ProductionVariants=[{
                "VariantName": "AllTraffic", "ModelName": f"{name}-{tag}", "InstanceType": "ml.m5.large",
                "InitialInstanceCount": 2}])
        endpoint = f"bench-{tag}"
        sm.create_endpoint(EndpointName=endpoint, EndpointConfigName=f"one-{tag}")
        _wait(lambda: sm.describe_endpoint(EndpointName=endpoint)["EndpointStatus"] == "InService", 120)
        alarm = f"{endpoint}-5xx"
        cw.put_metric_alarm(AlarmName=alarm, Namespace="AWS/SageMaker", MetricName="Invocation5XXErrors",
                            Dimensions=[{"Name": "EndpointName", "Value": endpoint},
                                        {"Name": "VariantName", "Value": "AllTraffic"}],
                            Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=1,
                            ComparisonOperator="GreaterThanOrEqualToThreshold", TreatMissingData="notBreaching")
        config = {"BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": {
            "Type": "CANARY", "WaitIntervalInSeconds": 60, "CanarySize": {"Type": "INSTANCE_COUNT", "Value": 1}}},
            "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": alarm}]}}
        stop = threading.Event()
        runtime = cloud.client("sagemaker-runtime")

        def traffic() -> None:
            while not stop.is_set():
                with contextlib.suppress(Exception):  # the broken model's errors are the second update's point
                    runtime.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv", Body=b"1")

        worker = threading.Thread(target=traffic, daemon=True)
        worker.start()
        try:
            started = time.perf_counter()
            sm.update_endpoint(EndpointName=endpoint, EndpointConfigName=f"two-{tag}", DeploymentConfig=config)
            _wait(lambda: (lambda d: d["EndpointStatus"] == "InService" and d["EndpointConfigName"] == f"two-{tag}")(
                sm.describe_endpoint(EndpointName=endpoint)), 120)
            canary = time.perf_counter() - started
            sm.update_endpoint(EndpointName=endpoint, EndpointConfigName=f"broken-{tag}", DeploymentConfig={
                **config, "BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": {
                    **config["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"], "WaitIntervalInSeconds": 3600}}})
            fired = _wait(lambda: _alarmed_at(cw, alarm), 120)  # from the history: on this clock it is brief
            _wait(lambda: sm.describe_endpoint(EndpointName=endpoint)["EndpointStatus"] == "InService", 120)
            rolled_back = (datetime.now(UTC) - fired).total_seconds()
        finally:
            stop.set()
            worker.join(10)
    print(f"canary deployment (2 instances, canary 1, bake 60 s on a {TIME_SCALE}x clock): {canary:.1f} s  "
          f"[target <= 15 s: {'PASS' if canary <= 15 else 'MISS'}]")
    print(f"rollback after the 5XX alarm fired: {rolled_back:.1f} s  "
          f"[target <= 10 s: {'PASS' if rolled_back <= 10 else 'MISS'}]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
