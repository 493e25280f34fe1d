"""localcloud's front door: HTTP limits, the loopback-only access policy, and AWS-shaped refusals.

Each reproducer of the hardening issue is here as a regression test: a chunk size that made the old
server allocate without bound, a lying Content-Length that held a thread forever, cross-origin and
DNS-rebinding requests that ran code, names that escaped the data dir, and the inputs that made it
answer 500.
"""

from __future__ import annotations

import gzip
import json
import socket
import time
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError
from hostile import Request, send
from lc_fixtures import ROLE, SKLEARN_IMAGE
from support import REGION, LocalCloud, closed_by_peer, exchange, half_sent, wait_until

pytestmark = pytest.mark.localcloud

SIGNED = "AWS4-HMAC-SHA256 Credential=AKID/20260101/{region}/{service}/aws4_request, SignedHeaders=host, Signature=0"


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloud]:
    """A localcloud with short timeouts, a small header limit and two worker threads."""
    cloud = LocalCloud.start(tmp_path_factory.mktemp("strict"), args=[
        "--header-timeout", "1", "--idle-timeout", "1", "--max-header-kb", "8", "--threads", "2",
        "--allow-origin", "https://console.example", "--allow-host", "cloud.example"])
    try:
        yield cloud
    finally:
        cloud.stop()




def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/") else 0


def sagemaker_request(operation: str, body: dict | bytes, region: str = REGION,
                      headers: tuple[tuple[str, str], ...] = ()) -> Request:
    payload = body if isinstance(body, bytes) else json.dumps(body).encode()
    return Request("POST", "/", (("X-Amz-Target", f"SageMaker.{operation}"),
                                 ("Content-Type", "application/x-amz-json-1.1"),
                                 ("Authorization", SIGNED.format(region=region, service="sagemaker")),
                                 ("Content-Length", str(len(payload))), *headers), payload, operation)


def answer(cloud: LocalCloud, request: Request) -> tuple[int, dict]:
    """Status and JSON body of one request."""
    head = f"{request.method} {request.path} HTTP/1.1\r\nHost: 127.0.0.1:{cloud.port}\r\nConnection: close\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in request.headers)
    data, _ = exchange(cloud.port, head.encode("latin-1") + b"\r\n" + request.body)
    body = data.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in data else b""
    try:
        parsed = json.loads(body) if body.strip().startswith(b"{") else {"raw": body.decode("latin-1")}
    except ValueError:
        parsed = {"raw": body.decode("latin-1")}
    return status_of(data), parsed


# ------------------------------------------------------------------------------------------ HTTP limits


@pytest.mark.parametrize("size", ["ffffffff", "fffffffffff", "7fffffffffffffff"])
def test_a_huge_declared_chunk_is_refused_at_once(localcloud: LocalCloud, size: str) -> None:
    request = (f"POST / HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n{size}\r\nabc").encode()
    data, seconds = exchange(localcloud.port, request)
    assert status_of(data) in (400, 413), data[:200]
    assert seconds < 5
    assert localcloud.healthy()


@pytest.mark.parametrize("size", ["-1", "zz", "1;", " "])
def test_malformed_chunk_headers_are_a_client_error(localcloud: LocalCloud, size: str) -> None:
    request = f"POST / HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n{size}\r\nx\r\n0\r\n\r\n"
    data, _ = exchange(localcloud.port, request.encode())
    assert 400 <= status_of(data) < 500, data[:200]


@pytest.mark.parametrize("length", ["abc", "-1", "1.5", "0x10"])
def test_a_malformed_content_length_is_a_client_error(localcloud: LocalCloud, length: str) -> None:
    for path in ("/", "/endpoints/some-endpoint/invocations"):
        data, _ = exchange(localcloud.port, (f"POST {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: "
                                        f"{SIGNED.format(region=REGION, service='sagemaker')}\r\n"
                                        f"Content-Length: {length}\r\n\r\nabc").encode())
        assert status_of(data) == 400, data[:300]


