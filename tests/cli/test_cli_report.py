"""`sagestack report`: the stack's lifecycle, read through the AWS API, on one HTML page opened in chromium.

The first test makes everything the report shows the way a person would: a pipeline run, an
approved model served by the stack (with its two monitors), traffic with ground truth, a
data-quality and a model-quality run over it, an alarm that fires and clears. Then it writes
the report and checks in a real browser that every plot was drawn, and keeps a screenshot.
"""

from __future__ import annotations

import io
import json
import re
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from browser import click, screenshot, severe_console_messages
from cli_support import Stack, invoke
from cli_support import console as cli_console
from support import LocalCloud, wait_until

from infra import outputs
from infra.config import stage
from sagestack.views import page
from sagestack.views.collect import AlarmChange, AlarmState, Alert, Monitor, PipelineRun, Snapshot
from sagestack.views.pipeline_graph import NOT_RUN, STATUS_COLOURS
from training.datagen import generate_month
from training.preprocess import FEATURES, TARGET, clean, featurise, read_file

FAST = ["-p", "MaxIter=15", "-p", "MaxLeafNodes=8"]
CONFIG = stage("local")


def _ok(args: list[str]) -> str:
    result = invoke(args)
    assert result.exit_code == 0, result.output[-3000:]
    return result.stdout


def _open(driver: Any, path: Path) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(path.as_uri())
    WebDriverWait(driver, 30).until(lambda d: d.find_element("tag name", "body").get_attribute("data-charts"))


def _traffic(tmp_path: Path, count: int = 200) -> tuple[list[str], list[float]]:
    path = tmp_path / "traffic.parquet"
    generate_month(2024, 2, count * 2, seed=5, drift=1.0).to_parquet(path, index=False)
    frame, _ = clean(read_file(path))
    featured = featurise(frame).head(count)
    return ([",".join(f"{v:.10g}" for v in row) for row in featured[FEATURES].itertuples(index=False)],
            [float(v) for v in featured[TARGET]])


def _captured(s3: Any, bucket: str, endpoint: str, marker: str) -> int:
    """How many captured records of `endpoint` carry an inference id starting with `marker`."""
    found = 0
    for listing in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"data-capture/{endpoint}/"):
        for item in listing.get("Contents", []):
            for line in s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read().decode().splitlines():
                found += str(json.loads(line)["eventMetadata"].get("inferenceId", "")).startswith(marker)
    return found


def _forget_capture(s3: Any, bucket: str, endpoint: str) -> None:
    for listing in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"data-capture/{endpoint}/"):
        for item in listing.get("Contents", []):
            s3.delete_object(Bucket=bucket, Key=item["Key"])


def _definition(sm: Any, schedule: str) -> str:
    """The job definition the stack's schedule runs (its name is CloudFormation's)."""
    described = sm.describe_monitoring_schedule(MonitoringScheduleName=schedule)
    return str(described["MonitoringScheduleConfig"]["MonitoringJobDefinitionName"])


def _run_now(sm: Any, name: str, definition: str, kind: str) -> dict[str, Any]:
    sm.create_monitoring_schedule(MonitoringScheduleName=name, MonitoringScheduleConfig={
        "ScheduleConfig": {"ScheduleExpression": "NOW", "DataAnalysisStartTime": "-PT1H",
                           "DataAnalysisEndTime": "-PT0H"},
        "MonitoringJobDefinitionName": definition, "MonitoringType": kind})

    def finished() -> dict[str, Any] | None:
        runs = sm.list_monitoring_executions(MonitoringScheduleName=name)["MonitoringExecutionSummaries"]
        done = [r for r in runs if r["MonitoringExecutionStatus"] not in ("Pending", "InProgress")]
        return done[0] if done else None

    execution = wait_until(finished, 120, 0.2)
    assert execution, f"monitoring schedule {name} did not run"
    return execution  # type: ignore[return-value]


