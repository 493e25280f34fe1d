"""`sagestack logs job/execution/endpoint`: what SageMaker (here localcloud) shipped to CloudWatch Logs."""

from __future__ import annotations

import json
import re
import time
import uuid

from botocore.exceptions import ClientError
from cli_support import SKLEARN_IMAGE, invoke
from support import LocalCloud

ROLE = "arn:aws:iam::123456789012:role/logs-test"


def _processing(script: str) -> dict:
    return {"ProcessingResources": {"ClusterConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1,
                                                      "VolumeSizeInGB": 1}},
            "AppSpecification": {"ImageUri": SKLEARN_IMAGE, "ContainerEntrypoint": ["python3", "-c", script]},
            "RoleArn": ROLE}


def test_following_a_job_prints_its_lines_until_it_ends(localcloud: LocalCloud) -> None:
    name = f"talker-{uuid.uuid4().hex[:8]}"
    script = "import time; [(print('line', i, flush=True), time.sleep(0.3)) for i in range(3)]"
    localcloud.client("sagemaker").create_processing_job(ProcessingJobName=name, **_processing(script))
    result = invoke(["--endpoint-url", localcloud.url, "logs", "job", name, "--follow", "--poll", "0.2"])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stdout.splitlines() if " line " in line]
    assert [line.split(" ", 1)[1] for line in lines] == ["line 0", "line 1", "line 2"]  # each once, in order
    assert all(re.match(r"\d\d:\d\d:\d\d ", line) for line in lines)
    missing = invoke(["--endpoint-url", localcloud.url, "logs", "job", "no-such-job-x"])
    assert missing.exit_code == 1 and "no processing, training or transform job is named" in missing.stderr


def test_an_executions_log_labels_each_line_with_its_step(localcloud: LocalCloud) -> None:
    sm = localcloud.client("sagemaker")
    pipeline = f"logs-{uuid.uuid4().hex[:8]}"
    steps = [{"Name": name, "Type": "Processing", "Arguments": _processing(f"print('hello from {name}')"),
              **({"DependsOn": ["First"]} if name == "Second" else {})} for name in ("First", "Second")]
    sm.create_pipeline(PipelineName=pipeline, RoleArn=ROLE,
                       PipelineDefinition=json.dumps({"Version": "2020-12-01", "Steps": steps}))
    arn = sm.start_pipeline_execution(PipelineName=pipeline)["PipelineExecutionArn"]
    result = invoke(["--endpoint-url", localcloud.url, "--pipeline", pipeline, "logs", "execution",
                     arn.rsplit("/", 1)[-1], "--follow", "--poll", "0.2"])
    assert result.exit_code == 0, result.output
    assert re.search(r"\[First\] hello from First", result.stdout), result.stdout
    assert re.search(r"\[Second\] hello from Second", result.stdout), result.stdout
    assert result.stdout.index("hello from First") < result.stdout.index("hello from Second")


def test_a_jobs_log_is_its_streams_only(localcloud: LocalCloud) -> None:
    """SageMaker names a job's streams `<job>/...`: reading one job's log is a stream-prefix filter, which
    localcloud honours as CloudWatch Logs does (and refuses beside logStreamNames, as AWS does)."""
    logs, group, tag = localcloud.client("logs"), f"/test/prefix-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex[:8]
    logs.create_log_group(logGroupName=group)
    for stream in (f"job-{tag}/algo-1", f"job-{tag}-2/algo-1", f"other-{tag}/algo-1"):
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
        logs.put_log_events(logGroupName=group, logStreamName=stream,
                            logEvents=[{"timestamp": int(time.time() * 1000), "message": f"from {stream}"}])

    def read(prefix: str) -> list[str]:
        return [e["message"] for e in logs.filter_log_events(logGroupName=group, logStreamNamePrefix=prefix)["events"]]

    assert sorted(read(f"job-{tag}/")) == [f"from job-{tag}/algo-1"]
    assert sorted(read(f"job-{tag}")) == [f"from job-{tag}-2/algo-1", f"from job-{tag}/algo-1"]
    assert read("nothing-matches") == []
    try:
        logs.filter_log_events(logGroupName=group, logStreamNamePrefix="job", logStreamNames=[f"job-{tag}/algo-1"])
    except ClientError as e:
        assert e.response["Error"]["Code"] == "InvalidParameterException"
    else:
        raise AssertionError("a prefix beside stream names was accepted")