def test_a_lying_content_length_holds_no_thread_and_is_dropped(strict: LocalCloud) -> None:
    """50 connections promise bodies they never send; with 2 worker threads the server still answers."""
    held = half_sent(strict.port, 50, b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000\r\n\r\nabc")
    try:
        started = time.monotonic()
        with urllib.request.urlopen(f"{strict.url}/_localcloud/health", timeout=5) as r:
            assert r.status == 200
        assert time.monotonic() - started < 1.0
        # the idle timeout (1 s here) closes each of them
        assert wait_until(lambda: all(closed_by_peer(s) for s in held), 10)
    finally:
        for sock in held:
            sock.close()


def test_a_header_block_dribbled_slowly_is_cut_off(strict: LocalCloud) -> None:
    with socket.create_connection(("127.0.0.1", strict.port), timeout=10) as sock:
        sock.sendall(b"GET /_localcloud/health HTTP/1.1\r\nHost: localhost\r\n")
        started = time.monotonic()
        closed = False
        while time.monotonic() - started < 8:
            try:
                sock.sendall(b"X-Slow: a\r\n")
            except OSError:
                closed = True
                break
            if closed_by_peer(sock):
                closed = True
                break
            time.sleep(0.3)
        assert closed, "a header block still open after 8 s was not cut off (header timeout 1 s)"
        assert time.monotonic() - started < 5


def test_oversize_headers_are_refused_with_431(strict: LocalCloud) -> None:
    data, _ = exchange(strict.port, b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nX-Big: " + b"a" * 20_000
                  + b"\r\n\r\n")
    assert status_of(data) == 431
    assert strict.healthy()


# ------------------------------------------------------------------------------------------ access policy


def test_a_cross_origin_request_runs_nothing(localcloud: LocalCloud) -> None:
    name = f"evil-{int(time.time() * 1000)}"
    job = {"ProcessingJobName": name, "RoleArn": ROLE,
           "AppSpecification": {"ImageUri": SKLEARN_IMAGE, "ContainerEntrypoint": ["python3", "-c", "print(1)"]},
           "ProcessingResources": {"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large",
                                                     "VolumeSizeInGB": 1}}}
    for origin in ("https://evil.example", "null", "http://localhost.evil.example", "http://127.0.0.1.nip.io"):
        status, body = answer(localcloud, sagemaker_request("CreateProcessingJob", job, headers=(("Origin", origin),)))
        assert status == 403, (origin, body)
        assert "Origin" in body["message"] and body["__type"] == "AccessDenied"
    preflight = (b"OPTIONS / HTTP/1.1\r\nHost: localhost\r\nOrigin: https://evil.example\r\nConnection: close\r\n"
                 b"Access-Control-Request-Method: POST\r\nAccess-Control-Request-Headers: x-amz-target\r\n\r\n")
    data, _ = exchange(localcloud.port, preflight)
    assert status_of(data) == 403
    assert b"access-control-allow-origin" not in data.lower()
    sm = localcloud.client("sagemaker")
    with pytest.raises(ClientError, match=r"ValidationException|ResourceNotFound|Could not find"):
        sm.describe_processing_job(ProcessingJobName=name)


def test_a_request_a_browser_marks_cross_site_is_refused(localcloud: LocalCloud) -> None:
    status, _ = answer(localcloud, sagemaker_request("ListPipelines", {}, headers=(("Sec-Fetch-Site", "cross-site"),)))
    assert status == 403


def test_loopback_origins_and_the_allowed_origin_are_served(strict: LocalCloud) -> None:
    for origin in ("http://localhost:3000", "http://127.0.0.1:8080", "http://[::1]:9000", "https://console.example"):
        status, body = answer(strict, sagemaker_request("ListPipelines", {}, headers=(("Origin", origin),)))
        assert status == 200, (origin, body)
    status, _ = answer(strict, sagemaker_request("ListPipelines", {}, headers=(("Origin", "https://other.example"),)))
    assert status == 403


def test_dns_rebinding_is_refused_by_host(localcloud: LocalCloud, strict: LocalCloud) -> None:
    for host in ("evil.example", "evil.example:4566", "127.0.0.1.evil.example", "attacker.com:80"):
        data, _ = exchange(localcloud.port, f"GET /_localcloud/health HTTP/1.1\r\nHost: {host}\r\nConnection: close"
                                       f"\r\n\r\n".encode())
        assert status_of(data) == 403, host
    for host in ("localhost", "localhost:4566", "127.0.0.1", "[::1]:4566", "bucket.localhost"):
        data, _ = exchange(localcloud.port, f"GET /_localcloud/health HTTP/1.1\r\nHost: {host}\r\nConnection: close"
                                       f"\r\n\r\n".encode())
        assert status_of(data) == 200, host
    data, _ = exchange(strict.port,
                  b"GET /_localcloud/health HTTP/1.1\r\nHost: cloud.example:80\r\nConnection: close\r\n\r\n")
    assert status_of(data) == 200


# ------------------------------------------------------------------------------------------ AWS-shaped refusals


@pytest.mark.parametrize("name", ["../../x", "/tmp/absolute", "a/../../b", "..", "x" * 64, "-leading"])
def test_names_that_could_escape_are_refused_with_the_member_named(localcloud: LocalCloud, name: str) -> None:
    sm = localcloud.client("sagemaker")
    with pytest.raises(ClientError) as e:
        sm.create_processing_job(
            ProcessingJobName=name, RoleArn=ROLE, AppSpecification={"ImageUri": SKLEARN_IMAGE},
            ProcessingResources={"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large",
                                                   "VolumeSizeInGB": 1}})
    error = e.value.response["Error"]
    assert error["Code"] == "ValidationException"
    assert "at 'processingJobName' failed to satisfy constraint" in error["Message"]
    assert not (localcloud.data_dir.parent / "x").exists()
    assert not Path("/tmp/absolute").exists()