def test_report_of_a_served_and_monitored_model_draws_every_plot(localcloud: LocalCloud, stack: Stack,
                                                                 browser: Any, tmp_path: Path) -> None:
    s3, sm, rt, cw = (localcloud.client(n) for n in ("s3", "sagemaker", "sagemaker-runtime", "cloudwatch"))
    buf = io.BytesIO()
    generate_month(2024, 1, trips=1500, seed=11).to_parquet(buf, index=False)
    bucket, _, prefix = stack[outputs.INPUT_DATA_URI].removeprefix("s3://").partition("/")
    s3.put_object(Bucket=bucket, Key=f"{prefix}2024-01.parquet", Body=buf.getvalue())
    _ok([*stack.options, "pipeline", "start", "--poll", "0.5", *FAST])
    _ok([*stack.options, "model", "approve", "latest", "-m", "good enough for the report"])
    _ok([*stack.options, "endpoint", "deploy", "--force"])
    try:
        endpoint, tag = stack[outputs.ENDPOINT_NAME], uuid.uuid4().hex[:6]
        # the monitors analyse the hour's capture, and the analyzer takes the width most rows have: earlier
        # tests' requests to this endpoint (three-column rows of a tiny model) must not outnumber ours
        _forget_capture(s3, stack[outputs.CAPTURE_BUCKET], endpoint)
        rows, truths = _traffic(tmp_path)
        for n, row in enumerate(rows):
            rt.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv", Accept="text/csv", Body=row.encode(),
                               InferenceId=f"report-{tag}-{n}")
        labels = "".join(json.dumps({"groundTruthData": {"data": str(t), "encoding": "CSV"},
                                     "eventMetadata": {"eventId": f"report-{tag}-{n}"}, "eventVersion": "0"}) + "\n"
                         for n, t in enumerate(truths))
        truth_bucket, _, truth_prefix = stack[outputs.GROUND_TRUTH_URI].removeprefix("s3://").partition("/")
        s3.put_object(Bucket=truth_bucket, Key=f"{truth_prefix}/{datetime.now(UTC):%Y/%m/%d/%H}/labels.jsonl",
                      Body=labels.encode())
        # the monitors must see all of it: earlier tests' capture shares the hour, so wait for ours by id
        bucket = stack[outputs.CAPTURE_BUCKET]
        assert wait_until(lambda: _captured(s3, bucket, endpoint, f"report-{tag}-") >= len(rows), 30, 0.2), (
            "the traffic was not all captured")
        drift = _run_now(sm, f"report-data-{tag}", _definition(sm, CONFIG.data_quality_schedule), "DataQuality")
        quality = _run_now(sm, f"report-quality-{tag}", _definition(sm, CONFIG.model_quality_schedule),
                           "ModelQuality")
        assert drift["MonitoringExecutionStatus"] == "CompletedWithViolations", drift  # drifted traffic
        assert quality["MonitoringExecutionStatus"].startswith("Completed"), quality
        errors = f"{CONFIG.prefix}-endpoint-5xx"
        cw.set_alarm_state(AlarmName=errors, StateValue="ALARM", StateReason="the report test pages someone")
        cw.set_alarm_state(AlarmName=errors, StateValue="OK", StateReason="and it is over")

        report = tmp_path / "report.html"
        said = _ok([*stack.options, "report", "--output", str(report)])
        assert f"report written to {report}" in said and "4 monitors" in said  # the hourly two and ours

        _open(browser, report)
        charts = browser.find_elements("css selector", ".chart")
        states = {c.get_attribute("id"): c.get_attribute("data-rendered") for c in charts}
        assert states and set(states.values()) == {"true"}, states
        assert {"run-metrics", "pipeline-graph", "alarm-timeline"} <= set(states)
        features = [i for i in states if "-feature-" in i]
        per_monitor = Counter(i.split("-feature-")[0] for i in features)
        # every feature against its baseline, for each data-quality monitor that ran (on the 60x clock the
        # stack's hourly one may have run on this traffic too)
        assert per_monitor and set(per_monitor.values()) == {len(FEATURES)}, per_monitor
        for chart in charts:
            assert chart.find_elements("css selector", "svg.main-svg"), chart.get_attribute("id")
        series = browser.execute_script("return Array.from(document.querySelectorAll('.chart[id$=\"-series\"]'))"
                                        ".map(c => c.data.map(t => t.name))")
        assert sorted(FEATURES) in [sorted(names) for names in series]  # a drift line per feature
        assert ["rmse", "mae", "r2"] in [sorted(names, key=["rmse", "mae", "r2"].index) for names in series
                                         if "rmse" in names]
        bars = browser.execute_script(f"return document.getElementById('{features[0]}')"
                                      ".querySelectorAll('g.point').length")
        assert bars > 0  # the histograms have bars
        text = browser.find_element("tag name", "body").text
        assert "good enough for the report" in text and "Approved" in text
        assert "the report test pages someone" in text  # the alarm's timeline
        assert severe_console_messages(browser) == []
        assert screenshot(browser, "report").stat().st_size > 50_000
        with cli_console(stack.options) as url:
            _walk_the_console(browser, url)
    finally:
        for schedule in sm.list_monitoring_schedules(EndpointName=stack[outputs.ENDPOINT_NAME])[
                "MonitoringScheduleSummaries"]:
            if schedule["MonitoringScheduleName"].startswith("report-"):
                sm.delete_monitoring_schedule(MonitoringScheduleName=schedule["MonitoringScheduleName"])
        _ok([*stack.options, "endpoint", "delete", "--yes"])


