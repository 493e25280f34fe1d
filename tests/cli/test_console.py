"""`sagestack console` as a person uses it: a real process, a real browser, clicks on its buttons.

The console runs against the CLI tests' localcloud with a pipeline, a model package group and an
endpoint of this module's own (so no approval here reaches the stack's deploying function). Each
page is opened in chromium, what it shows is checked against the API, its buttons are clicked and
the change read back through the API; each page leaves a screenshot in test-artifacts/. What the
console refuses (another Host, another page's Origin, a POST without the page's token) is
checked over plain HTTP.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from browser import click, screenshot, severe_console_messages
from cli_support import PIN, SKLEARN_IMAGE, SOURCE, Names, Stack, upload_models
from cli_support import console as cli_console
from selenium.webdriver.common.by import By
from support import LocalCloud, wait_until

from sagestack.views.pipeline_graph import NOT_RUN, STATUS_COLOURS

ROLE = "arn:aws:iam::123456789012:role/console-test"
GREEN, RED, ORANGE = STATUS_COLOURS["Succeeded"], STATUS_COLOURS["Failed"], STATUS_COLOURS["Stopped"]
PREPARE = "import sys, time; print('hello from the console test', flush=True); time.sleep(float(sys.argv[1]))"
DATA_SHA256 = "d" * 64
HYPERPARAMETERS = {"max_iter": 200, "learning_rate": 0.1}


def _definition() -> dict[str, Any]:
    """Prepare (a processing job that logs and sleeps `Sleep` s), then a gate: Threshold below 0.5 fails."""
    prepare = {"Name": "Prepare", "Type": "Processing", "Arguments": {
        "ProcessingResources": {"ClusterConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1,
                                                  "VolumeSizeInGB": 1}},
        "AppSpecification": {"ImageUri": SKLEARN_IMAGE, "ContainerEntrypoint": ["python3", "-c", PREPARE],
                             "ContainerArguments": [{"Get": "Parameters.Sleep"}]},
        "RoleArn": ROLE}}
    gate = {"Name": "Gate", "Type": "Condition", "DependsOn": ["Prepare"], "Arguments": {
        "Conditions": [{"Type": "LessThanOrEqualTo", "LeftValue": 0.5, "RightValue": {"Get": "Parameters.Threshold"}}],
        "IfSteps": [], "ElseSteps": [{"Name": "TooLow", "Type": "Fail",
                                      "Arguments": {"ErrorMessage": "the threshold is below 0.5"}}]}}
    return {"Version": "2020-12-01", "Parameters": [{"Name": "Threshold", "Type": "Float", "DefaultValue": 1.0},
                                                    {"Name": "Sleep", "Type": "String", "DefaultValue": "0"}],
            "Steps": [prepare, gate]}


def _package(localcloud: LocalCloud, names: Names, execution: str, approved: bool) -> dict[str, Any]:
    """A package as the pipeline registers it: the model under its run's folder, evaluation.json with lineage."""
    s3, sm = localcloud.client("s3"), localcloud.client("sagemaker")
    run = f"s3://{names.bucket}/runs/{execution}"
    s3.copy_object(Bucket=names.bucket, Key=f"runs/{execution}/train/model.tar.gz",
                   CopySource={"Bucket": names.bucket, "Key": "m/model.tar.gz"})
    evaluation = {"regression_metrics": {"rmse": {"value": 4.25}, "mae": {"value": 3.5}, "r2": {"value": 0.75}},
                  "model": {"sha256": PIN, "data_sha256": DATA_SHA256, "hyperparameters": HYPERPARAMETERS}}
    s3.put_object(Bucket=names.bucket, Key=f"runs/{execution}/evaluation/evaluation.json",
                  Body=json.dumps(evaluation).encode())
    arn = sm.create_model_package(
        ModelPackageGroupName=names.group, ModelApprovalStatus="Approved" if approved else "PendingManualApproval",
        InferenceSpecification={"Containers": [{
            "Image": SKLEARN_IMAGE, "ModelDataUrl": f"{run}/train/model.tar.gz",
            "Environment": {"SAGEMAKER_PROGRAM": "serve.py", "SAGESTACK_MODEL_SHA256": PIN,
                            "SAGEMAKER_SUBMIT_DIRECTORY": f"s3://{names.bucket}/code/{'c' * 64}/sourcedir.tar.gz"}}],
            "SupportedContentTypes": ["text/csv"], "SupportedResponseMIMETypes": ["text/csv"]},
        ModelMetrics={"ModelQuality": {"Statistics": {"ContentType": "application/json",
                                                      "S3Uri": f"{run}/evaluation/evaluation.json"}}},
        CustomerMetadataProperties={"sagestack:model-sha256": PIN})["ModelPackageArn"]
    return sm.describe_model_package(ModelPackageName=arn)