def test_a_number_where_a_name_belongs_is_a_serialization_error(localcloud: LocalCloud) -> None:
    status, body = answer(localcloud, sagemaker_request("CreateProcessingJob", {
        "ProcessingJobName": 7, "RoleArn": ROLE, "AppSpecification": {"ImageUri": SKLEARN_IMAGE},
        "ProcessingResources": {"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large",
                                                  "VolumeSizeInGB": 1}}}))
    assert status == 400
    assert body["__type"] == "SerializationException"
    assert "'processingJobName'" in body["message"]
    listed = localcloud.client("sagemaker").list_processing_jobs(NameContains="7")["ProcessingJobSummaries"]
    assert "7" not in {job["ProcessingJobName"] for job in listed}


@pytest.mark.parametrize("body", [b"\xff\xfe not utf-8", b"[1, 2]", b'"text"', b"{" * 5000, b"9" * 5000,
                                  b'{"PipelineName": NaN}'])
def test_bodies_that_cannot_be_read_are_serialization_errors(localcloud: LocalCloud, body: bytes) -> None:
    status, parsed = answer(localcloud, sagemaker_request("ListPipelines", body))
    assert status == 400
    assert parsed["__type"] == "SerializationException"


def test_a_large_put_metric_data_compressed_by_the_sdk_is_stored(localcloud: LocalCloud) -> None:
    """botocore gzips PutMetricData bodies over 10 KB (the operation's requestcompression trait)."""
    cw, namespace = localcloud.client("cloudwatch"), f"Test/Gzip{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC)
    cw.put_metric_data(Namespace=namespace, MetricData=[
        {"MetricName": "Big", "Dimensions": [{"Name": "Part", "Value": str(n % 7)}], "Timestamp": now,
         "Value": float(n)} for n in range(500)])  # about 60 KB of JSON
    assert len(cw.list_metrics(Namespace=namespace)["Metrics"]) == 7


@pytest.mark.parametrize(("body", "status", "code"), [
    (b"not gzip at all", 400, "SerializationException"),
    (gzip.compress(b"{" + b" " * (17 * 1024 * 1024) + b"}"), 413, "RequestEntityTooLarge")])  # a small bomb
def test_gzip_bodies_that_cannot_be_read_are_refused(localcloud: LocalCloud, body: bytes, status: int,
                                                    code: str) -> None:
    found, parsed = answer(localcloud, sagemaker_request("ListPipelines", body, headers=(
        ("Content-Encoding", "gzip"),)))
    assert (found, parsed["__type"]) == (status, code), parsed


@pytest.mark.parametrize("service", ["sagemaker", "s3", "iam", "sns", "sqs", "logs", "events", "cloudwatch", "lambda"])
def test_an_unknown_region_is_refused_like_aws_for_every_service(localcloud: LocalCloud, service: str) -> None:
    client = boto3.client(service, endpoint_url=localcloud.url, region_name="xx-nowhere-9",
                          aws_access_key_id="test", aws_secret_access_key="test")
    call = {"sagemaker": "list_pipelines", "s3": "list_buckets", "iam": "list_roles", "sns": "list_topics",
            "sqs": "list_queues", "logs": "describe_log_groups", "events": "list_rules",
            "cloudwatch": "list_metrics", "lambda": "list_functions"}[service]
    with pytest.raises(ClientError) as e:
        getattr(client, call)()
    assert "valid region, not 'xx-nowhere-9'" in e.value.response["Error"]["Message"]
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] in (400, 403)


def test_an_unknown_operation_is_refused_like_aws(localcloud: LocalCloud) -> None:
    status, body = answer(localcloud, sagemaker_request("NoSuchAction", {}))
    assert (status, body["__type"]) == (400, "UnknownOperationException")
    request = Request("POST", "/", (("X-Amz-Target", "Nonsense.Thing"), ("Content-Length", "2")), b"{}", "x")
    status, body = answer(localcloud, request)
    assert (status, body["__type"]) == (400, "UnknownOperationException")


def test_an_unknown_query_action_is_invalid_action(localcloud: LocalCloud) -> None:
    body = b"Action=NoSuchThing&Version=2010-05-08"
    status, parsed = answer(localcloud, Request("POST", "/", (
        ("Content-Type", "application/x-www-form-urlencoded"), ("Content-Length", str(len(body))),
        ("Authorization", SIGNED.format(region=REGION, service="iam"))), body, "iam"))
    assert status == 400
    assert "<Code>InvalidAction</Code>" in parsed["raw"]


