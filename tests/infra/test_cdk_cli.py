"""The pinned CDK CLI synthesizes the app offline (guards the aws-cdk 2.x pin and cdk.json)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from support import ROOT


def test_cdk_synth_with_the_pinned_cli(tmp_path: Path) -> None:
    env = {**os.environ, "CDK_HOME": str(tmp_path / "cdk-home"), "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "1",
           "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1"}
    out = subprocess.run([str(ROOT / "node_modules" / ".bin" / "cdk"), "synth", "--quiet", "--output",
                          str(tmp_path / "cdk.out")], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    template = json.loads((tmp_path / "cdk.out" / "SageStack-local.template.json").read_text())
    types = {r["Type"] for r in template["Resources"].values()}
    assert {"AWS::KMS::Key", "AWS::S3::Bucket", "AWS::S3::BucketPolicy"} <= types
    manifest = json.loads((tmp_path / "cdk.out" / "manifest.json").read_text())
    assert manifest["artifacts"]["SageStack-local"]["environment"] == "aws://123456789012/us-east-1"