def _shown(browser: Any, element_id: str) -> str:
    text = browser.execute_script("const e = document.getElementById(arguments[0]); return e ? e.innerText : '';",
                                  element_id)
    return re.sub(r"[ \t]+", " ", str(text))


def _drawn(browser: Any) -> bool:
    return wait_until(lambda: browser.execute_script("return document.body.getAttribute('data-charts')") == "drawn",
                      30) is True


def _walk_the_console(browser: Any, url: str) -> None:
    """The same served, monitored model in the console, page by page, as a person follows it: the version
    approved, its lineage back to the run that made it, that run's graph and a step's log, the endpoint's
    traffic, the monitors' charts (these are the README's screenshots)."""
    browser.get(f"{url}registry")
    assert _drawn(browser)
    version = _shown(browser, "version")
    assert "Approved" in version and "good enough for the report" in version  # the decision and its comment
    assert re.search(r"training data sha256 [0-9a-f]{64}\n", version), version  # lineage from the run itself
    assert re.search(r"model sha256 [0-9a-f]{64}\n", version) and "max_iter 15" in version
    assert re.search(r"now served by endpoint \S+ \(AllTraffic\)", version), version  # what the canary left
    screenshot(browser, "console-stack-registry")
    click(browser, "#version a[href^='/pipelines?execution=']")
    assert _drawn(browser)
    colours = browser.execute_script(
        "const s = document.getElementById('pipeline-graph').data.find(t => t.name === 'steps');"
        "return Object.fromEntries(s.text.map((name, i) => [name, s.marker.color[i]]));")
    ran = {"Preprocess", "Train", "Evaluate", "Baseline", "RmseGate", "Register"}
    assert {n for n, c in colours.items() if c == STATUS_COLOURS["Succeeded"]} == ran, colours
    assert colours["RmseTooHigh"] == NOT_RUN  # the gate's failing branch
    click(browser, "#execution a[href$='step=Train']")
    assert wait_until(lambda: "train_rmse=" in _shown(browser, "execution"), 30)  # the training job's log
    screenshot(browser, "console-stack-pipelines")
    browser.get(f"{url}endpoints")
    assert _drawn(browser) and re.search(r"AllTraffic \d+ 1 100%", _shown(browser, "endpoint")), (
        _shown(browser, "endpoint"))  # the variant, the version it serves, its weight and share
    assert browser.find_element("id", "endpoint-invocations").get_attribute("data-rendered") == "true"
    assert "Data capture is off" not in _shown(browser, "endpoint")
    screenshot(browser, "console-stack-endpoints")
    browser.get(f"{url}monitoring")
    assert _drawn(browser)
    drawn = browser.execute_script("return Array.from(document.querySelectorAll('.chart'))"
                                   ".filter(c => c.getAttribute('data-rendered') === 'true').map(c => c.id)")
    assert any("-feature-" in i for i in drawn) and "alarm-timeline" in drawn, drawn
    screenshot(browser, "console-stack-monitoring")
    assert severe_console_messages(browser) == []
    browser.get("about:blank")  # the console stops next: its page must not go on polling it


