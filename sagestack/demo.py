"""`make demo`: the whole lifecycle on this machine, through the same commands a person types.

localcloud starts -> `sagestack deploy` deploys the stack with the CDK CLI (buckets, KMS,
roles, pipeline, registry, alarms, alerts, rules) -> a month of TLC-schema trips goes to the
stack's data bucket -> `pipeline start` runs the stack's pipeline (preprocess, train,
evaluate, baseline, quality gate, register) -> `model approve`: the stack's rule and function
deploy the approved package through the stack -> live traffic through sagemaker-runtime ->
predictions, CloudWatch metrics and data capture are read back -> normal, then drifted traffic
with ground truth: the monitors, alarms, alerts and the retraining run they start -> the
retrained model is approved and goes out as a canary -> a release that fails every request is
approved under traffic and rolled back by the 5XX alarm -> artifacts and logs are copied out and
an HTML report is written. It leaves nothing running, also when interrupted.

Every phase is timed; `run()` returns the timings so bench/demo.py can print them.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import shutil
import signal
import sys
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from localcloud.launcher import LocalCloud

ROOT = Path(__file__).resolve().parents[1]
console = Console(highlight=False)

OUTPUTS = ("localcloud", "localcloud.log", "artifacts", "model", "report.html")
"""What of a demo's output other tools use (docker-compose.yml mounts the model); the generated data is there too."""
MODEL_DIR = "model"
TRIPS = 30_000
"""One generated month (the real January 2024 file has ~3M trips; this keeps the demo quick)."""
HYPERPARAMETERS = ("MaxIter=100", "LearningRate=0.15")


@dataclass
class Timings:
    phases: list[tuple[str, float]] = field(default_factory=list)

    @contextlib.contextmanager
    def phase(self, title: str) -> Iterator[None]:
        console.rule(f"[bold]{len(self.phases) + 1}. {title}")
        started = time.perf_counter()
        try:
            yield
        finally:
            took = time.perf_counter() - started
            self.phases.append((title, took))
            console.print(f"[dim]{title}: {took:.1f} s[/]")

    @property
    def total(self) -> float:
        return sum(t for _, t in self.phases)


def sagestack(url: str, *args: str) -> None:
    """Run one `sagestack` command in this process, exactly as typed on a shell."""
    import click

    from sagestack.cli import cli

    console.print(f"[bold cyan]$ sagestack {' '.join(args)}[/]")
    try:
        # standalone_mode=False: click raises errors, and *returns* the code of an Exit
        code = cli.main(["--endpoint-url", url, *args], prog_name="sagestack", standalone_mode=False)
    except click.Abort:  # click's form of KeyboardInterrupt
        raise KeyboardInterrupt from None
    except click.ClickException as e:
        raise DemoError(f"`sagestack {' '.join(args)}` failed: {e.format_message()}") from None
    if code == 130:  # the command saw Ctrl-C and stopped following; so do we
        raise KeyboardInterrupt
    if code:
        raise DemoError(f"`sagestack {' '.join(args)}` exited with {code}")


class DemoError(RuntimeError):
    pass


def _outputs(cloudformation: Any) -> dict[str, str]:
    from sagestack.settings import LOCAL_STAGE, describe_stack, stack_name

    return describe_stack(cloudformation, stack_name(LOCAL_STAGE)).outputs or {}


