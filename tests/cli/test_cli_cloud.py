"""`sagestack up` / `status` / `down` start and stop a real localcloud process in the background."""

from __future__ import annotations

import json
import os
import signal
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_support import invoke, run_process
from support import free_port, wait_until

from localcloud import launcher
from sagestack import cloud

pytestmark = pytest.mark.localcloud  # starts its own server


def _alive(pid: int) -> bool:
    return launcher.pid_alive(pid)


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Path]:
    """A project folder; whatever `up` left running there is stopped at the end."""
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    yield tmp_path
    state = tmp_path / ".localcloud" / "localcloud.json"
    if state.exists():
        pid = json.loads(state.read_text())["pid"]
        if cloud.is_localcloud(pid):
            os.killpg(pid, signal.SIGKILL)


def test_up_twice_status_down_twice(project: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    sub = project / "some" / "folder"
    sub.mkdir(parents=True)

    first = run_process(["up", "--port", str(port)], cwd=project)
    assert first.returncode == 0, first.stderr
    assert f"localcloud is running at {url}" in first.stdout
    assert f"export AWS_ENDPOINT_URL={url}" in first.stdout
    assert f"export SAGESTACK_ENDPOINT_URL={url}" in first.stdout  # not the default port
    state = json.loads((project / ".localcloud" / "localcloud.json").read_text())
    pid = state["pid"]
    assert (project / ".localcloud" / "localcloud.pid").read_text().strip() == str(pid)
    assert state["url"] == url
    assert launcher.health(url)["status"] == "ready"
    assert (project / ".localcloud" / "localcloud.log").exists()
    assert (project / ".localcloud" / "data").is_dir()

    # the server never holds real AWS access, whatever the caller's shell had
    environ = Path(f"/proc/{pid}/environ")
    if environ.exists():
        env = dict(item.split("=", 1) for item in environ.read_text().split("\0") if "=" in item)
        assert env["AWS_ACCESS_KEY_ID"] == "test" and "AWS_PROFILE" not in env

    again = run_process(["up", "--port", str(port)], cwd=sub)  # same project, found from a subfolder
    assert again.returncode == 0, again.stderr
    assert f"already running at {url} (pid {pid}" in again.stdout

    status = run_process(["status"], cwd=sub)
    assert status.returncode == 0
    assert f"localcloud is running at {url} (pid {pid}" in status.stdout

    down = run_process(["down"], cwd=sub)
    assert down.returncode == 0, down.stderr
    assert f"localcloud stopped (pid {pid}" in down.stdout
    assert not _alive(pid)
    assert launcher.health(url) is None
    assert not (project / ".localcloud" / "localcloud.pid").exists()

    down_again = run_process(["down"], cwd=project)
    assert down_again.returncode == 0
    assert "localcloud is not running" in down_again.stdout
    status = run_process(["--endpoint-url", f"http://127.0.0.1:{free_port()}", "status"], cwd=project)
    assert status.returncode == 1
    assert "localcloud is not running" in status.stdout


def test_up_in_process_with_explicit_data_dir_then_down(tmp_path: Path) -> None:
    port = free_port()
    data = tmp_path / "state"
    result = invoke(["up", "--port", str(port), "--data-dir", str(data)])
    assert result.exit_code == 0, result.output
    pid = json.loads((data / "localcloud.json").read_text())["pid"]
    try:
        assert cloud.is_localcloud(pid)
        down = invoke(["down", "--data-dir", str(data)])
        assert down.exit_code == 0, down.output
        assert wait_until(lambda: not _alive(pid), 5)  # `down` waited: this holds at once
        assert not _alive(pid)
    finally:
        if cloud.is_localcloud(pid):
            os.killpg(pid, signal.SIGKILL)


def test_up_refuses_a_port_held_by_another_program(project: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = invoke(["up", "--port", str(port), "--data-dir", str(project / ".localcloud")])
    assert result.exit_code == 1
    assert result.stderr.strip() == (f"error: port {port} on 127.0.0.1 is in use by another program; "
                                     "choose another with --port")
    assert not (project / ".localcloud" / "localcloud.pid").exists()


def test_stale_pid_file_is_not_trusted(project: Path) -> None:
    paths = cloud.CloudPaths.for_project(project)
    paths.root.mkdir()
    # pid 1 is alive but is not localcloud: it must not be treated (or signalled) as ours
    paths.state_file.write_text(json.dumps({"pid": 1, "port": 1, "url": "http://127.0.0.1:1", "started_at": 0}))
    paths.pid_file.write_text("1\n")
    assert cloud.find(paths) is None
    assert not paths.state_file.exists()
    result = invoke(["down", "--data-dir", str(paths.root)])
    assert result.exit_code == 0
    assert "localcloud is not running" in result.stdout


def test_commands_say_in_one_line_when_nothing_listens(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = run_process(["--endpoint-url", url, "model", "list"], cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr == f"error: localcloud is not running at {url} — start it with `sagestack up`\n"
    assert result.stdout == ""
    in_process = invoke(["--endpoint-url", url, "pipeline", "start"])
    assert in_process.exit_code == 1
    assert in_process.stderr == f"error: localcloud is not running at {url} — start it with `sagestack up`\n"


def test_down_then_up_keeps_the_state(project: Path) -> None:
    import boto3

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    first = run_process(["up", "--port", str(port)], cwd=project)
    assert first.returncode == 0, first.stderr
    assert "(kept across restarts)" in first.stdout
    s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id="test",
                      aws_secret_access_key="test")
    s3.create_bucket(Bucket="kept-by-down")
    s3.put_object(Bucket="kept-by-down", Key="note.txt", Body=b"still here")
    down = run_process(["down"], cwd=project)
    assert down.returncode == 0, down.stderr
    assert f"its state is saved in {project / '.localcloud' / 'data'}" in down.stdout

    again = run_process(["up", "--port", str(port)], cwd=project)
    assert again.returncode == 0, again.stderr
    assert "(restored from the last run)" in again.stdout
    assert s3.get_object(Bucket="kept-by-down", Key="note.txt")["Body"].read() == b"still here"
    assert run_process(["down"], cwd=project).returncode == 0