HOSTILE = '</script><script>window.pwned = 1</script><img src=x onerror="window.pwned = 2">'


def test_nothing_from_aws_runs_in_the_page_and_unreadable_sections_say_why(browser: Any, tmp_path: Path) -> None:
    """Names, reasons and messages come from AWS: shown as text, never as markup or script."""
    now = datetime.now(UTC)
    snapshot = Snapshot(stack="SageStack-local", endpoint=HOSTILE, pipeline="p", target="localcloud", taken=now)
    snapshot.runs.append(PipelineRun(id="run1", status="Failed", started=now, ended=now, started_by=HOSTILE,
                                     version=None, metrics={"rmse": 5.0, "mae": 3.0, "r2": 0.8}, failure=HOSTILE))
    snapshot.alarms.append(AlarmState(HOSTILE, "metric", "ALARM", now, HOSTILE))
    snapshot.timeline.append(AlarmChange(now, HOSTILE, "OK", "ALARM", HOSTILE))
    snapshot.alerts.append(Alert("now", f"[red]ALARM[/] {HOSTILE}", HOSTILE))
    snapshot.monitors.append(Monitor(HOSTILE, "DataQuality", "Scheduled", {}, [], [
        {"feature_name": HOSTILE, "constraint_check_type": "baseline_drift_check", "description": HOSTILE}], [], None))
    snapshot.problems["versions"] = f"AccessDenied: {HOSTILE}"
    report = tmp_path / "hostile.html"
    report.write_text(page.report(snapshot))

    _open(browser, report)
    assert browser.execute_script("return window.pwned") is None
    assert browser.find_elements("css selector", "img") == []
    scripts = browser.execute_script("return document.scripts.length")
    assert scripts == 2 + 2  # plotly.js, charts.js and the two figures (run metrics, alarm timeline)
    text = browser.find_element("tag name", "body").text
    assert text.count("window.pwned = 1") >= 8
    assert "Could not read this from AWS: AccessDenied:" in text
    assert "No monitoring schedule" not in text and "No pipeline runs yet" not in text
    assert "No model versions registered yet" not in text  # unreadable is not the same as empty
    assert severe_console_messages(browser) == []
    screenshot(browser, "report-hostile")


@pytest.mark.parametrize("section", ["runs", "monitors", "alerts"])
def test_an_empty_stack_reports_what_is_missing_and_how_to_get_it(section: str) -> None:
    html = page.report(Snapshot(stack="s", endpoint="e", pipeline="p", target="t", taken=datetime.now(UTC)))
    expected = {"runs": "No pipeline runs yet.", "monitors": "sagestack endpoint deploy",
                "alerts": "No alerts waiting."}
    assert expected[section] in html
    assert '<script type="application/json"' not in html  # nothing to plot


def test_metric_names_are_read_from_every_page_of_list_metrics(localcloud: LocalCloud) -> None:
    """ListMetrics answers 500 metrics a page: a monitor's metrics may sit on any page."""
    from sagestack.views.collect import metric_names

    cw, namespace = localcloud.client("cloudwatch"), f"Pages/{uuid.uuid4().hex[:6]}"
    for start in range(0, 620, 20):
        cw.put_metric_data(Namespace=namespace, MetricData=[
            {"MetricName": f"m{n:04d}", "Value": 1.0, "Dimensions": [{"Name": "Endpoint", "Value": "e"}]}
            for n in range(start, start + 20)])
    assert len(metric_names(cw, namespace, [{"Name": "Endpoint", "Value": "e"}])) == 620
