"""`cdk deploy` of the whole stack into a fresh localcloud, and a no-change redeploy, with the real CDK CLI.

    .venv/bin/python bench/cdk_deploy.py

Targets (issue "infra", 2 cores): a full deploy after bootstrap in at most 30 s, a no-change
redeploy in at most 10 s. Both include synthesizing the app, as `cdk deploy` always does (the
pipeline definition comes from its cache after the first synth, as on a developer's machine).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from localcloud.launcher import LocalCloud
from sagestack import cdk
from sagestack.settings import describe_stack
from sagestack.target import Target


def _timed(target: Target, args: list[str]) -> float:
    lines: list[str] = []
    started = time.perf_counter()
    try:
        cdk.run(target, args, lines.append)
    except Exception:
        print("\n".join(lines[-30:]), file=sys.stderr)
        raise
    return time.perf_counter() - started


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-cdk-") as tmp:
        cloud = LocalCloud.start(Path(tmp) / "localcloud")
        try:
            target = Target.build(aws=False, endpoint_url=cloud.url, region=None, profile=None)
            _timed(target, ["bootstrap", "aws://123456789012/us-east-1"])
            deploy = ["deploy", "SageStack-local", *cdk.stage_args("local"), "--require-approval", "never"]
            full = _timed(target, deploy)
            status = describe_stack(target.client("cloudformation"), "SageStack-local").status
            again = _timed(target, deploy)
        finally:
            cloud.stop()
    print(f"{'cdk deploy, whole stack, fresh localcloud':<46} {full:6.1f} s  [target <= 30 s: "
          f"{'PASS' if full <= 30 else 'MISS'}]  ({status})")
    print(f"{'cdk deploy, no change':<46} {again:6.1f} s  [target <= 10 s: {'PASS' if again <= 10 else 'MISS'}]")


if __name__ == "__main__":
    main()