def test_odd_s3_methods_are_method_not_allowed(localcloud: LocalCloud) -> None:
    for method in ("PROPFIND", "PATCH", "TRACE", "FOO"):
        status, _ = send(localcloud.port, Request(method, "/some-bucket/key", (), b"", method))
        assert status == 405, method


def test_an_s3_copy_source_that_is_not_bucket_and_key_is_invalid_argument(localcloud: LocalCloud) -> None:
    localcloud.client("s3").create_bucket(Bucket="copy-source-check")
    for source in ("???/x", "/", "bucket-only", "?versionId=1"):
        request = Request("PUT", "/copy-source-check/b", (
            ("x-amz-copy-source", source), ("Content-Length", "0"),
            ("Authorization", SIGNED.format(region=REGION, service="s3"))), b"", "s3")
        status, body = answer(localcloud, request)
        assert status == 400, (source, body)
        assert "<Code>InvalidArgument</Code>" in body["raw"]


def test_s3_metadata_keeps_underscores_and_case(localcloud: LocalCloud) -> None:
    s3 = localcloud.client("s3")
    s3.create_bucket(Bucket="metadata-check")
    s3.put_object(Bucket="metadata-check", Key="k", Body=b"x", Metadata={"my_key": "v", "other-key": "w"})
    assert s3.head_object(Bucket="metadata-check", Key="k")["Metadata"] == {"my_key": "v", "other-key": "w"}


def test_an_operation_moto_lacks_answers_501_not_500(localcloud: LocalCloud) -> None:
    status, body = answer(localcloud, Request("POST", "/", (
        ("X-Amz-Target", "TrentService.DescribeCustomKeyStores"), ("Content-Type", "application/x-amz-json-1.1"),
        ("Authorization", SIGNED.format(region=REGION, service="kms")), ("Content-Length", "2")), b"{}", "kms"))
    assert status == 501
    assert body["__type"] == "NotImplemented"
    assert "DescribeCustomKeyStores" in body["message"]


@pytest.mark.parametrize(("service", "operation", "action"), [
    ("cloudwatch", "describe_anomaly_detectors", "DescribeAnomalyDetectors"),  # CloudWatch's protocol
    ("sagemaker", "list_inference_recommendations_jobs", "ListInferenceRecommendationsJobs"),  # JSON protocol
])
def test_operations_localcloud_lacks_say_so_by_name_through_the_sdk(localcloud: LocalCloud, service: str,
                                                                    operation: str, action: str) -> None:
    with pytest.raises(ClientError) as caught:
        getattr(localcloud.client(service), operation)()
    error = caught.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 501
    assert error["Error"]["Code"] == "NotImplemented" and action in error["Error"]["Message"]


def _definition(step_type: str = '"Fail"', default: str = "1", arguments: str = '{"ErrorMessage": "x"}') -> str:
    return ('{"Version": "2020-12-01", "Parameters": [{"Name": "N", "Type": "Integer", "DefaultValue": 1}, '
            '{"Name": "F", "Type": "Float", "DefaultValue": ' + default + '}], '
            '"Steps": [{"Name": "S", "Type": ' + step_type + ', "Arguments": ' + arguments + "}]}")


@pytest.mark.parametrize("definition", [
    _definition(arguments='{"ErrorMessage": ' + "9" * 5000 + "}"),
    _definition(arguments='{"ErrorMessage": ' + "[" * 1000 + "]" * 1000 + "}"),
    _definition(default="1" + "0" * 400),
    _definition(step_type='{"Training": 1}'),
    _definition(step_type='"Training"', arguments="{}"),
], ids=["4300-digit-integer", "deep-nesting", "huge-float-default", "object-type", "empty-training-arguments"])
def test_hostile_definitions_are_validation_errors_at_create(localcloud: LocalCloud, definition: str) -> None:
    sm = localcloud.client("sagemaker")
    with pytest.raises(ClientError) as e:
        sm.create_pipeline(PipelineName=f"hostile-{int(time.time() * 1e6)}", RoleArn=ROLE,
                           PipelineDefinition=definition)
    assert e.value.response["Error"]["Code"] == "ValidationException"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_a_huge_integer_override_is_a_validation_error(localcloud: LocalCloud) -> None:
    sm = localcloud.client("sagemaker")
    name = f"override-{int(time.time() * 1e6)}"
    sm.create_pipeline(PipelineName=name, RoleArn=ROLE, PipelineDefinition=_definition())
    for value in ("9" * 5000, str(2**64)):
        with pytest.raises(ClientError) as e:
            sm.start_pipeline_execution(PipelineName=name, PipelineParameters=[{"Name": "N", "Value": value}])
        assert e.value.response["Error"]["Code"] == "ValidationException"
    assert sm.list_pipeline_executions(PipelineName=name)["PipelineExecutionSummaries"] == []
