"""User programs: custom hooks, transform_fn, the error-mapping rule, timeouts, start-up failures.

The programs here use tiny numpy "models" so their servers start without importing scikit-learn.
"""

from __future__ import annotations

import json
import subprocess
import textwrap
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from serving_helpers import ModelServer, child_env, free_port, run_to_exit, serve_argv, wait_until, write_program

HOOKS = textwrap.dedent(
    """
    import json
    import time

    import numpy as np


    class Doubler:
        def predict(self, X):
            return X.sum(axis=1) * 2


    class Teapot(Exception):
        status_code = 418


    def model_fn(model_dir):
        return Doubler()


    def input_fn(body, content_type):
        text = body if isinstance(body, str) else body.decode("latin-1")
        if text.startswith("probe"):
            return ("probe", type(body).__name__, content_type)
        if text == "value-error":
            raise ValueError("the body says value-error")
        if text == "type-error":
            raise TypeError("a type problem")
        if text == "runtime":
            raise RuntimeError("input exploded")
        if text == "teapot":
            raise Teapot("short and stout")
        return np.array(json.loads(text), dtype=float)


    def predict_fn(data, model):
        if isinstance(data, tuple):
            return data
        if data[0, 0] == 13:
            raise RuntimeError("unlucky row")
        if data[0, 0] == 99:
            time.sleep(float(data[0, 1]))
        return model.predict(data)


    def output_fn(prediction, accept):
        if isinstance(prediction, tuple):
            return json.dumps(list(prediction)), "application/json"
        if accept == "text/plain":
            return "\\n".join(str(v) for v in prediction.tolist())
        if accept == "application/x-bytes":
            return b"raw bytes"
        if accept == "application/x-bad":
            return 42
        return json.dumps({"doubled_sums": prediction.tolist()}), "application/json"
    """
)

TRANSFORM = textwrap.dedent(
    """
    import json


    def model_fn(model_dir):
        return {"offset": 100}


    def transform_fn(model, body, content_type, accept):
        if body == "fail":
            raise KeyError("no such key")
        answer = {"body": body if isinstance(body, str) else body.hex(), "type": type(body).__name__,
                  "content_type": content_type, "accept": accept, "offset": model["offset"]}
        return json.dumps(answer), "application/json"
    """
)


@pytest.fixture(scope="module")
def hooks_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModelServer]:
    code = tmp_path_factory.mktemp("hooks")
    write_program(code, "hooks.py", HOOKS)
    server = ModelServer("hooks.py", code, code, code, extra=["--timeout", "0.3"])
    yield server
    server.stop()


@pytest.fixture(scope="module")
def transform_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModelServer]:
    code = tmp_path_factory.mktemp("transform")
    write_program(code, "transform.py", TRANSFORM)
    server = ModelServer("transform.py", code, code, code, env={"SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "text/csv"})
    yield server
    server.stop()


def test_custom_hooks_run_in_order(hooks_server: ModelServer) -> None:
    answer = hooks_server.invoke("[[1, 2], [3, 4]]", "application/json", "application/json")
    assert answer.status == 200, answer.text
    assert json.loads(answer.body) == {"doubled_sums": [6.0, 14.0]}
    assert answer.headers["content-type"] == "application/json"


@pytest.mark.parametrize(
    ("content_type", "body_type"),
    [("text/csv", "str"), ("application/json", "str"), ("application/octet-stream", "bytes")],
)
def test_input_fn_gets_str_for_text_types_and_bytes_otherwise(hooks_server, content_type, body_type) -> None:
    answer = hooks_server.invoke("probe", content_type)
    assert json.loads(answer.body) == ["probe", body_type, content_type]


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ("value-error", 400, "bad request: the body says value-error"),
        ("type-error", 400, "bad request: a type problem"),
        ("teapot", 418, "short and stout"),
        ("runtime", 500, "input_fn failed: RuntimeError: input exploded"),
        ("[[13, 1]]", 500, "predict_fn failed: RuntimeError: unlucky row"),
    ],
)
def test_hook_errors_follow_the_documented_rule(hooks_server: ModelServer, body, status, message) -> None:
    answer = hooks_server.invoke(body, "application/json")
    assert (answer.status, answer.text.strip()) == (status, message)
    assert hooks_server.invoke("[[1, 1]]", "application/json").status == 200


@pytest.mark.parametrize(
    ("accept", "status", "content_type", "body"),
    [
        ("text/plain", 200, "text/plain", b"4.0"),
        ("application/x-bytes", 200, "application/x-bytes", b"raw bytes"),
        ("application/x-bad", 500, "text/plain; charset=utf-8", b"output_fn returned int"),
    ],
)
def test_output_fn_return_values(hooks_server: ModelServer, accept, status, content_type, body) -> None:
    answer = hooks_server.invoke("[[1, 1]]", "application/json", accept)
    assert answer.status == status
    assert answer.headers["content-type"] == content_type
    assert body in answer.body


def test_custom_predict_fn_is_not_batched(hooks_server: ModelServer) -> None:
    assert "batching off" in hooks_server.log()


def test_slow_prediction_times_out_and_ping_reports_it(hooks_server: ModelServer) -> None:
    answer = hooks_server.invoke("[[99, 1.2]]", "application/json")  # sleeps 1.2 s; the timeout is 0.3 s
    assert answer.status == 504
    assert "did not answer within 0.3 s" in answer.text
    assert wait_until(lambda: hooks_server.request("GET", "/ping").status == 503, 5)
    assert wait_until(lambda: hooks_server.request("GET", "/ping").status == 200, 10)
    assert hooks_server.invoke("[[1, 1]]", "application/json").status == 200


