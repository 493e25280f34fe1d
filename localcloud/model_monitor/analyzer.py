"""`python -m localcloud.model_monitor`: localcloud's stand-in for Model Monitor's built-in analyzer.

On AWS a monitoring schedule runs a processing job on the `sagemaker-model-monitor-analyzer` image;
localcloud maps that image to this program, which honours the same contract: the job's
environment names the captured data, the baseline and the output folder; it writes
`statistics.json` and `constraint_violations.json` there, publishes the per-feature metrics to
CloudWatch (`aws/sagemaker/Endpoints/data-metrics`, dimensions Endpoint and MonitoringSchedule)
when asked, and ends the job the way the analyzer does: "Completed", "CompletedWithViolations:
..." in the exit message, or failed with the reason ("Job inputs had no data"). With
`analysis_type=MODEL_QUALITY` it merges the window's predictions with the ground truth under
`groundtruth_source` (localcloud's name: on AWS a separate merge job does this) and publishes the
regression metrics to `aws/sagemaker/Endpoints/model-metrics`.

It knows nothing about any model or dataset: features are whatever the baseline lists.
"""

from __future__ import annotations

import json
import math
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from localcloud.model_monitor import model_quality
from localcloud.model_monitor.capture import Capture, CaptureError, csv_columns, read_capture, read_ground_truth
from localcloud.model_monitor.data_quality import analyse

__all__ = ["main"]

DATA_METRICS = "aws/sagemaker/Endpoints/data-metrics"
_CONTAINER_INPUT = "/opt/ml/processing/input/endpoint"
_CONTAINER_OUTPUT = "/opt/ml/processing/resultdata"


def _setting(name: str, default: str | None = None) -> str | None:
    """One of the contract's variables (the analyzer's are lower-case: dataset_source, output_path, ...)."""
    return os.environ.get(name, default)


class AnalyzerError(Exception):
    """The analysis cannot run; the message becomes the job's failure reason."""


def _load(variable: str) -> dict[str, Any] | None:
    path = _setting(variable)
    if not path:
        return None
    try:
        return dict(json.loads(Path(path).read_text()))
    except FileNotFoundError:
        raise AnalyzerError(f"{variable} names {path}, which does not exist") from None
    except (ValueError, TypeError) as e:
        raise AnalyzerError(f"{variable} names {path}, which is not a JSON object: {e}") from None


def _capture_index() -> str:
    """endpointInput (default) or endpointOutput, from dataset_format's sagemakerCaptureJson."""
    try:
        fmt = json.loads(_setting("dataset_format") or "{}")
    except ValueError:
        raise AnalyzerError(f"dataset_format is not JSON: {_setting('dataset_format')!r}") from None
    names = ((fmt or {}).get("sagemakerCaptureJson") or {}).get("captureIndexNames") or ["endpointInput"]
    return str(names[0])


def _publish(metrics: dict[str, dict[str, float]], when: datetime) -> None:
    import boto3

    dims = _dimensions()
    data: list[dict[str, Any]] = []
    for name, values in metrics.items():
        data.append({"MetricName": f"feature_baseline_drift_{name}", "Dimensions": dims, "Timestamp": when,
                     "Value": values["drift"]})
        data.append({"MetricName": f"feature_non_null_{name}", "Dimensions": dims, "Timestamp": when,
                     "Value": values["completeness"]})
        if values["count"]:
            data.append({"MetricName": f"feature_data_{name}", "Dimensions": dims, "Timestamp": when,
                         "StatisticValues": {"SampleCount": values["count"], "Sum": values["sum"],
                                             "Minimum": values["min"], "Maximum": values["max"]}})
    client = boto3.client("cloudwatch")
    for start in range(0, len(data), 500):
        client.put_metric_data(Namespace=DATA_METRICS, MetricData=data[start:start + 500])


def _time(variable: str) -> datetime | None:
    text = _setting(variable)
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        raise AnalyzerError(f"{variable} is not an ISO 8601 time: {text!r}") from None


def _window() -> tuple[float, float] | None:
    """[start_time, end_time) as epoch seconds, when the job gives both (a schedule's analysis window)."""
    start, end = _time("start_time"), _time("end_time")
    return (start.timestamp(), end.timestamp()) if start and end else None


def _when() -> datetime:
    """The metrics' timestamp: metric_time, else end_time, else now."""
    return _time("metric_time") or _time("end_time") or datetime.now(UTC)


MODEL_METRICS = "aws/sagemaker/Endpoints/model-metrics"
_CONTAINER_GROUND_TRUTH = "/opt/ml/processing/groundtruth"


def _dimensions() -> list[dict[str, str]]:
    return [{"Name": "Endpoint", "Value": _setting("sagemaker_endpoint_name", "") or ""},
            {"Name": "MonitoringSchedule", "Value": _setting("sagemaker_monitoring_schedule_name", "") or ""}]


def _ended(violations: int) -> str:
    if violations:
        return f"CompletedWithViolations: Job completed successfully with {violations} violations."
    return "Completed: Job completed successfully with no violations."