def run(out: Path) -> Timings:
    from infra import outputs as keys
    from infra.config import stage
    from sagestack import demo_monitoring, demo_releases
    from sagestack.settings import LOCAL_STAGE
    from training.datagen import generate_month

    timings = Timings()
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    cloud: LocalCloud | None = None
    try:
        with timings.phase("start localcloud"):
            cloud = LocalCloud.start(out / "localcloud", log_path=out / "localcloud.log",
                                     args=["--time-scale", str(demo_monitoring.TIME_SCALE)])
            console.print(f"localcloud on {cloud.url} (pid {cloud.pid}; data and job folders in {out / 'localcloud'})")
        s3, sm, rt, cw, cf = (cloud.client(n) for n in ("s3", "sagemaker", "sagemaker-runtime", "cloudwatch",
                                                         "cloudformation"))

        with timings.phase("deploy the stack with the CDK CLI"):
            sagestack(cloud.url, "deploy")
            stack = _outputs(cf)

        with timings.phase("generate a month of trips and upload it"):
            raw = out / "yellow_tripdata_2024-01.parquet"
            generate_month(2024, 1, TRIPS, seed=7).to_parquet(raw, index=False)
            bucket, _, key = stack[keys.INPUT_DATA_URI].removeprefix("s3://").partition("/")
            s3.upload_file(str(raw), bucket, f"{key}{raw.name}")
            console.print(f"{TRIPS:,} trips -> {stack[keys.INPUT_DATA_URI]}{raw.name} (the pipeline's default input)")

        with timings.phase("run the pipeline"):
            sagestack(cloud.url, "pipeline", "start", "--poll", "0.5", *(x for p in HYPERPARAMETERS for x in ("-p", p)))

        with timings.phase("approve the model: the stack deploys it"):
            sagestack(cloud.url, "model", "list")
            sagestack(cloud.url, "model", "approve", "latest", "-m", "approved by make demo")

        endpoint = stack[keys.ENDPOINT_NAME]
        with timings.phase("send traffic"):
            rows, actual = _test_rows(s3, sm, stack[keys.PIPELINE_NAME])
            sagestack(cloud.url, "endpoint", "invoke", "--body", rows[0])
            predictions = []
            for row in rows:
                reply = rt.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv", Accept="text/csv",
                                           Body=row.encode())
                predictions.append(float(reply["Body"].read()))
            batch = rt.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv", Accept="application/json",
                                       Body="\n".join(rows).encode())
            batched = json.loads(batch["Body"].read())["predictions"]
            _show_predictions(rows, actual, predictions, batched)

        with timings.phase("read back metrics and data capture"):
            _show_metrics(cw, endpoint, len(rows) + 2)
            capture_bucket, capture_prefix = stack[keys.CAPTURE_BUCKET], f"data-capture/{endpoint}/"
            captured = _wait(lambda: [o["Key"] for o in s3.list_objects_v2(
                Bucket=capture_bucket, Prefix=capture_prefix).get("Contents", [])], 15)
            console.print(f"data capture: {len(captured)} JSONL file(s) under s3://{capture_bucket}/{capture_prefix}")

        config = stage(LOCAL_STAGE)

        def fresh_data() -> None:
            """A drifted month lands where the pipeline reads: what the retraining run learns from."""
            drifted = out / "yellow_tripdata_2024-02-drifted.parquet"
            generate_month(2024, 2, TRIPS, seed=8, drift=1.0).to_parquet(drifted, index=False)
            bucket, _, key = stack[keys.INPUT_DATA_URI].removeprefix("s3://").partition("/")
            s3.upload_file(str(drifted), bucket, f"{key}{drifted.name}")

        demo_monitoring.run(console, lambda *a: sagestack(cloud.url, *a), timings.phase,
                            {"sagemaker": sm, "sagemaker-runtime": rt, "cloudwatch": cw, "s3": s3}, endpoint,
                            (config.data_quality_schedule, config.model_quality_schedule),
                            (f"{config.prefix}-data-drift", f"{config.prefix}-model-quality-rmse"),
                            stack[keys.PIPELINE_NAME], stack[keys.GROUND_TRUTH_URI], fresh_data)

        with timings.phase("approve the retrained model: a canary deployment"):
            sagestack(cloud.url, "model", "approve", "latest", "-m", "retrained on the drifted month")

        with timings.phase("a release that fails every request: automatic rollback"):
            version = demo_releases.register_failing_release(sm, s3, stack[keys.MODEL_PACKAGE_GROUP])
            console.print(f"version {version}: the current model with serving code that fails every request")
            with demo_releases.SteadyTraffic(rt, endpoint, rows[0]) as traffic:
                try:
                    sagestack(cloud.url, "model", "approve", version, "-m", "a bad build, approved by mistake")
                except DemoError as e:
                    console.print(f"[yellow]{e}[/]")
                else:
                    raise DemoError(f"version {version} fails every request, yet it was not rolled back")
            console.print(f"steady traffic meanwhile: {traffic.answered} requests answered, {traffic.failed} failed "
                          f"(the canary's share, until the 5XX alarm fired)")
            sagestack(cloud.url, "endpoint", "status")

        with timings.phase("copy artifacts out, write the report"):
            sample = f"s3://{capture_bucket}/{captured[0]}" if captured else None
            _copy_artifacts(s3, sm, stack[keys.MODEL_PACKAGE_GROUP], out, sample)
            sagestack(cloud.url, "report", "--output", str(out / "report.html"))
            console.print(f"open {_shown(out / 'report.html')} in a browser: runs, models, drift and quality plots, "
                          f"the alarm timeline and the alerts")
    except KeyboardInterrupt:
        console.print("[yellow]interrupted: stopping localcloud and everything it started[/]")
        raise
    finally:
        if cloud is not None:
            cloud.stop()
            console.print("localcloud stopped; nothing left running")
    _summary(timings)
    return timings