def _serve(localcloud: LocalCloud, names: Names) -> None:
    """Endpoint names.endpoint: two variants (weights 3 and 1) of the tiny model, capturing every request."""
    sm = localcloud.client("sagemaker")
    container = {"Image": SKLEARN_IMAGE, "ModelDataUrl": f"s3://{names.bucket}/m/model.tar.gz",
                 "Environment": {"SAGEMAKER_PROGRAM": "serve.py",
                                 "SAGEMAKER_SUBMIT_DIRECTORY": f"s3://{names.bucket}/{SOURCE}"}}
    sm.create_model(ModelName=names.endpoint, PrimaryContainer=container, ExecutionRoleArn=ROLE)
    variants = [{"VariantName": name, "ModelName": names.endpoint, "InitialInstanceCount": 1,
                 "InstanceType": "ml.m5.large", "InitialVariantWeight": weight} for name, weight in
                (("Blue", 3.0), ("Green", 1.0))]
    sm.create_endpoint_config(EndpointConfigName=names.endpoint, ProductionVariants=variants, DataCaptureConfig={
        "EnableCapture": True, "InitialSamplingPercentage": 100,
        "DestinationS3Uri": f"s3://{names.bucket}/capture", "CaptureOptions": [{"CaptureMode": "Input"},
                                                                               {"CaptureMode": "Output"}]})
    sm.create_endpoint(EndpointName=names.endpoint, EndpointConfigName=names.endpoint)
    assert wait_until(lambda: sm.describe_endpoint(EndpointName=names.endpoint)["EndpointStatus"] == "InService",
                      120, 0.2)


@pytest.fixture(scope="module")
def console(localcloud: LocalCloud, stack: Stack, browser: Any) -> Iterator[dict[str, Any]]:
    names = Names()
    upload_models(localcloud, names.bucket)
    sm = localcloud.client("sagemaker")
    sm.create_pipeline(PipelineName=names.pipeline, RoleArn=ROLE, PipelineDefinition=json.dumps(_definition()))
    sm.create_model_package_group(ModelPackageGroupName=names.group)
    with cli_console([*stack.options, "--model-package-group", names.group, "--pipeline", names.pipeline,
                      "--endpoint-name", names.endpoint]) as url:
        yield {"url": url, "names": names}
        browser.get("about:blank")  # the console stops next: its page must not go on polling it
        severe_console_messages(browser)  # read, so the next module's page starts with an empty log


def _open(browser: Any, url: str) -> None:
    browser.get(url)
    assert wait_until(lambda: browser.find_element(By.TAG_NAME, "body").get_attribute("data-charts") == "drawn", 30)


def _text(browser: Any, element_id: str) -> str:
    """The element's text as shown (read in one script: a section may be swapped for its refresh any time)."""
    shown = browser.execute_script("const e = document.getElementById(arguments[0]); return e ? e.innerText : '';",
                                   element_id)
    return re.sub(r"[ \t]+", " ", str(shown))  # table cells: one space apart


def _drawn(browser: Any, chart: str) -> bool:
    return wait_until(lambda: browser.execute_script(
        "const e = document.getElementById(arguments[0]); return e && e.getAttribute('data-rendered');",
        chart) == "true", 15) is True


def _graph_colours(browser: Any) -> dict[str, str]:
    """Step name -> the colour the drawn pipeline graph gives it (read from plotly.js's figure in the page;
    {} while a refreshed section is not drawn yet)."""
    return browser.execute_script(
        "const graph = document.getElementById('pipeline-graph');"
        "if (!graph || !graph.data) return {};"
        "const steps = graph.data.find(t => t.name === 'steps');"
        "return Object.fromEntries(steps.text.map((name, i) => [name, steps.marker.color[i]]));")


def _finished(localcloud: LocalCloud, arn: str) -> str:
    sm = localcloud.client("sagemaker")

    def status() -> str | None:
        found = sm.describe_pipeline_execution(PipelineExecutionArn=arn)["PipelineExecutionStatus"]
        return found if found not in ("Executing", "Stopping") else None

    found = wait_until(status, 120, 0.2)
    assert found, f"{arn} did not finish"
    return str(found)


