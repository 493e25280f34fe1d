"""Running the project's pinned CDK CLI from tests: offline for synth, against a localcloud for deploys."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from support import ROOT

CDK = ROOT / "node_modules" / ".bin" / "cdk"


def _node_major() -> str:
    return subprocess.run(["node", "-p", "process.versions.node.split('.')[0]"], capture_output=True, text=True,
                          check=True).stdout.strip()


def cdk_env(home: Path, endpoint_url: str | None = None) -> dict[str, str]:
    """No AWS credentials, config or profile unless `endpoint_url` names a localcloud: nothing reaches AWS."""
    major = _node_major()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CDK_"))}
    env.update({"CDK_HOME": str(home), "NODE_NO_WARNINGS": "1", "AWS_CONFIG_FILE": os.devnull,
                "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
                **{f"JSII_SILENCE_WARNING_{k}_NODE_VERSION": major for k in ("DEPRECATED", "END_OF_LIFE", "UNTESTED")}})
    if endpoint_url:
        env.update({"AWS_ENDPOINT_URL": endpoint_url, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
                    "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1"})
    return env


def cdk(args: list[str], env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """`cdk <args>` from the project root, output captured."""
    return subprocess.run([str(CDK), *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
