"""The pure parts of localcloud's front door, without a server: the access policy, the shape checker,
the protocol decoders and the last-resort error handler."""

from __future__ import annotations

import io
import json
import logging

import botocore.session
import pytest

from localcloud.api import decode, shapes
from localcloud.api.errors import ApiError
from localcloud.api.identify import credential_scope, identify
from localcloud.front import guarded
from localcloud.guard import AccessPolicy, is_loopback_name

_session = botocore.session.get_session()
SAGEMAKER = _session.get_service_model("sagemaker")
IAM = _session.get_service_model("iam")


# ------------------------------------------------------------------------------------------ access policy


@pytest.mark.parametrize("host", ["localhost", "LOCALHOST.", "bucket.localhost", "127.0.0.1", "127.8.9.10", "::1",
                                  "[::1]"])
def test_loopback_names(host: str) -> None:
    assert is_loopback_name(host)


@pytest.mark.parametrize("host", ["evil.example", "localhost.evil.example", "127.0.0.1.nip.io", "10.0.0.1",
                                  "0.0.0.0", "", "[::2]"])
def test_not_loopback_names(host: str) -> None:
    assert not is_loopback_name(host)


def test_policy_refuses_foreign_hosts_and_origins_and_allows_named_ones() -> None:
    policy = AccessPolicy.build(hosts=["cloud.internal"], origins=["https://console.example:8443"])
    assert policy.refusal("localhost:4566", None, None) is None
    assert policy.refusal("cloud.internal:4566", None, None) is None
    assert "Host" in (policy.refusal("evil.example", None, None) or "")
    assert "no Host" in (policy.refusal(None, None, None) or "")
    assert policy.refusal("localhost", "http://localhost:3000", None) is None
    assert policy.refusal("localhost", "https://console.example:8443", None) is None
    for origin in ("https://console.example", "https://evil.example", "null", "file://", "http://localhost.evil"):
        assert "Origin" in (policy.refusal("localhost", origin, None) or ""), origin
    assert policy.refusal("localhost", None, "cross-site") is not None
    assert policy.refusal("localhost", None, "same-origin") is None
    assert AccessPolicy.build(origins=["*"]).refusal("localhost", "https://anything.example", "cross-site") is None
    with pytest.raises(ValueError, match="not an origin"):
        AccessPolicy.build(origins=["console.example"])


# ------------------------------------------------------------------------------------------ shape checks


def _input(operation: str, model=SAGEMAKER):
    return model.operation_model(operation).input_shape


def test_constraints_are_worded_as_aws_words_them() -> None:
    problems = shapes.check({"ProcessingJobName": "../x", "RoleArn": "r", "AppSpecification": {"ImageUri": "i"},
                             "ProcessingResources": {"ClusterConfig": {"InstanceCount": 0, "InstanceType": "nope",
                                                                       "VolumeSizeInGB": 1}}},
                            _input("CreateProcessingJob"))
    sentences = [p.sentence() for p in problems]
    assert any(s.startswith("Value '../x' at 'processingJobName' failed to satisfy constraint: Member must satisfy "
                            "regular expression pattern") for s in sentences), sentences
    assert any("'processingResources.clusterConfig.instanceCount' failed to satisfy constraint: Member must have "
               "value greater than or equal to 1" in s for s in sentences), sentences
    assert any("'processingResources.clusterConfig.instanceType' failed to satisfy constraint: Member must satisfy "
               "enum value set" in s for s in sentences), sentences
    assert any("'roleArn' failed to satisfy constraint: Member must have length greater than or equal to 20" in s
               for s in sentences), sentences


def test_required_members_list_items_and_types() -> None:
    problems = shapes.check({"Tags": [{"Key": "k"}, None], "PipelineName": 7}, _input("CreatePipeline"))
    by_path = {p.path: p for p in problems}
    assert by_path["pipelineName"].kind == "type"
    assert by_path["roleArn"].constraint == "Member must not be null"
    assert by_path["tags.1.member.value"].constraint == "Member must not be null"
    assert by_path["tags.2.member"].constraint == "Member must not be null"