def _run(localcloud: LocalCloud, pipeline: str, **parameters: str) -> str:
    arn = localcloud.client("sagemaker").start_pipeline_execution(
        PipelineName=pipeline, PipelineParameters=[{"Name": k, "Value": v} for k, v in parameters.items()])[
        "PipelineExecutionArn"]
    return str(arn)


def test_the_pipelines_page_draws_each_run_in_its_colours_and_starts_stops_and_retries(
        localcloud: LocalCloud, browser: Any, console: dict[str, Any]) -> None:
    url, names, sm = console["url"], console["names"], localcloud.client("sagemaker")
    passed, failed = _run(localcloud, names.pipeline), _run(localcloud, names.pipeline, Threshold="0.25")
    assert (_finished(localcloud, passed), _finished(localcloud, failed)) == ("Succeeded", "Failed")
    passed_id, failed_id = passed.rsplit("/", 1)[-1], failed.rsplit("/", 1)[-1]

    _open(browser, f"{url}pipelines?execution={passed_id}")
    assert _graph_colours(browser) == {"Prepare": GREEN, "Gate": GREEN, "TooLow": NOT_RUN}
    _open(browser, f"{url}pipelines?execution={failed_id}")
    assert _graph_colours(browser) == {"Prepare": GREEN, "Gate": GREEN, "TooLow": RED}
    run = _text(browser, "execution")
    assert "the threshold is below 0.5" in run and re.search(r"Threshold\s+0\.25\n", run), run  # why, with what
    click(browser, "#execution a[href$='step=Prepare']")  # the step's details: its job's log
    assert wait_until(lambda: "hello from the console test" in _text(browser, "execution"), 30)
    screenshot(browser, "console-pipelines")

    click(browser, 'button[data-action="retry"]')

    def retried() -> bool:
        steps = sm.list_pipeline_execution_steps(PipelineExecutionArn=failed)["PipelineExecutionSteps"]
        return any(s["StepName"] == "TooLow" and s.get("AttemptCount", 1) > 1 for s in steps)

    assert wait_until(retried, 30), "the click did not retry the run"
    assert _finished(localcloud, failed) == "Failed"  # the same gate fails again

    # start a slow run from the page's form, watch it run, stop it
    click(browser, "#start-run summary")
    sleep = browser.find_element(By.ID, "param-Sleep")
    sleep.clear()
    sleep.send_keys("120")
    click(browser, "#start-run button[type=submit]")
    assert wait_until(lambda: "execution=" in browser.current_url and failed_id not in browser.current_url, 30)
    started = browser.current_url.rsplit("execution=", 1)[-1]
    assert wait_until(lambda: "Executing" in _text(browser, "execution"), 30)
    click(browser, 'button[data-action="stop"]', 30)
    arn = f"{passed.rsplit('/', 1)[0]}/{started}"
    assert _finished(localcloud, arn) == "Stopped"
    parameters = sm.list_pipeline_parameters_for_execution(PipelineExecutionArn=arn)["PipelineParameters"]
    assert {"Name": "Sleep", "Value": "120"} in parameters
    assert wait_until(lambda: _graph_colours(browser).get("Prepare") == ORANGE, 30), (
        _graph_colours(browser), _text(browser, "execution"))  # the page followed
    assert not severe_console_messages(browser)


def test_the_registry_page_shows_lineage_and_approves_with_a_comment(
        localcloud: LocalCloud, browser: Any, console: dict[str, Any]) -> None:
    url, names, sm = console["url"], console["names"], localcloud.client("sagemaker")
    package = _package(localcloud, names, "lineage-run-1", approved=False)
    version = str(package["ModelPackageVersion"])
    _open(browser, f"{url}registry?version={version}")
    shown = _text(browser, "version")
    assert "lineage-run-1" in shown and DATA_SHA256 in shown and PIN in shown and "c" * 64 in shown
    assert "max_iter 200" in shown and "learning_rate 0.1" in shown and "rmse 4.25" in shown
    assert "lineage-run-1" in _text(browser, "versions")
    browser.find_element(By.ID, f"comment-{version}").send_keys("fine on last week's data <b>really</b>")
    screenshot(browser, "console-registry")
    click(browser, 'button[data-decision="approve"]')

    def approved() -> dict[str, Any] | None:
        described = sm.describe_model_package(ModelPackageName=package["ModelPackageArn"])
        return described if described["ModelApprovalStatus"] == "Approved" else None

    described = wait_until(approved, 15)
    assert described, "the click did not approve the package"
    assert described["ApprovalDescription"] == "fine on last week's data <b>really</b>"  # type: ignore[index]
    assert wait_until(lambda: "fine on last week's data <b>really</b>" in _text(browser, "versions"), 15)
    assert "Approved" in _text(browser, "version")
    assert not browser.find_elements(By.CSS_SELECTOR, "button[data-decision]")  # decided: no buttons
    assert not severe_console_messages(browser)