def run_model_quality(capture: Capture, output: Path, when: datetime) -> str:
    """Regression quality of the window: predictions merged with the uploaded ground truth."""
    problem = _setting("problem_type", "Regression")
    if problem != "Regression":
        raise AnalyzerError(f"problem_type {problem} is not analysed by localcloud (Regression is)")
    truth_ids, truth_labels, problems = read_ground_truth(Path(_setting("groundtruth_source") or
                                                               _CONTAINER_GROUND_TRUTH))
    for problem_line in problems:
        print(problem_line, flush=True)
    try:
        column = int(_setting("inference_attribute") or 0)
    except ValueError:
        raise AnalyzerError(f"inference_attribute must be a column index, not {_setting('inference_attribute')!r}"
                            ) from None
    merged = model_quality.merge(capture.event_ids, capture.inference_ids, capture.outputs, truth_ids, truth_labels,
                                 column)
    print(f"merged {len(merged.labels)} predictions with ground truth; {merged.unlabelled} without a label yet, "
          f"{merged.unknown} labels for no captured prediction, {merged.unreadable} not numbers", flush=True)
    if len(merged.labels) == 0 and merged.unreadable:
        raise AnalyzerError(f"Job inputs had no data: {merged.unreadable} labelled predictions, but no prediction or "
                            f"label is a number (the prediction is column {column} of the endpoint's CSV answer: "
                            f"callers must ask for text/csv)")
    if len(merged.labels) == 0:
        raise AnalyzerError(f"Job inputs had no data: no ground truth matched the window's {len(capture)} captured "
                            f"predictions ({len(truth_ids)} labels read)")
    metrics = model_quality.regression_metrics(merged.predictions, merged.labels)
    constraints = _load("baseline_constraints") or {}
    found = model_quality.violations(metrics, constraints)
    output.mkdir(parents=True, exist_ok=True)
    (output / "statistics.json").write_text(json.dumps({
        "version": 0.0, "dataset": {"item_count": len(merged.labels), "evaluation_time": when.isoformat()},
        "regression_metrics": metrics}, indent=1))
    (output / "constraint_violations.json").write_text(json.dumps({"violations": [v.as_json() for v in found]},
                                                                   indent=1))
    for violation in found:
        print(f"violation: {violation.description}", flush=True)
    if _setting("publish_cloudwatch_metrics", "Enabled") == "Enabled":
        import boto3

        finite = {name: values["value"] for name, values in metrics.items()
                  if isinstance(values["value"], float) and math.isfinite(values["value"])}
        boto3.client("cloudwatch").put_metric_data(Namespace=MODEL_METRICS, MetricData=[
            {"MetricName": name, "Dimensions": _dimensions(), "Timestamp": when, "Value": value}
            for name, value in finite.items()])
    return _ended(len(found))


def run() -> str:
    """The analysis; returns the job's exit message."""
    source = Path(_setting("dataset_source") or _CONTAINER_INPUT)
    output = Path(_setting("output_path") or _CONTAINER_OUTPUT)
    statistics = _load("baseline_statistics")
    constraints = _load("baseline_constraints") or {}
    when = _when()
    capture = read_capture(source) if source.is_dir() else None
    window = _window()
    if capture is not None and window is not None:
        capture = capture.within(*window)
    if capture is None or len(capture) == 0:
        raise AnalyzerError("Job inputs had no data")
    if _setting("analysis_type") == "MODEL_QUALITY":
        return run_model_quality(capture, output, when)
    index = _capture_index()
    payloads, encodings = ((capture.inputs, capture.input_encodings) if index == "endpointInput"
                           else (capture.outputs, capture.output_encodings))
    table, skipped = csv_columns(payloads, encodings, capture.problems)
    for problem in capture.problems:  # the files' and the rows' (after csv_columns added its own)
        print(problem, flush=True)
    print(f"analysed {table.num_rows} records from {len(capture)} captured requests ({index}); "
          f"{capture.skipped + skipped} skipped", flush=True)
    if table.num_rows == 0:
        raise AnalyzerError("Job inputs had no data")
    if statistics is None:  # no baseline: describe the window with unnamed features
        statistics = {"features": [{"name": name} for name in table.column_names]}
    result, violations, metrics = analyse(table, statistics, constraints, table.num_rows)
    output.mkdir(parents=True, exist_ok=True)
    (output / "statistics.json").write_text(json.dumps(result, indent=1))
    (output / "constraint_violations.json").write_text(
        json.dumps({"violations": [v.as_json() for v in violations]}, indent=1))
    for violation in violations:
        print(f"violation: {violation.feature_name}: {violation.constraint_check_type}: {violation.description}")
    if _setting("publish_cloudwatch_metrics", "Enabled") == "Enabled":
        _publish(metrics, when)
    return _ended(len(violations))


def _write_message(name: str, text: str) -> None:
    """/opt/ml/output/<name> (or under SM_OUTPUT_DIR): what the job reports as its exit message or failure."""
    chosen = os.environ.get("SM_OUTPUT_DIR")
    folder = Path(chosen or "/opt/ml/output")
    if chosen or folder.parent.is_dir():
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)


def main() -> int:
    try:
        message = run()
    except (AnalyzerError, CaptureError) as e:
        print(f"Error: {e}", file=sys.stderr, flush=True)
        _write_message("message", str(e))  # the analyzer's own message
        _write_message("failure", str(e))  # the job's FailureReason
        return 255
    print(message, flush=True)
    _write_message("message", message)
    return 0