@pytest.mark.parametrize("value", [True, 1.5, 2**31, "1", None])
def test_integers_must_be_32_bit_integers(value: object) -> None:
    problems = shapes.check({"MaxResults": value}, _input("ListPipelines"))
    assert (problems == []) == (value is None)


def test_deep_values_stop_at_the_depth_limit() -> None:
    deep: object = "x"
    for _ in range(200):
        deep = {"NestedFilters": [deep]}
    problems = shapes.check({"Resource": "TrainingJob", "SearchExpression": deep}, _input("Search"))
    assert problems  # refused (by type or depth), without exhausting the stack


def test_java_patterns_compile_including_supplementary_ranges() -> None:
    for text in (r"[\u0020-\uD7FF\uE000-\uFFFD\uD800\uDC00-\uDBFF\uDFFF\t]*", r"\p{ASCII}*", r"\A\S[\p{Print}]*\z"):
        assert shapes.pattern(text) is not None
    assert shapes.pattern(r"[\u0020-\uD7FF\uE000-\uFFFD\uD800\uDC00-\uDBFF\uDFFF\t]*").fullmatch("ok 🙂")


def test_placeholders_stand_for_any_value() -> None:
    problems = shapes.check({"ProcessingJobName": {"Get": "Parameters.Name"}}, _input("CreateProcessingJob"),
                            skip_required={"RoleArn", "AppSpecification", "ProcessingResources"},
                            placeholder=lambda v: isinstance(v, dict) and "Get" in v)
    assert problems == []


# ------------------------------------------------------------------------------------------ decoding


def test_query_fields_unflatten_along_the_shape() -> None:
    fields = {"Action": "CreateRole", "RoleName": "r", "AssumeRolePolicyDocument": "{}", "MaxSessionDuration": "x",
              "Tags.member.1.Key": "a", "Tags.member.1.Value": "b", "Tags.member.2.Key": "c"}
    value, problems = decode.unflatten(fields, _input("CreateRole", IAM))
    assert value["Tags"] == [{"Key": "a", "Value": "b"}, {"Key": "c"}]
    assert [p.path for p in problems] == ["maxSessionDuration"]


@pytest.mark.parametrize("raw", [b"Action=%FF", b"a=" + b"&b=".join([b"1"] * 6000)])
def test_unreadable_query_bodies_are_refused(raw: bytes) -> None:
    with pytest.raises(ApiError):
        decode.query_fields(raw, "")


@pytest.mark.parametrize("raw", [b"\xff", b"[]", b"1" * 5000, b"[" * 100_000, b"{} {}", b'{"a": Infinity}'])
def test_unreadable_json_bodies_are_refused(raw: bytes) -> None:
    with pytest.raises(ApiError) as e:
        decode.json_body(raw)
    assert e.value.code == "SerializationException"


def test_rest_requests_match_the_most_specific_operation() -> None:
    from localcloud.api import models

    s3 = models.service("s3")
    found = decode.match_rest(s3, "PUT", "/b/k", {}, {"x-amz-copy-source": "a/b"})
    assert found is not None and found[0].name == "CopyObject"
    found = decode.match_rest(s3, "PUT", "/b/k", {}, {})
    assert found is not None and found[0].name == "PutObject"
    found = decode.match_rest(s3, "GET", "/b", {"list-type": ["2"]}, {})
    assert found is not None and found[0].name == "ListObjectsV2"
    found = decode.match_rest(s3, "GET", "/b/dir/key.txt", {"tagging": [""]}, {})
    assert found is not None and found[0].name == "GetObjectTagging" and found[1]["Key"] == "dir/key.txt"