def test_the_endpoints_page_shows_variants_traffic_and_requests_and_says_when_the_endpoint_is_gone(
        localcloud: LocalCloud, browser: Any, console: dict[str, Any]) -> None:
    url, names = console["url"], console["names"]
    _serve(localcloud, names)
    runtime = localcloud.client("sagemaker-runtime")
    for n in range(12):
        runtime.invoke_endpoint(EndpointName=names.endpoint, ContentType="text/csv", Body=f"{n},1,2".encode())
    cw = localcloud.client("cloudwatch")
    dimensions = [{"Name": "EndpointName", "Value": names.endpoint}, {"Name": "VariantName", "Value": "Blue"}]
    assert wait_until(lambda: cw.list_metrics(Namespace="AWS/SageMaker", MetricName="Invocations",
                                              Dimensions=dimensions)["Metrics"], 30, 0.2)
    _open(browser, f"{url}endpoints")
    assert wait_until(lambda: "12,1,2" in _text(browser, "endpoint") or "11,1,2" in _text(browser, "endpoint"), 30)
    shown = _text(browser, "endpoint")
    assert re.search(r"Blue - 3(\.0+)? 75%", shown) and re.search(r"Green - 1(\.0+)? 25%", shown), shown
    _open(browser, f"{url}endpoints")
    assert _drawn(browser, "endpoint-invocations") and _drawn(browser, "endpoint-latency")
    screenshot(browser, "console-endpoints")

    # a guarded deployment: a canary of one of the new fleet's two instances, baking ten minutes (10 s here)
    sm, alarm = localcloud.client("sagemaker"), f"{names.endpoint}-errors"
    cw.put_metric_alarm(AlarmName=alarm, Namespace="AWS/SageMaker", MetricName="Invocation5XXErrors",
                        Dimensions=dimensions, Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=1,
                        ComparisonOperator="GreaterThanOrEqualToThreshold", TreatMissingData="notBreaching")
    sm.create_endpoint_config(EndpointConfigName=f"{names.endpoint}-next", ProductionVariants=[
        {"VariantName": "Next", "ModelName": names.endpoint, "InitialInstanceCount": 2, "InstanceType": "ml.m5.large"}])
    sm.update_endpoint(EndpointName=names.endpoint, EndpointConfigName=f"{names.endpoint}-next", DeploymentConfig={
        "BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": {
            "Type": "CANARY", "WaitIntervalInSeconds": 600, "CanarySize": {"Type": "INSTANCE_COUNT", "Value": 1}},
            "TerminationWaitInSeconds": 0, "MaximumExecutionTimeoutInSeconds": 1800},
        "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": alarm}]}})
    assert wait_until(lambda: f"Deploying {names.endpoint}-next" in _text(browser, "endpoint"), 30)
    shown = _text(browser, "endpoint")
    assert "canary, step 1 instance count, baking 600 s" in shown and re.search(f"{alarm} (OK|INSUFFICIENT_DATA)",
                                                                                 shown), shown
    screenshot(browser, "console-endpoints-deploying")
    assert wait_until(lambda: re.search(r"Next - 1(\.0+)? 100%", _text(browser, "endpoint")), 60), (
        _text(browser, "endpoint"))  # the canary baked, the new fleet took all the traffic
    assert f"Deploying {names.endpoint}-next" not in _text(browser, "endpoint")

    sm.delete_endpoint(EndpointName=names.endpoint)  # gone while it is watched
    assert wait_until(lambda: f"Endpoint {names.endpoint} does not exist" in _text(browser, "endpoint"), 30)
    assert not severe_console_messages(browser)


def test_the_monitoring_page_shows_alarms_their_timeline_and_the_alert_inbox(
        localcloud: LocalCloud, browser: Any, console: dict[str, Any]) -> None:
    cw = localcloud.client("cloudwatch")  # the errors alarm: paging is all it does (drift would retrain)
    alarm = next(a["AlarmName"] for a in cw.describe_alarms()["MetricAlarms"] if a["AlarmName"].endswith("-5xx"))
    cw.set_alarm_state(AlarmName=alarm, StateValue="ALARM", StateReason="the console test pages someone")
    cw.set_alarm_state(AlarmName=alarm, StateValue="OK", StateReason="and it is over")
    _open(browser, f"{console['url']}monitoring")
    assert "the console test pages someone" in _text(browser, "alarms")
    assert _drawn(browser, "alarm-timeline")
    assert wait_until(lambda: "the console test pages someone" in _text(browser, "alerts"), 30)  # delivered
    assert _text(browser, "monitors")
    screenshot(browser, "console-monitoring")
    assert not severe_console_messages(browser)


