"""Checks on every synth, with the pinned CDK CLI: offline, deterministic, cdk-nag clean, cfn-lint clean."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from cdk_support import cdk, cdk_env


@pytest.fixture(scope="module", params=["local", "prod"])
def synthesized(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path, str]:
    """The stage's cloud assembly, and what `cdk synth` said while making it (no credentials: offline)."""
    stage = request.param
    out = tmp_path_factory.mktemp(f"cdk-{stage}")
    result = cdk(["synth", "--quiet", "--context", f"sagestack:stage={stage}", "--output", str(out / "assembly")],
                 cdk_env(out / "home"))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return stage, out / "assembly", result.stdout + result.stderr


def test_synth_passes_cdk_nag_with_no_unsuppressed_finding(synthesized: tuple[str, Path, str]) -> None:
    stage, assembly, said = synthesized
    assert "AwsSolutions-" not in said, said[-3000:]  # AwsSolutionsChecks report every finding by its rule id
    metadata = json.loads((assembly / f"SageStack-{stage}.metadata.json").read_text()) \
        if (assembly / f"SageStack-{stage}.metadata.json").exists() else {}
    manifest = json.loads((assembly / "manifest.json").read_text())
    entries = [e for artifact in manifest["artifacts"].values() for path in (artifact.get("metadata") or {}).values()
               for e in path] + [e for path in metadata.values() for e in path]
    assert not [e for e in entries if e.get("type") in ("aws:cdk:error", "aws:cdk:warning")], entries


def test_the_template_is_cfn_lint_clean(synthesized: tuple[str, Path, str]) -> None:
    stage, assembly, _ = synthesized
    template = assembly / f"SageStack-{stage}.template.json"
    lint = subprocess.run([str(Path(sys.executable).parent / "cfn-lint"), "--", str(template)], capture_output=True,
                          text=True, timeout=300)
    assert lint.returncode == 0, lint.stdout[-3000:] + lint.stderr[-2000:]


def test_synth_is_deterministic(synthesized: tuple[str, Path, str], tmp_path: Path) -> None:
    stage, assembly, _ = synthesized
    again = cdk(["synth", "--quiet", "--context", f"sagestack:stage={stage}", "--output", str(tmp_path / "again")],
                cdk_env(tmp_path / "home"))
    assert again.returncode == 0, again.stderr[-3000:]
    name = f"SageStack-{stage}.template.json"
    assert (tmp_path / "again" / name).read_bytes() == (assembly / name).read_bytes()
    assets = sorted(p.name for p in assembly.glob("asset.*"))
    assert assets and assets == sorted(p.name for p in (tmp_path / "again").glob("asset.*"))


def test_the_local_stage_targets_localclouds_account(synthesized: tuple[str, Path, str]) -> None:
    stage, assembly, _ = synthesized
    manifest = json.loads((assembly / "manifest.json").read_text())
    expected = "aws://123456789012/us-east-1" if stage == "local" else "aws://unknown-account/us-east-1"
    assert manifest["artifacts"][f"SageStack-{stage}"]["environment"] == expected
