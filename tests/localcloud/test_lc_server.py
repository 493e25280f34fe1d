"""The server itself: health, routing, moto's reset, and clean shutdown."""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from lc_fixtures import Workspace
from support import LocalCloud, wait_until


def _processes_under(folder: Path) -> list[int]:
    """PIDs whose working directory lies under `folder` (jobs and model servers run there)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue
        if cwd.startswith(str(folder)):
            found.append(int(entry.name))
    return found


def test_health_reports_ready_with_services(localcloud: LocalCloud) -> None:
    with urllib.request.urlopen(f"{localcloud.url}/_localcloud/health") as r:
        body = json.loads(r.read())
    assert r.status == 200
    assert body["status"] == "ready"
    assert {"s3", "sagemaker", "sagemaker-runtime", "cloudwatch", "events"} <= set(body["services"])


def test_unknown_localcloud_path_is_404(localcloud: LocalCloud) -> None:
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(f"{localcloud.url}/_localcloud/nope")
    assert e.value.code == 404


def test_moto_services_answer(localcloud: LocalCloud) -> None:
    sqs = localcloud.client("sqs")
    url = sqs.create_queue(QueueName="server-test")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="hello")
    assert sqs.receive_message(QueueUrl=url)["Messages"][0]["Body"] == "hello"
    assert localcloud.client("sts").get_caller_identity()["Account"] == "123456789012"


def test_reset_stops_running_jobs_and_wipes_state(localcloud: LocalCloud) -> None:
    ws = Workspace(localcloud)
    request = ws.processing(["python3", "-c", "import time; time.sleep(600)"], [], [])
    ws.sm.create_processing_job(ProcessingJobName=f"sleeper-{ws.tag}", **request)
    jobs = localcloud.data_dir / "jobs"
    assert wait_until(lambda: _processes_under(jobs / f"sleeper-{ws.tag}"), 20), "the job never started"
    localcloud.reset()
    assert wait_until(lambda: not _processes_under(jobs / f"sleeper-{ws.tag}"), 15), "reset left the job running"
    assert ws.sm.list_processing_jobs()["ProcessingJobSummaries"] == []
    assert "Buckets" not in ws.s3.list_buckets() or ws.s3.list_buckets()["Buckets"] == []


def test_sigterm_stops_the_server_and_everything_it_started(tmp_path: Path) -> None:
    cloud = LocalCloud(tmp_path)
    try:
        ws = Workspace(cloud)
        request = ws.processing(["python3", "-c", "import time; time.sleep(600)"], [], [])
        ws.sm.create_processing_job(ProcessingJobName="sleeper", **request)
        assert wait_until(lambda: _processes_under(tmp_path / "jobs"), 20)
        started = time.monotonic()
        os.killpg(cloud.proc.pid, signal.SIGTERM)
        cloud.proc.wait(20)
        assert time.monotonic() - started < 20
        assert wait_until(lambda: not _processes_under(tmp_path), 10), _processes_under(tmp_path)
    finally:
        cloud.stop()
