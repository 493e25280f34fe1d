"""Targeting: localcloud by default and only on loopback; real AWS only with --aws."""

from __future__ import annotations

import json

import pytest
import urllib3.util.connection
from cli_support import invoke
from support import LocalCloud, wait_until

from sagestack.errors import SagestackError
from sagestack.settings import Overrides, resolve
from sagestack.target import DEFAULT_ENDPOINT_URL, Target, is_loopback_url


@pytest.mark.parametrize("url", ["http://127.0.0.1:4566", "http://localhost:4566", "https://127.8.9.10",
                                 "http://[::1]:4566/"])
def test_loopback_urls_are_accepted(url: str) -> None:
    assert is_loopback_url(url)
    assert Target.build(aws=False, endpoint_url=url, region=None, profile=None).endpoint_url == url.rstrip("/")


@pytest.mark.parametrize("url", ["https://sagemaker.us-east-1.amazonaws.com", "http://10.0.0.5:4566",
                                 "http://127.0.0.1.nip.io:4566", "ftp://127.0.0.1", "127.0.0.1:4566",
                                 "http://localhost.localstack.cloud:4566", "http://127.0.0.1:99999"])
def test_anything_else_is_refused_without_aws(url: str) -> None:
    assert not is_loopback_url(url)
    with pytest.raises(SagestackError, match=r"refusing to use .* without --aws"):
        Target.build(aws=False, endpoint_url=url, region=None, profile=None)


def test_local_target_ignores_profiles_config_and_endpoint_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_PROFILE", "does-not-exist-here")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "https://example.com")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAREALLOOKINGKEY")
    target = Target.build(aws=False, endpoint_url=None, region=None, profile=None)
    client = target.client("sagemaker")
    assert client.meta.endpoint_url == DEFAULT_ENDPOINT_URL
    assert client.meta.region_name == "us-east-1"
    assert target.session.get_credentials().access_key == "123456789012"  # LocalStack's account key, too
    assert target.account_id == "123456789012"


def test_a_split_target_sends_sagemaker_to_localcloud_and_the_rest_to_its_backplane() -> None:
    target = Target.build(aws=False, endpoint_url="http://127.0.0.1:4566", region=None, profile=None,
                          sagemaker_url="http://127.0.0.1:4567/")
    assert target.client("sagemaker").meta.endpoint_url == "http://127.0.0.1:4567"
    assert target.client("sagemaker-runtime").meta.endpoint_url == "http://127.0.0.1:4567"
    assert target.client("s3").meta.endpoint_url == "http://127.0.0.1:4566"
    assert "backplane at http://127.0.0.1:4566" in target.description
    with pytest.raises(SagestackError, match=r"refusing to use https://sagemaker\.example\.com"):
        Target.build(aws=False, endpoint_url=None, region=None, profile=None,
                     sagemaker_url="https://sagemaker.example.com")
    with pytest.raises(SagestackError, match="exclude each other"):
        Target.build(aws=True, endpoint_url=None, region=None, profile=None, sagemaker_url="http://127.0.0.1:4567")


def test_aws_target_uses_aws_endpoints_even_with_an_endpoint_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER", "http://127.0.0.1:4566")
    target = Target.build(aws=True, endpoint_url=None, region="eu-west-1", profile=None)
    sagemaker = target.client("sagemaker")
    s3 = target.client("s3")
    assert sagemaker.meta.endpoint_url == "https://api.sagemaker.eu-west-1.amazonaws.com"
    assert s3.meta.endpoint_url.endswith(".amazonaws.com")
    assert "127.0.0.1" not in s3.meta.endpoint_url
    assert target.description == "AWS (eu-west-1)"


def test_aws_and_endpoint_url_exclude_each_other() -> None:
    with pytest.raises(SagestackError, match="exclude each other"):
        Target.build(aws=True, endpoint_url="http://127.0.0.1:4566", region=None, profile=None)
    with pytest.raises(SagestackError, match="only used with --aws"):
        Target.build(aws=False, endpoint_url=None, region=None, profile="prod")