def _wait(fn: Any, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.25)


def _test_rows(s3: Any, sm: Any, pipeline: str, count: int = 50) -> tuple[list[str], list[float]]:
    """Held-out rows of the latest run's test split: the features to send, and the true durations."""
    latest = sm.list_pipeline_executions(PipelineName=pipeline)["PipelineExecutionSummaries"][0]
    steps = sm.list_pipeline_execution_steps(PipelineExecutionArn=latest["PipelineExecutionArn"])[
        "PipelineExecutionSteps"]
    job = next(s for s in steps if s["StepName"] == "Preprocess")["Metadata"]["ProcessingJob"]["Arn"].split("/")[-1]
    outputs = sm.describe_processing_job(ProcessingJobName=job)["ProcessingOutputConfig"]["Outputs"]
    uri = next(o for o in outputs if o["OutputName"] == "test")["S3Output"]["S3Uri"].rstrip("/") + "/test.csv"
    b, _, key = uri.removeprefix("s3://").partition("/")
    every = s3.get_object(Bucket=b, Key=key)["Body"].read().decode().splitlines()
    lines = every[::max(1, len(every) // count)][:count]  # spread over the month, like real traffic
    return [line.split(",", 1)[1] for line in lines], [float(line.split(",", 1)[0]) for line in lines]


def _show_predictions(rows: list[str], actual: list[float], predictions: list[float], batched: list[float]) -> None:
    table = Table("trip_distance", "PU zone", "DO zone", "hour", "actual min", "predicted min",
                  title=f"predictions from the endpoint ({len(rows)} single-row requests, first 8 shown)")
    for row, truth, predicted in list(zip(rows, actual, predictions, strict=True))[:8]:
        f = row.split(",")
        table.add_row(f"{float(f[0]):.2f}", f[1], f[2], f[4], f"{truth:.1f}", f"{predicted:.1f}")
    console.print(table)
    mae = sum(abs(p - a) for p, a in zip(predictions, actual, strict=True)) / len(actual)
    same = all(abs(a - b) < 1e-9 for a, b in zip(predictions, batched, strict=True))
    console.print(f"mean absolute error on these {len(rows)} held-out trips: {mae:.2f} min; "
                  f"one batched request gave {'the same' if same else 'DIFFERENT'} predictions")


def _show_metrics(cw: Any, endpoint: str, expected: int) -> None:
    dims = [{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": "AllTraffic"}]

    def stat(metric: str, statistic: str) -> float | None:
        now = time.time()
        points = cw.get_metric_statistics(Namespace="AWS/SageMaker", MetricName=metric, Dimensions=dims,
                                          StartTime=now - 3600, EndTime=now + 60, Period=3600,
                                          Statistics=[statistic])["Datapoints"]
        return points[0][statistic] if points else None

    _wait(lambda: (stat("Invocations", "Sum") or 0) >= expected, 15)
    table = Table("metric (AWS/SageMaker)", "statistic", "value", title=f"CloudWatch, endpoint {endpoint}")
    for metric, statistic, unit in (("Invocations", "Sum", ""), ("Invocation4XXErrors", "Sum", ""),
                                    ("Invocation5XXErrors", "Sum", ""), ("ModelLatency", "Average", " µs"),
                                    ("OverheadLatency", "Average", " µs")):
        value = stat(metric, statistic)
        table.add_row(metric, statistic, "-" if value is None else f"{value:,.0f}{unit}")
    console.print(table)


def _copy_artifacts(s3: Any, sm: Any, group: str, out: Path, capture_sample: str | None) -> None:
    package = sm.list_model_packages(ModelPackageGroupName=group)["ModelPackageSummaryList"][0]
    described = sm.describe_model_package(ModelPackageName=package["ModelPackageArn"])
    artifacts = out / "artifacts"
    wanted = {
        "model.tar.gz": described["InferenceSpecification"]["Containers"][0]["ModelDataUrl"],
        "evaluation.json": described["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"],
        "statistics.json": described["DriftCheckBaselines"]["ModelDataQuality"]["Statistics"]["S3Uri"],
        "constraints.json": described["DriftCheckBaselines"]["ModelDataQuality"]["Constraints"]["S3Uri"],
    }
    if capture_sample:
        wanted["data-capture-sample.jsonl"] = capture_sample
    artifacts.mkdir(parents=True, exist_ok=True)
    console.print("[bold]where things are[/]")
    for name, uri in wanted.items():
        b, _, key = uri.removeprefix("s3://").partition("/")
        s3.download_file(b, key, str(artifacts / name))
        console.print(f"  {_shown(artifacts / name)}  (from {uri})")
    for log in sorted((out / "localcloud" / "jobs").glob("*/job.log")):
        console.print(f"  {_shown(log)}  (also in CloudWatch Logs /aws/sagemaker/{{Processing,Training}}Jobs)")
    console.print(f"  {_shown(out / 'localcloud.log')}  (localcloud's own log)")
    model = out / MODEL_DIR  # the served model, unpacked as SageMaker mounts it (docker-compose's model service)
    model.mkdir(exist_ok=True)
    with tarfile.open(artifacts / "model.tar.gz") as archive:
        archive.extractall(model, filter="data")  # refuses absolute paths, `..` and links out of the folder
    console.print(f"  {_shown(model)}/  (model.tar.gz unpacked: what `docker compose up model` serves)")
    report = json.loads((artifacts / "evaluation.json").read_text())["regression_metrics"]
    console.print("registered model quality: " + ", ".join(f"{k} {v['value']:.3f}" for k, v in report.items()))
    _show_runtimes(out / "localcloud")


_RUNTIME_LINE = re.compile(r"runs on the local (\S+) runtime \S+: (.+)$")


def _show_runtimes(data: Path) -> None:
    """Which image runtime the jobs and the model server ran on, as their logs say (the image's versions)."""
    seen: dict[str, set[str]] = {}
    for kind, pattern in (("jobs", "jobs/*/job.log"), ("model server", "endpoints/**/server.log")):
        for log in data.glob(pattern):
            with log.open(errors="replace") as lines:
                found = next((m for line in itertools.islice(lines, 20) if (m := _RUNTIME_LINE.search(line))), None)
            if found:
                seen.setdefault(f"{found.group(1)} runtime: {found.group(2)}", set()).add(kind)
    for runtime, kinds in sorted(seen.items()):
        console.print(f"{' and '.join(sorted(kinds))} ran on the {runtime}")


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def _summary(timings: Timings) -> None:
    table = Table("phase", "seconds", title=f"make demo: {timings.total:.1f} s in all")
    for title, took in timings.phases:
        table.add_row(title, f"{took:.1f}")
    console.print(table)


def main() -> None:
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # a kill cleans up like Ctrl-C
    try:
        run(Path(os.environ.get("SAGESTACK_DEMO_OUTPUT", ROOT / "demo-output")))
    except DemoError as e:
        console.print(f"[red]error:[/] {e}")
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
