"""The demo's second half: the endpoint is watched, drift is noticed, people are alerted, a model is retrained.

Everything here happens through the stack `cdk deploy` made, on localcloud's fast clock (the
demo starts it with `--time-scale`): the hourly data-quality schedule on the served package's
baseline, the drift alarm on what the monitor publishes, the alert topic and its queue, and the
EventBridge rule that starts the pipeline when the alarm fires. The demo only sends traffic,
uploads the trips' true durations as ground truth (as a labelling process would, in SageMaker's
ground-truth format, matched to the predictions by the InferenceId each request carried) and
watches, with the same `sagestack` commands a person would type.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any

from rich.console import Console

TIME_SCALE = 720
"""The demo's clock: an hour of monitoring schedule lasts 5 s, a 1-hour alarm period too."""
REQUESTS = 600


def traffic(drift: float, seed: int, count: int = REQUESTS) -> tuple[list[str], list[float]]:
    """Feature rows (CSV, as the endpoint takes them) of freshly generated trips, drifted or not, and
    the trips' true durations (the ground truth)."""
    import tempfile
    from pathlib import Path

    from training.datagen import generate_month
    from training.preprocess import FEATURES, TARGET, clean, featurise, read_file

    with tempfile.TemporaryDirectory(prefix="sagestack-traffic-") as folder:
        path = Path(folder) / "trips.parquet"  # through the pipeline's own reader and features
        generate_month(2024, 2, count * 2, seed=seed, drift=drift).to_parquet(path, index=False)
        frame, _dropped = clean(read_file(path))
    featured = featurise(frame).head(count)
    rows = [",".join(f"{v:.10g}" for v in row) for row in featured[FEATURES].itertuples(index=False)]
    return rows, [float(v) for v in featured[TARGET]]


def _send(runtime: Any, s3: Any, endpoint: str, ground_truth_uri: str, phase: str, drift: float, seed: int) -> None:
    """Send a phase's requests, each with an InferenceId, then upload their labels as ground truth.

    Labels go in the hour folder of when they were collected (now), as Model Monitor expects.
    """
    import json
    from datetime import UTC, datetime

    rows, durations = traffic(drift, seed)
    for n, row in enumerate(rows):
        runtime.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv", Accept="text/csv", Body=row.encode(),
                                InferenceId=f"{phase}-{n}")
    labels = "".join(json.dumps({"groundTruthData": {"data": f"{truth:.4f}", "encoding": "CSV"},
                                 "eventMetadata": {"eventId": f"{phase}-{n}"}, "eventVersion": "0"}) + "\n"
                     for n, truth in enumerate(durations))
    bucket, _, prefix = ground_truth_uri.removeprefix("s3://").partition("/")
    s3.put_object(Bucket=bucket, Key=f"{prefix}/{datetime.now(UTC):%Y/%m/%d/%H}/{phase}.jsonl", Body=labels.encode())


def _wait(what: str, fn: Callable[[], Any], timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(0.25)
    raise TimeoutError(f"{what} did not happen within {timeout:.0f} s")


def _in_state(cw: Any, name: str, state: str) -> bool:
    return bool(cw.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["StateValue"] == state)


def _execution_after(sm: Any, schedule: str, since: float) -> dict[str, Any] | None:
    """The first execution of `schedule` scheduled after `since` that analysed data (not 'no data')."""
    for summary in sm.list_monitoring_executions(MonitoringScheduleName=schedule)["MonitoringExecutionSummaries"]:
        if summary["ScheduledTime"].timestamp() < since:
            continue
        if summary["MonitoringExecutionStatus"] in ("Completed", "CompletedWithViolations"):
            return dict(summary)
    return None


def run(console: Console, sagestack: Callable[..., None], phase: Callable[[str], Any], clients: dict[str, Any],
        endpoint: str, schedules: tuple[str, str], alarms: tuple[str, str], pipeline: str, ground_truth_uri: str,
        fresh_data: Callable[[], None]) -> None:
    """Normal traffic (nothing found), then drifted traffic: drift and decay noticed, alerts, retraining."""
    sm, runtime, cw, s3 = clients["sagemaker"], clients["sagemaker-runtime"], clients["cloudwatch"], clients["s3"]

    def monitored(since: float) -> None:
        for schedule in schedules:
            execution = _wait(f"a run of {schedule} over the traffic",
                              functools.partial(_execution_after, sm, schedule, since), 60)
            console.print(f"{schedule} run {execution['ScheduledTime']:%H:%M:%S}: "
                          f"{execution['MonitoringExecutionStatus']}")

    with phase("normal traffic: the monitors find nothing"):
        _send(runtime, s3, endpoint, ground_truth_uri, "normal", drift=0.0, seed=21)
        sent = time.time()
        console.print(f"{REQUESTS} requests like the training data, and their ground truth; waiting for the hourly "
                      f"monitors (an hour lasts {3600 / TIME_SCALE:.0f} s on the demo's clock)")
        monitored(sent)
        for alarm in alarms:
            _wait(f"alarm {alarm} to be OK", functools.partial(_in_state, cw, alarm, "OK"), 60)
        console.print(f"alarms {' and '.join(alarms)}: OK")
    with phase("drifted traffic: drift and decay noticed, alarms, alerts, retraining"):
        before = {e["PipelineExecutionArn"] for e in sm.list_pipeline_executions(
            PipelineName=pipeline)["PipelineExecutionSummaries"]}
        _send(runtime, s3, endpoint, ground_truth_uri, "drifted", drift=1.0, seed=22)
        sent = time.time()
        console.print(f"{REQUESTS} requests of drifted trips (longer, later, more airport runs, slower traffic), "
                      f"and their ground truth")
        fresh_data()
        monitored(sent)
        for alarm in alarms:
            _wait(f"alarm {alarm}", functools.partial(_in_state, cw, alarm, "ALARM"), 60)
        sagestack("monitor")
        sagestack("alerts", "--keep")
        started = _wait("a retraining run", lambda: [
            e for e in sm.list_pipeline_executions(PipelineName=pipeline)["PipelineExecutionSummaries"]
            if e["PipelineExecutionArn"] not in before], 30)
        run_id = started[0]["PipelineExecutionArn"].rsplit("/", 1)[-1]
        console.print(f"retraining started by the alarms (one run: the rule watches drift OR decay): "
                      f"execution {run_id}")
        sagestack("pipeline", "steps", "latest", "--follow", "--poll", "0.5")
        sagestack("model", "list")
