"""Lambda functions that really run: a Python handler as a local process on its runtime's Python.

Every path that reaches a function is covered: Invoke (RequestResponse with its result, its error
or its timeout; Event; DryRun), an EventBridge rule's target and an SNS subscription. The handler
calls S3 through boto3 as it would on AWS, so each test also sees that the SDK and the role's
credentials reach localcloud, and its output lands in CloudWatch Logs.
"""

from __future__ import annotations

import base64
import io
import json
import uuid
import zipfile
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from support import LocalCloud, wait_until

HANDLER = r'''
import json, os, sys
import boto3

def handler(event, context):
    print("hello from", context.function_name)
    if event.get("fail"):
        raise ValueError("asked to fail")
    body = event if "Records" not in event else event["Records"][0]["Sns"]["Message"]
    if os.environ.get("BUCKET"):
        key = event.get("key") or (event.get("detail") or {}).get("key") or "sns"
        boto3.client("s3").put_object(Bucket=os.environ["BUCKET"], Key=key, Body=json.dumps(body).encode())
    return {"echo": event, "name": context.function_name, "python": "%d.%d" % sys.version_info[:2],
            "remaining_ms": context.get_remaining_time_in_millis(), "greeting": os.environ.get("GREETING"),
            "request": context.aws_request_id}

def not_a_function():
    pass
'''


def _zip(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buf.getvalue()


@pytest.fixture(scope="module")
def function(localcloud: LocalCloud) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:8]
    iam, s3 = localcloud.client("iam"), localcloud.client("s3")
    role = iam.create_role(RoleName=f"fn-{tag}", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                "Principal": {"Service": "lambda.amazonaws.com"}}]}))["Role"]["Arn"]
    bucket = f"fn-{tag}"
    s3.create_bucket(Bucket=bucket)
    created = localcloud.client("lambda").create_function(
        FunctionName=f"echo_{tag}", Runtime="python3.12", Role=role, Handler="app.handler", Timeout=60,
        Code={"ZipFile": _zip({"app.py": HANDLER})},
        Environment={"Variables": {"GREETING": "hi", "BUCKET": bucket}})
    return {"name": created["FunctionName"], "arn": created["FunctionArn"], "role": role, "bucket": bucket,
            "tag": tag}


def _invoke(localcloud: LocalCloud, name: str, event: Any, **kwargs: Any) -> dict[str, Any]:
    return localcloud.client("lambda").invoke(FunctionName=name, Payload=json.dumps(event).encode(), **kwargs)


def test_a_handler_runs_on_its_runtimes_python_with_the_sdk_and_answers(localcloud: LocalCloud,
                                                                          function: dict[str, Any]) -> None:
    answer = _invoke(localcloud, function["name"], {"key": "direct", "n": 1}, LogType="Tail")
    assert answer["StatusCode"] == 200 and "FunctionError" not in answer
    result = json.loads(answer["Payload"].read())
    assert result["echo"] == {"key": "direct", "n": 1} and result["name"] == function["name"]
    assert result["python"] == "3.12" and result["greeting"] == "hi"
    assert 0 < result["remaining_ms"] <= 60_000
    tail = base64.b64decode(answer["LogResult"]).decode()
    assert f"START RequestId: {result['request']}" in tail and f"hello from {function['name']}" in tail
    assert f"REPORT RequestId: {result['request']}\tDuration: " in tail
    stored = localcloud.client("s3").get_object(Bucket=function["bucket"], Key="direct")["Body"].read()
    assert json.loads(stored) == {"key": "direct", "n": 1}  # boto3 in the function reached localcloud
    logs = localcloud.client("logs")
    group = f"/aws/lambda/{function['name']}"

    def logged() -> list[str]:
        streams = logs.describe_log_streams(logGroupName=group)["logStreams"]
        return [e["message"] for s in streams for e in logs.get_log_events(
            logGroupName=group, logStreamName=s["logStreamName"])["events"]]

    assert wait_until(lambda: f"END RequestId: {result['request']}" in logged(), 15, 0.1)


def test_a_failing_handler_answers_lambdas_error_document(localcloud: LocalCloud, function: dict[str, Any]) -> None:
    answer = _invoke(localcloud, function["name"], {"fail": True})
    assert answer["FunctionError"] == "Unhandled"
    error = json.loads(answer["Payload"].read())
    assert error["errorType"] == "ValueError" and error["errorMessage"] == "asked to fail"
    assert any("raise ValueError" in frame for frame in error["stackTrace"])