def _status(url: str, method: str = "GET", headers: dict[str, str] | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_the_console_refuses_other_hosts_other_pages_posts_without_its_token_and_bad_names(
        console: dict[str, Any]) -> None:
    url = console["url"]
    assert _status(f"{url}versions/1/approve", "POST")[0] == 403  # no token
    assert _status(f"{url}versions/1/approve", "POST", {"X-CSRF-Token": "guess"})[0] == 403
    assert _status(f"{url}executions", "POST", {"X-CSRF-Token": "guess"})[0] == 403
    assert _status(url, headers={"Host": "evil.example"})[0] == 403  # DNS rebinding
    status, body = _status(url, headers={"Origin": "http://evil.example"})
    assert status == 403 and "other pages" in body
    status, body = _status(f"{url}sections/<script>")
    assert status == 404 and "<script>" not in body  # escaped, and no stack trace
    status, body = _status(f"{url}nowhere")
    assert status == 404 and "pipelines, registry, endpoints, monitoring" in body
    status, body = _status(f"{url}pipelines?execution=no-such-run")  # bad input: said on the page
    assert status == 200 and "Could not read this from AWS" in body and "no-such-run" in body
    status, body = _status(f"{url}registry?version=%3Cb%3E")
    assert status == 200 and "is not a model version number" in body and "<b>" not in body
    for page, sections in (("pipelines", ("runs", "execution")), ("registry", ("versions", "version")),
                           ("endpoints", ("endpoint",)), ("monitoring", ("monitors", "alarms", "alerts"))):
        status, body = _status(f"{url}{page}")
        assert status == 200 and all(f'<section id="{s}">' in body for s in sections), (page, body[-500:])
        for name in sections:  # what each section polls
            status, body = _status(f"{url}sections/{name}")
            assert status == 200 and f'<section id="{name}">' in body, (name, body[:500])


def test_changes_with_bad_input_are_refused_with_a_sentence(localcloud: LocalCloud, console: dict[str, Any]) -> None:
    """What the page's forms and buttons send, sent wrong on purpose (with the page's own token)."""
    url, names = console["url"], console["names"]
    with urllib.request.urlopen(f"{url}pipelines", timeout=30) as page:
        token = re.search(r'"X-CSRF-Token": "([^"]+)"', page.read().decode()).group(1)  # type: ignore[union-attr]

    def post(path: str, form: dict[str, str]) -> tuple[int, str]:
        request = urllib.request.Request(f"{url}{path}", data=urllib.parse.urlencode(form).encode(), method="POST",
                                         headers={"X-CSRF-Token": token})
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return answer.status, answer.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    before = localcloud.client("sagemaker").list_pipeline_executions(PipelineName=names.pipeline)[
        "PipelineExecutionSummaries"]
    for path, form, said in [
            ("executions", {"Treshold": "1"}, f"pipeline {names.pipeline} has no parameter Treshold"),
            ("executions", {"Threshold": "high"}, "parameter Threshold is a Float, not &#39;high&#39;"),
            ("executions/no_such%20run!/stop", {}, "is not a pipeline execution id"),
            ("versions/1/approve", {"comment": "x" * 1025}, "a comment has at most 1024 characters"),
            ("versions/999/approve", {}, f"model package group {names.group} has no version 999"),
            ("versions/1/maybe", {}, "a model version is approved or rejected")]:
        status, body = post(path, form)
        assert status in (400, 404) and said in body and "Traceback" not in body, (path, status, body[-500:])
    after = localcloud.client("sagemaker").list_pipeline_executions(PipelineName=names.pipeline)[
        "PipelineExecutionSummaries"]
    assert len(after) == len(before)  # nothing started


def test_an_unknown_pipeline_is_said_on_the_page(localcloud: LocalCloud, stack: Stack) -> None:
    """A console started on a pipeline that does not exist shows why, in place of the runs."""
    with cli_console([*stack.options, "--pipeline", "no-such-pipeline"]) as url:
        status, body = _status(f"{url}pipelines")
    assert status == 200 and "Could not read this from AWS" in body and "no-such-pipeline" in body
    assert "Traceback" not in body