def test_identify_by_target_scope_and_path() -> None:
    def ident(environ: dict):
        return identify(environ, lambda: {"Version": "2010-05-08"})

    call = ident({"HTTP_X_AMZ_TARGET": "SageMaker.ListPipelines", "PATH_INFO": "/"})
    assert (call.service.name, call.protocol, call.target) == ("sagemaker", "json", "ListPipelines")
    auth = "AWS4-HMAC-SHA256 Credential=AK/20260101/eu-west-1/sagemaker/aws4_request, SignedHeaders=host"
    call = ident({"HTTP_AUTHORIZATION": auth, "PATH_INFO": "/endpoints/e/invocations"})
    assert (call.service.name, call.region) == ("sagemaker-runtime", "eu-west-1")
    call = ident({"CONTENT_TYPE": "application/x-www-form-urlencoded", "PATH_INFO": "/"})
    assert call.service.name == "iam"
    assert ident({"PATH_INFO": "/bucket/key"}).service.name == "s3"
    assert credential_scope({"QUERY_STRING": "X-Amz-Credential=AK%2F20260101%2Fus-west-2%2Fs3%2Faws4_request"}) \
        == ("us-west-2", "s3")


# ------------------------------------------------------------------------------------------ last resort


def test_an_exception_inside_localcloud_is_an_aws_shaped_500_with_the_traceback_logged(
        caplog: pytest.LogCaptureFixture) -> None:
    def broken(environ: dict, start_response: object) -> list[bytes]:
        raise RuntimeError("a bug 7f3a")

    app = guarded(broken, AccessPolicy.build())
    seen: list[tuple[str, list]] = []
    environ = {"HTTP_HOST": "localhost", "HTTP_X_AMZ_TARGET": "SageMaker.ListPipelines", "REQUEST_METHOD": "POST",
               "PATH_INFO": "/", "wsgi.input": io.BytesIO(b"{}")}
    with caplog.at_level(logging.ERROR, logger="localcloud.front"):
        body = b"".join(app(environ, lambda status, headers: seen.append((status, headers))))
    assert seen[0][0] == "500 Internal Server Error"
    parsed = json.loads(body)
    assert parsed["__type"] == "InternalFailure"
    request_id = parsed["message"].split("request id ")[1].split(";")[0]
    assert "a bug 7f3a" in caplog.text and request_id in caplog.text and "Traceback" in caplog.text


# ------------------------------------------------------------------------------------------ folders


def test_resource_folders_take_only_entity_names_and_stay_under_the_data_dir(tmp_path) -> None:
    from localcloud import settings

    settings.set_data_dir(tmp_path / "data")
    assert settings.resource_dir("jobs", "my-job-1") == (tmp_path / "data" / "jobs" / "my-job-1").resolve()
    for name in ("../../x", "/abs", "a/b", "..", ".", "", "x" * 64, "-x", "x-", "ü", 7):
        with pytest.raises(ValueError, match="not a valid SageMaker resource name"):
            settings.resource_dir("jobs", name)  # type: ignore[arg-type]
    (tmp_path / "data" / "jobs").mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    (tmp_path / "data" / "jobs" / "linked").symlink_to(tmp_path / "outside")
    with pytest.raises(ValueError, match="outside localcloud's data dir"):
        settings.resource_dir("jobs", "linked")


@pytest.mark.parametrize("name", ["../../x", "/abs/x", "x" * 64])
def test_the_backend_refuses_bad_names_from_callers_that_skip_the_api_gate(tmp_path, name: str) -> None:
    """CloudFormation and pipelines call the SageMaker backend directly, past the gate's checks."""
    from moto.sagemaker.exceptions import ValidationError

    from localcloud import settings
    from localcloud.sagemaker.backend import LocalSageMakerBackend
    from localcloud.sagemaker.work import PROCESSING, TRAINING

    settings.set_data_dir(tmp_path / "data")
    backend = LocalSageMakerBackend("us-east-1", "123456789012")
    role = "arn:aws:iam::123456789012:role/r"
    with pytest.raises(ValidationError, match="processingJobName"):
        backend.submit_job(PROCESSING, {"ProcessingJobName": name, "AppSpecification": {"ImageUri": "i"},
                                        "RoleArn": role})
    with pytest.raises(ValidationError, match="trainingJobName"):
        backend.submit_job(TRAINING, {"TrainingJobName": name, "RoleArn": role})
    with pytest.raises(ValidationError, match="endpointConfigName"):
        backend.create_endpoint_config(name, [], None, None, [], None)
    with pytest.raises(ValidationError, match="endpointName"):
        backend.create_endpoint(name, "config", [])
    assert not any(tmp_path.rglob("x"))
