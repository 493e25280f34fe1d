"""`make demo` cleans up after itself when interrupted: nothing it started keeps running."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import IO

import pytest
from support import ROOT, processes_under, wait_until

pytestmark = pytest.mark.localcloud  # starts its own server


def _start_demo(tmp_path: Path) -> tuple[subprocess.Popen[bytes], Path, IO[str]]:
    """`make demo`'s program as its own process: it, its output folder and its log."""
    out = tmp_path / "demo-output"
    log = (tmp_path / "demo.log").open("w+")
    demo = subprocess.Popen([sys.executable, "-m", "sagestack.demo"], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, "SAGESTACK_DEMO_OUTPUT": str(out), "COLUMNS": "200"})
    return demo, out, log


def test_interrupting_the_demo_mid_pipeline_stops_everything(tmp_path: Path) -> None:
    demo, out, log = _start_demo(tmp_path)
    try:
        # wait until a pipeline job is running inside the demo's localcloud
        assert wait_until(lambda: processes_under(out / "localcloud" / "jobs") or demo.poll() is not None, 120, 0.1)
        assert demo.poll() is None, Path(log.name).read_text()[-2000:]
        demo.send_signal(signal.SIGINT)
        assert demo.wait(60) == 130, Path(log.name).read_text()[-3000:]
    finally:
        if demo.poll() is None:
            demo.kill()
        log.close()
    text = Path(log.name).read_text()
    assert "nothing left running" in text
    assert wait_until(lambda: not processes_under(out), 10), processes_under(out)
    started = re.search(r"localcloud on http://127\.0\.0\.1:\d+ \(pid (\d+);", text)
    assert started, text[-2000:]
    assert wait_until(lambda: not _alive(int(started.group(1))), 10), "the demo's localcloud outlived it"


def _descendants(pid: int) -> set[int]:
    """Every live process below `pid` (by parent links in /proc)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(entry.name)] = int(fields[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_interrupting_the_demo_mid_deploy_stops_the_cdk_cli_too(tmp_path: Path) -> None:
    demo, _, log = _start_demo(tmp_path)
    try:
        def deploying() -> set[int]:
            below = _descendants(demo.pid)
            running_cdk = any(b"cdk" in _cmdline(p) for p in below)
            return below if running_cdk and "deploying stack" in Path(log.name).read_text() else set()

        started = wait_until(lambda: deploying() or demo.poll() is not None, 120, 0.1)
        assert demo.poll() is None, Path(log.name).read_text()[-2000:]
        demo.send_signal(signal.SIGTERM)  # a kill cleans up like Ctrl-C
        assert demo.wait(60) == 130, Path(log.name).read_text()[-3000:]
    finally:
        if demo.poll() is None:
            demo.kill()
        log.close()
    assert isinstance(started, set) and started
    assert wait_until(lambda: not [p for p in started if _alive(p)], 20), [p for p in started if _alive(p)]
    assert "nothing left running" in Path(log.name).read_text()
