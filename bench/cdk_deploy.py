"""`cdk deploy` of the whole stack into a fresh localcloud, and a no-change redeploy, with the real CDK CLI.

    .venv/bin/python bench/cdk_deploy.py

Targets (issue "infra", 2 cores): a full deploy after bootstrap in at most 30 s, a no-change
redeploy in at most 10 s. Both include synthesizing the app, as `cdk deploy` always does (the
pipeline definition comes from its cache after the first synth, as on a developer's machine).
"""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from sagestack import cdk
from sagestack.settings import describe_stack
from sagestack.target import Target

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_localcloud/health", timeout=1) as r:
            return r.status == 200
    except OSError:
        return False


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
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        log = (Path(tmp) / "localcloud.log").open("wb")
        server = subprocess.Popen([sys.executable, "-m", "localcloud", "--port", str(port), "--data-dir",
                                   str(Path(tmp) / "data")], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 30
            while not _healthy(url):
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit(f"localcloud did not start; see {log.name}")
                time.sleep(0.05)
            target = Target.build(aws=False, endpoint_url=url, region=None, profile=None)
            _timed(target, ["bootstrap", "aws://123456789012/us-east-1"])
            deploy = ["deploy", "SageStack-local", *cdk.stage_args("local"), "--require-approval", "never"]
            full = _timed(target, deploy)
            status = describe_stack(target.client("cloudformation"), "SageStack-local").status
            again = _timed(target, deploy)
        finally:
            server.terminate()
            server.wait(30)
            log.close()
    print(f"{'cdk deploy, whole stack, fresh localcloud':<46} {full:6.1f} s  [target <= 30 s: "
          f"{'PASS' if full <= 30 else 'MISS'}]  ({status})")
    print(f"{'cdk deploy, no change':<46} {again:6.1f} s  [target <= 10 s: {'PASS' if again <= 10 else 'MISS'}]")


if __name__ == "__main__":
    main()