def test_transform_fn_alone_gets_body_types_and_default_accept(transform_server: ModelServer) -> None:
    answer = transform_server.invoke("1,2", "text/csv")
    assert answer.status == 200, answer.text
    assert json.loads(answer.body) == {
        "body": "1,2", "type": "str", "content_type": "text/csv", "accept": "text/csv", "offset": 100,
    }  # fmt: skip
    raw = json.loads(transform_server.invoke(b"\x00\x01", "application/octet-stream", "application/json").body)
    assert (raw["body"], raw["type"], raw["accept"]) == ("0001", "bytes", "application/json")


def test_transform_fn_errors_are_500_with_a_short_message(transform_server: ModelServer) -> None:
    answer = transform_server.invoke("fail", "text/csv")
    assert answer.status == 500
    assert answer.text.strip() == "transform_fn failed: KeyError: 'no such key'"
    assert transform_server.invoke("ok", "text/csv").status == 200


# ------------------------------------------------------------------------------- start-up failures

BROKEN_PROGRAMS = {
    "model_fn_raises": (
        "def model_fn(model_dir):\n    open(model_dir + '/missing.bin')\n",
        "model_fn in {path} failed: FileNotFoundError: [Errno 2] No such file or directory",
    ),
    "import_fails": ("import no_such_module_here\n", "importing {path} failed: ModuleNotFoundError"),
    "syntax_error": ("def model_fn(:\n", "importing {path} failed: SyntaxError"),
    "no_model_fn": ("def input_fn(body, content_type):\n    return body\n", "{path} defines no model_fn"),
    "transform_clash": (
        "def model_fn(d):\n    return 1\n"
        "def transform_fn(m, b, c, a):\n    return b\n"
        "def input_fn(b, c):\n    return b\n",
        "{path} defines transform_fn and input_fn: use transform_fn alone",
    ),
    "model_fn_returns_none": ("def model_fn(model_dir):\n    return None\n", "model_fn in {path} returned None"),
}


@pytest.fixture(scope="module")
def broken_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, subprocess.CompletedProcess[str]]]:
    """Start every broken program at once (each start costs a Python + numpy import)."""
    code = tmp_path_factory.mktemp("broken")
    paths = {name: write_program(code, f"{name}.py", source) for name, (source, _) in BROKEN_PROGRAMS.items()}
    with ThreadPoolExecutor(len(paths)) as pool:
        futures = {name: pool.submit(run_to_exit, path.name, code, code) for name, path in paths.items()}
        return {name: (paths[name], future.result()) for name, future in futures.items()}


@pytest.mark.parametrize("case", sorted(BROKEN_PROGRAMS))
def test_broken_program_exits_3_naming_the_file_and_hook(broken_runs, case) -> None:
    path, run = broken_runs[case]
    expected = BROKEN_PROGRAMS[case][1].format(path=path)
    last_line = run.stderr.strip().splitlines()[-1]
    assert run.returncode == 3, run.stderr
    assert last_line.startswith("modelserver: error: ")
    assert expected in last_line, last_line


def test_model_fn_traceback_is_logged_before_the_summary(broken_runs) -> None:
    _, run = broken_runs["model_fn_raises"]
    assert "Traceback (most recent call last)" in run.stderr
    assert "open(model_dir + '/missing.bin')" in run.stderr


def test_missing_program_and_model_dir(tmp_path: Path) -> None:
    missing = run_to_exit("nope.py", tmp_path, tmp_path)
    assert missing.returncode == 3
    assert f"SAGEMAKER_PROGRAM 'nope.py' not found: {tmp_path / 'nope.py'} does not exist" in missing.stderr
    write_program(tmp_path, "ok.py", "def model_fn(d):\n    return 1\n")
    no_model = run_to_exit("ok.py", tmp_path, tmp_path / "absent")
    assert no_model.returncode == 3
    assert "model directory" in no_model.stderr and "does not exist" in no_model.stderr


def test_bad_settings_exit_2_naming_the_variable(tmp_path: Path) -> None:
    run = run_to_exit("ok.py", tmp_path, tmp_path, env={"SAGEMAKER_MODEL_SERVER_WORKERS": "zero"})
    assert run.returncode == 2
    assert "SAGEMAKER_MODEL_SERVER_WORKERS='zero': the worker count must be a number" in run.stderr


def test_port_in_use_exits_1(tmp_path: Path) -> None:
    import socket

    write_program(tmp_path, "ok.py", "def model_fn(d):\n    return 1\n")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        argv = serve_argv("ok.py", tmp_path, tmp_path, port)
        run = subprocess.run(argv, env=child_env(), capture_output=True, text=True, timeout=60)
    assert run.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in run.stderr


def test_program_named_in_the_environment(tmp_path: Path) -> None:
    """SAGEMAKER_PROGRAM/SAGEMAKER_SUBMIT_DIRECTORY/SM_MODEL_DIR alone are enough (no options)."""
    from serving_helpers import PYTHON, ROOT

    write_program(tmp_path, "envprog.py", "def model_fn(d):\n    raise RuntimeError('model dir was ' + d)\n")
    env = {"SAGEMAKER_PROGRAM": "envprog.py", "SAGEMAKER_SUBMIT_DIRECTORY": str(tmp_path),
           "SM_MODEL_DIR": str(tmp_path), "SAGEMAKER_BIND_TO_PORT": str(free_port())}  # fmt: skip
    run = subprocess.run([PYTHON, "-m", "modelserver", "serve"], cwd=ROOT, env=child_env(env),
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    assert run.returncode == 3
    assert f"RuntimeError: model dir was {tmp_path}" in run.stderr.splitlines()[-1]
