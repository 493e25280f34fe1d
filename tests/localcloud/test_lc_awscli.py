"""The AWS CLI works against localcloud unchanged (`--endpoint-url`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from lc_fixtures import Workspace
from support import LocalCloud, wait_until

AWS = str(Path(sys.executable).with_name("aws"))


def aws(cloud: LocalCloud, *args: str) -> dict:
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_PAGER": ""}
    out = subprocess.run([AWS, "--endpoint-url", cloud.url, "--output", "json", *args], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout) if out.stdout.lstrip().startswith("{") else {}


def test_pipeline_through_the_aws_cli(localcloud: LocalCloud, tmp_path: Path) -> None:
    ws = Workspace(localcloud)
    step = {"Name": "Hello", "Type": "Processing", "Arguments": ws.processing(
        ["python3", "-c", "import os; os.makedirs('/opt/ml/processing/out', exist_ok=True); "
                          "open('/opt/ml/processing/out/hello.txt', 'w').write('hi from a job')"],
        [], [("out", ws.uri("cli-out"), "/opt/ml/processing/out")])}
    definition = tmp_path / "definition.json"
    definition.write_text(json.dumps({"Version": "2020-12-01", "Steps": [step]}))
    aws(localcloud, "sagemaker", "create-pipeline", "--pipeline-name", f"cli-{ws.tag}", "--role-arn",
        "arn:aws:iam::123456789012:role/x", "--pipeline-definition", f"file://{definition}")
    arn = aws(localcloud, "sagemaker", "start-pipeline-execution", "--pipeline-name", f"cli-{ws.tag}")[
        "PipelineExecutionArn"]

    def finished() -> str | None:
        status = aws(localcloud, "sagemaker", "describe-pipeline-execution", "--pipeline-execution-arn", arn)[
            "PipelineExecutionStatus"]
        return None if status == "Executing" else status

    assert wait_until(finished, 60, 0.3) == "Succeeded"
    steps = aws(localcloud, "sagemaker", "list-pipeline-execution-steps", "--pipeline-execution-arn", arn)
    assert [s["StepStatus"] for s in steps["PipelineExecutionSteps"]] == ["Succeeded"]
    target = tmp_path / "hello.txt"
    aws(localcloud, "s3", "cp", f"s3://{ws.bucket}/cli-out/hello.txt", str(target))
    assert target.read_text() == "hi from a job"