def test_cli_refuses_a_remote_url_before_any_request() -> None:
    result = invoke(["--endpoint-url", "https://sagemaker.us-east-1.amazonaws.com", "model", "list"])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: refusing to use https://sagemaker.us-east-1.amazonaws.com without --aws")
    assert "Traceback" not in result.output


def test_cli_env_endpoint_and_aws_flag_conflict() -> None:
    result = invoke(["--aws", "model", "list"], env={"SAGESTACK_ENDPOINT_URL": "http://127.0.0.1:4566"})
    assert result.exit_code == 1
    assert "exclude each other" in result.stderr


def _no_network(*args: object, **kwargs: object) -> None:
    raise AssertionError(f"a test tried to open a connection: {args}")


def test_aws_without_credentials_is_one_line_and_sends_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("SAGESTACK_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE",
                "AWS_SESSION_TOKEN", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                "AWS_WEB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/config")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setattr(urllib3.util.connection, "create_connection", _no_network)
    result = invoke(["--aws", "--region", "us-east-1", "model", "list"])
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("error: no AWS credentials found")
    assert len(result.stderr.strip().splitlines()) == 1


def test_aws_with_a_missing_profile_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SAGESTACK_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/config")
    monkeypatch.setattr(urllib3.util.connection, "create_connection", _no_network)
    result = invoke(["--aws", "--profile", "nope-7c1", "pipeline", "list"])
    assert result.exit_code == 1
    assert result.stderr.strip() == "error: The config profile (nope-7c1) could not be found"


def test_settings_come_from_the_stages_stack_and_overrides_win(localcloud: LocalCloud) -> None:
    """A stack named as the CDK app names a stage's, with the outputs the CLI reads."""
    cf = localcloud.client("cloudformation")
    template = {"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}, "Outputs": {
        "PipelineName": {"Value": "pipe-from-stack"}, "ModelPackageGroupName": {"Value": "group-from-stack"},
        "DataBucket": {"Value": "bucket-from-stack"}, "AlertTopicArn": {"Value": {"Ref": "Topic"}}}}
    cf.create_stack(StackName="SageStack-dev", TemplateBody=json.dumps(template))
    assert wait_until(lambda: cf.describe_stacks(StackName="SageStack-dev")["Stacks"][0]["StackStatus"] ==
                      "CREATE_COMPLETE", 30)
    target = Target.build(aws=False, endpoint_url=localcloud.url, region=None, profile=None)
    s = resolve(target, Overrides(stage="dev", pipeline_name="mine"), cf)
    assert (s.stage, s.stack.name, s.stack.status) == ("dev", "SageStack-dev", "CREATE_COMPLETE")
    assert (s.need("pipeline_name"), s.need("model_package_group"), s.need("bucket")) == (
        "mine", "group-from-stack", "bucket-from-stack")
    assert s.alert_topic_arn.startswith("arn:aws:sns:us-east-1:123456789012:SageStack-dev-Topic")
    assert ("pipeline_name", "mine", "override") in s.sources()
    with pytest.raises(SagestackError, match=r"stack SageStack-dev \(CREATE_COMPLETE\) has no output EndpointName"):
        s.need("endpoint_name")
    missing = resolve(target, Overrides(stage="prod"), cf)
    assert not missing.stack.exists
    with pytest.raises(SagestackError, match=r"stack SageStack-prod is not deployed on localcloud at .*: deploy it "
                                             r"with `sagestack --stage prod deploy` or set --model-package-group"):
        missing.need("model_package_group")
    cf.delete_stack(StackName="SageStack-dev")


def test_overrides_reject_bad_names_naming_each() -> None:
    with pytest.raises(SagestackError) as e:
        Overrides(stage="qa", bucket="Bad_Bucket", model_package_group="g", pipeline_name="two--ok",
                  endpoint_name="no spaces")
    message = str(e.value)
    for fragment in ("stage 'qa' is not one of local, dev, prod", "bucket 'Bad_Bucket'", "endpoint_name 'no spaces'"):
        assert fragment in message
    assert "pipeline_name" not in message


def test_bad_names_from_options_fail_before_any_request() -> None:
    result = invoke(["--endpoint-url", "http://127.0.0.1:9", "--endpoint-name", "bad name!", "endpoint", "status"])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: invalid settings: endpoint_name 'bad name!'")