def test_a_handler_past_its_timeout_is_stopped(localcloud: LocalCloud, function: dict[str, Any]) -> None:
    name = f"slow-{function['tag']}"
    localcloud.client("lambda").create_function(
        FunctionName=name, Runtime="python3.12", Role=function["role"], Handler="app.handler", Timeout=1,
        Code={"ZipFile": _zip({"app.py": "import time\n\ndef handler(event, context):\n    time.sleep(30)\n"})})
    answer = _invoke(localcloud, name, {})
    assert answer["FunctionError"] == "Unhandled"
    error = json.loads(answer["Payload"].read())
    assert error["errorType"] == "Sandbox.Timedout" and error["errorMessage"].endswith(
        "Task timed out after 1.00 seconds")


def test_event_and_dry_run_invocations(localcloud: LocalCloud, function: dict[str, Any]) -> None:
    queued = _invoke(localcloud, function["name"], {"key": "later"}, InvocationType="Event")
    assert queued["StatusCode"] == 202
    s3 = localcloud.client("s3")
    assert wait_until(lambda: s3.list_objects_v2(Bucket=function["bucket"], Prefix="later").get("KeyCount"), 30, 0.1)
    assert _invoke(localcloud, function["name"], {}, InvocationType="DryRun")["StatusCode"] == 204
    with pytest.raises(ClientError, match="InvalidRequestContentException"):
        localcloud.client("lambda").invoke(FunctionName=function["name"], Payload=b"{not json")


def test_rule_targets_and_sns_subscriptions_invoke_the_function(localcloud: LocalCloud,
                                                                  function: dict[str, Any]) -> None:
    events, sns, s3 = localcloud.client("events"), localcloud.client("sns"), localcloud.client("s3")
    rule = f"fn-{function['tag']}"
    events.put_rule(Name=rule, EventPattern=json.dumps({"source": ["sagestack.test"]}))
    events.put_targets(Rule=rule, Targets=[{"Id": "fn", "Arn": function["arn"]}])
    events.put_events(Entries=[{"Source": "sagestack.test", "DetailType": "t", "Detail": json.dumps({"key": "rule"})}])
    topic = sns.create_topic(Name=f"fn-{function['tag']}")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=function["arn"])
    sns.publish(TopicArn=topic, Message="from sns")
    for key in ("rule", "sns"):
        assert wait_until(lambda k=key: s3.list_objects_v2(Bucket=function["bucket"], Prefix=k).get("KeyCount"), 30,
                          0.1), key
    delivered = json.loads(s3.get_object(Bucket=function["bucket"], Key="rule")["Body"].read())
    assert delivered["source"] == "sagestack.test" and delivered["detail"] == {"key": "rule"}  # the event itself
    assert json.loads(s3.get_object(Bucket=function["bucket"], Key="sns")["Body"].read()) == "from sns"


@pytest.mark.parametrize(("files", "handler", "kind"), [
    ({"app.py": HANDLER}, "missing.handler", "Runtime.ImportModuleError"),
    ({"app.py": HANDLER}, "app.nothing", "Runtime.HandlerNotFound"),
    ({"../escape.py": "x = 1"}, "escape.handler", "Runtime.Unavailable"),
])
def test_functions_that_cannot_load_say_why(localcloud: LocalCloud, function: dict[str, Any], files: dict[str, str],
                                              handler: str, kind: str) -> None:
    name = f"bad-{uuid.uuid4().hex[:8]}"
    localcloud.client("lambda").create_function(FunctionName=name, Runtime="python3.12", Role=function["role"],
                                                Handler=handler, Code={"ZipFile": _zip(files)})
    answer = _invoke(localcloud, name, {})
    assert answer["FunctionError"] == "Unhandled"
    assert json.loads(answer["Payload"].read())["errorType"] == kind


def test_a_function_is_back_and_runs_after_a_restart(tmp_path: Path) -> None:
    with LocalCloud.start(tmp_path) as cloud:
        role = cloud.client("iam").create_role(RoleName="fn", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        cloud.client("lambda").create_function(FunctionName="kept", Runtime="python3.12", Role=role,
                                               Handler="app.handler", Code={"ZipFile": _zip({"app.py": HANDLER})})
    with LocalCloud.start(tmp_path) as cloud:
        answer = _invoke(cloud, "kept", {"n": 2})
        assert json.loads(answer["Payload"].read())["echo"] == {"n": 2}
