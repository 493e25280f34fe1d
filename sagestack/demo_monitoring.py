"""The demo's second half: the endpoint is watched, drift is noticed, people are alerted, a model is retrained.

Everything here happens through the stack `cdk deploy` made, on localcloud's fast clock (the
demo starts it with `--time-scale`): the hourly data-quality schedule on the served package's
baseline, the drift alarm on what the monitor publishes, the alert topic and its queue, and the
EventBridge rule that starts the pipeline when the alarm fires. The demo only sends traffic and
watches, with the same `sagestack` commands a person would type.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from rich.console import Console

TIME_SCALE = 360
"""The demo's clock: an hour of monitoring schedule lasts 10 s, a 1-hour alarm period too."""
REQUESTS = 600


def traffic(drift: float, seed: int, count: int = REQUESTS) -> list[str]:
    """Feature rows (CSV, as the endpoint takes them) of freshly generated trips, drifted or not."""
    import tempfile
    from pathlib import Path

    from training.datagen import generate_month
    from training.preprocess import FEATURES, clean, featurise, read_file

    with tempfile.TemporaryDirectory(prefix="sagestack-traffic-") as folder:
        path = Path(folder) / "trips.parquet"  # through the pipeline's own reader and features
        generate_month(2024, 2, count * 2, seed=seed, drift=drift).to_parquet(path, index=False)
        frame, _dropped = clean(read_file(path))
    rows = featurise(frame)[FEATURES].head(count)
    return [",".join(f"{v:.10g}" for v in row) for row in rows.itertuples(index=False)]


def _send(runtime: Any, endpoint: str, rows: list[str]) -> None:
    for row in rows:
        runtime.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv", Accept="text/csv", Body=row.encode())


def _wait(what: str, fn: Callable[[], Any], timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(0.25)
    raise TimeoutError(f"{what} did not happen within {timeout:.0f} s")


def _execution_after(sm: Any, schedule: str, since: float) -> dict[str, Any] | None:
    """The first execution of `schedule` scheduled after `since` that analysed data (not 'no data')."""
    for summary in sm.list_monitoring_executions(MonitoringScheduleName=schedule)["MonitoringExecutionSummaries"]:
        if summary["ScheduledTime"].timestamp() < since:
            continue
        if summary["MonitoringExecutionStatus"] in ("Completed", "CompletedWithViolations"):
            return dict(summary)
    return None


def run(console: Console, sagestack: Callable[..., None], phase: Callable[[str], Any], clients: dict[str, Any],
        endpoint: str, schedule: str, pipeline: str, drift_alarm: str, fresh_data: Callable[[], None]) -> None:
    sm, runtime, cw = clients["sagemaker"], clients["sagemaker-runtime"], clients["cloudwatch"]
    with phase("normal traffic: the data-quality monitor finds nothing"):
        _send(runtime, endpoint, traffic(drift=0.0, seed=21))
        sent = time.time()
        console.print(f"{REQUESTS} requests like the training data; waiting for the hourly monitor "
                      f"(an hour lasts {3600 / TIME_SCALE:.0f} s on the demo's clock)")
        execution = _wait("a monitoring run over the normal traffic", lambda: _execution_after(sm, schedule, sent), 60)
        console.print(f"monitoring run {execution['ScheduledTime']:%H:%M:%S}: {execution['MonitoringExecutionStatus']}")
        _wait(f"alarm {drift_alarm} to be OK", lambda: cw.describe_alarms(AlarmNames=[drift_alarm])["MetricAlarms"][0][
            "StateValue"] == "OK", 60)
        console.print(f"alarm {drift_alarm}: OK")
    with phase("drifted traffic: drift noticed, alarm, alert, retraining"):
        before = {e["PipelineExecutionArn"] for e in sm.list_pipeline_executions(
            PipelineName=pipeline)["PipelineExecutionSummaries"]}
        _send(runtime, endpoint, traffic(drift=1.0, seed=22))
        sent = time.time()
        console.print(f"{REQUESTS} requests of drifted trips (longer, later, more airport runs)")
        fresh_data()
        execution = _wait("a monitoring run over the drifted traffic", lambda: _execution_after(sm, schedule, sent),
                          60)
        console.print(f"monitoring run {execution['ScheduledTime']:%H:%M:%S}: {execution['MonitoringExecutionStatus']}")
        _wait(f"alarm {drift_alarm}", lambda: cw.describe_alarms(AlarmNames=[drift_alarm])["MetricAlarms"][0][
            "StateValue"] == "ALARM", 60)
        sagestack("monitor")
        sagestack("alerts")
        started = _wait("a retraining run", lambda: [
            e for e in sm.list_pipeline_executions(PipelineName=pipeline)["PipelineExecutionSummaries"]
            if e["PipelineExecutionArn"] not in before], 30)
        run_id = started[0]["PipelineExecutionArn"].rsplit("/", 1)[-1]
        console.print(f"retraining started by the alarm: execution {run_id}")
        sagestack("pipeline", "steps", "latest", "--follow", "--poll", "0.5")
        sagestack("model", "list")
