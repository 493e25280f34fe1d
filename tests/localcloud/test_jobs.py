"""SageMaker Processing and Training jobs really run, honouring the container contract.

Each test runs real jobs as local processes against a real moto server on 127.0.0.1,
reached only through `localcloud.aws` (the way the engine reaches it), and checks what
a SageMaker user would see: objects in S3, the outcome's status and reasons, metrics
and CloudWatch Logs.
"""

from __future__ import annotations

import io
import itertools
import json
import os
import tarfile
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from moto.server import ThreadedMotoServer

from localcloud import aws
from localcloud.sagemaker import images, job_s3, sandbox
from localcloud.sagemaker.jobs import JobOutcome, hyperparameter_args, run_processing_job, run_training_job

SKLEARN = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.9-0-cpu-py3"
SKLEARN_1_2 = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
REGION = "us-east-1"
NAMESPACES = sandbox.namespace_support().available
needs_namespace = pytest.mark.skipif(not NAMESPACES, reason="private mount namespaces unavailable here")
_bucket_ids = itertools.count(1)


# ---------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def cloud() -> Iterator[str]:
    """A moto server in this process, on a free port, that localcloud.aws points at."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(aws.ENDPOINT_ENV, url)
        mp.delenv(sandbox.SANDBOX_ENV, raising=False)
        mp.delenv(images.OVERRIDE_ENV, raising=False)
        yield url
    server.stop()


@pytest.fixture
def s3(cloud: str) -> Any:
    return aws.client("s3", REGION)


@pytest.fixture
def bucket(s3: Any) -> str:
    name = f"jobs-test-{next(_bucket_ids)}"
    s3.create_bucket(Bucket=name)
    return name


def put(s3: Any, bucket: str, key: str, body: str | bytes) -> str:
    s3.put_object(Bucket=bucket, Key=key, Body=body.encode() if isinstance(body, str) else body)
    return f"s3://{bucket}/{key}"


def get(s3: Any, uri: str) -> bytes:
    bucket, key = job_s3.parse_s3_uri(uri)
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def tar_members(data: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}  # type: ignore[union-attr]


def sourcedir(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, text in files.items():
            data = textwrap.dedent(text).encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def processing_request(name: str, script_uri: str, *, inputs: Sequence[tuple[str, str]] = (),
                       outputs: Sequence[tuple[str, str]] = (), args: Sequence[str] = (),
                       image: str = SKLEARN, env: dict[str, str] | None = None,
                       max_runtime: int = 600) -> dict[str, Any]:
    """A CreateProcessingJob body shaped like the SageMaker SDK's ScriptProcessor sends."""
    code = {"InputName": "code", "AppManaged": False,
            "S3Input": {"S3Uri": script_uri, "LocalPath": "/opt/ml/processing/input/code",
                        "S3DataType": "S3Prefix", "S3InputMode": "File",
                        "S3DataDistributionType": "FullyReplicated"}}
    return {
        "ProcessingJobName": name,
        "ProcessingInputs": [
            {"InputName": f"in{i}", "AppManaged": False,
             "S3Input": {"S3Uri": uri, "LocalPath": local, "S3DataType": "S3Prefix", "S3InputMode": "File",
                         "S3DataDistributionType": "FullyReplicated"}}
            for i, (uri, local) in enumerate(inputs)] + [code],
        "ProcessingOutputConfig": {"Outputs": [
            {"OutputName": f"out{i}", "AppManaged": False,
             "S3Output": {"S3Uri": uri, "LocalPath": local, "S3UploadMode": "EndOfJob"}}
            for i, (local, uri) in enumerate(outputs)]},
        "ProcessingResources": {"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large",
                                                  "VolumeSizeInGB": 30}},
        "StoppingCondition": {"MaxRuntimeInSeconds": max_runtime},
        "AppSpecification": {"ImageUri": image,
                             "ContainerEntrypoint": ["python3", "/opt/ml/processing/input/code/"
                                                     + script_uri.rsplit("/", 1)[-1]],
                             "ContainerArguments": list(args)},
        "Environment": env or {},
        "RoleArn": "arn:aws:iam::123456789012:role/SageMakerRole",
    }


def training_request(name: str, bucket: str, code_uri: str, train_uri: str, *, program: str = "train.py",
                     hyperparameters: dict[str, str] | None = None, max_runtime: int = 600,
                     metrics: list[dict[str, str]] | None = None, image: str = SKLEARN) -> dict[str, Any]:
    """A CreateTrainingJob body shaped like the SageMaker SDK's framework estimators send (script mode)."""
    hps = {"sagemaker_program": json.dumps(program), "sagemaker_submit_directory": json.dumps(code_uri),
           "sagemaker_container_log_level": "20", "sagemaker_region": json.dumps(REGION)}
    hps.update(hyperparameters or {})
    return {
        "TrainingJobName": name,
        "AlgorithmSpecification": {"TrainingImage": image, "TrainingInputMode": "File",
                                   "MetricDefinitions": metrics or []},
        "HyperParameters": hps,
        "InputDataConfig": [{"ChannelName": "train", "ContentType": "text/csv",
                             "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": train_uri,
                                                             "S3DataDistributionType": "FullyReplicated"}}}],
        "OutputDataConfig": {"S3OutputPath": f"s3://{bucket}/models"},
        "ResourceConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 30},
        "StoppingCondition": {"MaxRuntimeInSeconds": max_runtime},
        "RoleArn": "arn:aws:iam::123456789012:role/SageMakerRole",
    }


def run_in_thread(fn: Any, *args: Any, **kwargs: Any) -> tuple[threading.Thread, list[JobOutcome]]:
    result: list[JobOutcome] = []
    worker = threading.Thread(target=lambda: result.append(fn(*args, **kwargs)), daemon=True)
    worker.start()
    return worker, result


def wait_for_file(path: Path, worker: threading.Thread, timeout: float = 20.0) -> None:
    """Block until the job created `path` (it is running), failing if the job ended first."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert worker.is_alive(), "the job ended before it started its work"
        assert time.monotonic() < deadline, f"{path} never appeared"
        worker.join(0.02)


# ---------------------------------------------------------------------------------- processing
@needs_namespace
def test_processing_job_with_hard_coded_opt_ml_paths(s3: Any, bucket: str, tmp_path: Path) -> None:
    opt_before = sorted(os.listdir("/opt"))
    put(s3, bucket, "raw/2024-01.csv", "a,b\n1,2\n3,4\n")
    put(s3, bucket, "raw/nested/2024-02.csv", "a,b\n5,6\n")
    script = put(s3, bucket, "code/preprocess.py", """
import json, os, subprocess, sys
base = "/opt/ml/processing/input/raw"
files = sorted(os.path.relpath(os.path.join(d, f), base) for d, _, fs in os.walk(base) for f in fs)
rows = sum(len(open(os.path.join(base, f)).read().splitlines()) - 1 for f in files)
config = json.load(open("/opt/ml/config/processingjobconfig.json"))
resources = json.load(open("/opt/ml/config/resourceconfig.json"))
os.makedirs("/opt/ml/processing/output/train/part", exist_ok=True)
with open("/opt/ml/processing/output/train/part/summary.json", "w") as f:
    json.dump({"files": files, "rows": rows, "argv": sys.argv[1:], "job": config["ProcessingJobName"],
               "host": resources["current_host"], "greeting": os.environ["GREETING"],
               "python3": subprocess.run(["python3", "-c", "import sys; print(sys.prefix)"],
                                         capture_output=True, text=True).stdout.strip()}, f)
with open("/opt/ml/output/message", "w") as f:
    f.write("processed %d rows" % rows + " " * 2000)
""")
    request = processing_request("prep-1", script,
                                 inputs=[(f"s3://{bucket}/raw", "/opt/ml/processing/input/raw")],
                                 outputs=[("/opt/ml/processing/output/train", f"s3://{bucket}/out/train")],
                                 args=["--split", "0.2"], env={"GREETING": "hello"})

    outcome = run_processing_job("prep-1", request, REGION, tmp_path / "prep-1", threading.Event())

    assert (outcome.status, outcome.failure_reason) == ("Completed", None), outcome.local_log.read_text()
    assert outcome.sandbox == "namespace"
    summary = json.loads(get(s3, f"s3://{bucket}/out/train/part/summary.json"))
    assert summary == {"files": ["2024-01.csv", "nested/2024-02.csv"], "rows": 3, "argv": ["--split", "0.2"],
                       "job": "prep-1", "host": "algo-1", "greeting": "hello",
                       "python3": str(images.resolve_runtime(SKLEARN).built.folder)}  # the image's runtime
    assert outcome.exit_message is not None
    assert outcome.exit_message.startswith("processed 3 rows") and len(outcome.exit_message) == 1024
    assert sorted(os.listdir("/opt")) == opt_before  # the host's /opt never saw the job


def test_processing_failure_file_and_exit_code_make_the_reason(s3: Any, bucket: str, tmp_path: Path) -> None:
    script = put(s3, bucket, "code/check.py", """
import sys
open("/opt/ml/output/failure" if len(sys.argv) < 2 else sys.argv[1], "w").write("bad input: 42 rows")
open("/opt/ml/output/message" if len(sys.argv) < 3 else sys.argv[2], "w").write("partial")
sys.exit(3)
""")
    # fallback-safe: the paths come as arguments, which localcloud rewrites when /opt/ml is unavailable
    request = processing_request("check-1", script, args=["/opt/ml/output/failure", "/opt/ml/output/message"])
    outcome = run_processing_job("check-1", request, REGION, tmp_path / "check-1", threading.Event())
    assert outcome.status == "Failed"
    assert outcome.failure_reason == "AlgorithmError: bad input: 42 rows, exit code: 3"
    assert outcome.exit_message == "partial"
    assert outcome.exit_code == 3


def test_processing_traceback_becomes_the_failure_reason(s3: Any, bucket: str, tmp_path: Path) -> None:
    script = put(s3, bucket, "code/boom.py", """
def load():
    raise RuntimeError("deliberate failure 7f3a")
print("starting")
load()
""")
    out_uri = f"s3://{bucket}/never"
    request = processing_request("boom-1", script, outputs=[("/opt/ml/processing/output", out_uri)])
    outcome = run_processing_job("boom-1", request, REGION, tmp_path / "boom-1", threading.Event())
    assert outcome.status == "Failed"
    assert outcome.failure_reason is not None
    assert outcome.failure_reason.startswith("AlgorithmError: Traceback (most recent call last)")
    assert "RuntimeError: deliberate failure 7f3a" in outcome.failure_reason
    assert outcome.failure_reason.endswith(", exit code: 1")
    assert s3.list_objects_v2(Bucket=bucket, Prefix="never")["KeyCount"] == 0  # no upload after a failure


def test_unsupported_image_fails_with_a_clear_reason(s3: Any, bucket: str, tmp_path: Path) -> None:
    image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/my-custom-image:latest"
    script = put(s3, bucket, "code/never.py", "raise SystemExit('must not run')")
    request = processing_request("custom-1", script, image=image)
    outcome = run_processing_job("custom-1", request, REGION, tmp_path / "custom-1", threading.Event())
    assert outcome.status == "Failed"
    assert image in outcome.failure_reason and "no container runtime is available" in outcome.failure_reason
    assert outcome.exit_code is None  # nothing was started


def test_runtime_interpreter_override_is_checked(s3: Any, bucket: str, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(images.OVERRIDE_ENV, f"sagemaker-scikit-learn={tmp_path / 'no-such-python'}")
    script = put(s3, bucket, "code/x.py", "print('hi')")
    outcome = run_processing_job("override-1", processing_request("override-1", script), REGION,
                                 tmp_path / "override-1", threading.Event())
    assert outcome.status == "Failed"
    assert images.OVERRIDE_ENV in outcome.failure_reason
    assert "no-such-python" in outcome.failure_reason


# ---------------------------------------------------------------------------------- image runtimes
VERSIONS_PY = """
import sys, numpy, pandas, sklearn
print("versions", "%d.%d" % sys.version_info[:2], sklearn.__version__, numpy.__version__, pandas.__version__)
"""


@pytest.mark.parametrize(("image", "expected"), [(SKLEARN, "3.12 1.9.0 2.5.1 2.2.3"),
                                                 (SKLEARN_1_2, "3.9 1.2.1 1.24.1 1.1.3")])
def test_the_image_tag_decides_python_and_library_versions(s3: Any, bucket: str, tmp_path: Path, image: str,
                                                           expected: str) -> None:
    script = put(s3, bucket, "code/versions.py", VERSIONS_PY)
    outcome = run_processing_job("versions-1", processing_request("versions-1", script, image=image), REGION,
                                 tmp_path / "versions-1", threading.Event())
    assert outcome.status == "Completed", outcome.failure_reason
    log = outcome.local_log.read_text()
    assert f"versions {expected}" in log.splitlines()  # what the script itself saw
    python, sklearn, numpy, pandas = expected.split()
    header = next(line for line in log.splitlines() if "runs on the local" in line)
    assert f"Python {python}." in header  # ...and the job log says it before the script starts
    assert f"scikit-learn {sklearn}, numpy {numpy}, pandas {pandas}" in header


PANDAS_2_1_API = """
import pandas as pd
frame = pd.DataFrame({"fare": [1.5, 2.25]})
print(frame.map(lambda value: value * 2).to_string())  # DataFrame.map: new in pandas 2.1
"""


def test_a_script_using_a_newer_pandas_api_fails_as_on_aws(s3: Any, bucket: str, tmp_path: Path) -> None:
    """pandas 1.1.3 (the 1.2-1 image) has no DataFrame.map: the job fails with pandas's own error."""
    script = put(s3, bucket, "code/newer_api.py", PANDAS_2_1_API)
    old = run_processing_job("api-old", processing_request("api-old", script, image=SKLEARN_1_2), REGION,
                             tmp_path / "api-old", threading.Event())
    assert old.status == "Failed"
    assert "AttributeError: 'DataFrame' object has no attribute 'map'" in old.failure_reason
    new = run_processing_job("api-new", processing_request("api-new", script), REGION, tmp_path / "api-new",
                             threading.Event())
    assert new.status == "Completed", new.failure_reason  # pandas 2.2.3 (1.9-0) has it


def test_a_runtime_that_cannot_be_built_fails_the_job_saying_why(s3: Any, bucket: str, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCALCLOUD_RUNTIMES_DIR", str(tmp_path / "no-runtimes-yet"))
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "empty-uv-cache"))  # and offline (conftest): nothing to get
    script = put(s3, bucket, "code/x.py", "print('never runs')")
    outcome = run_processing_job("nobuild-1", processing_request("nobuild-1", script), REGION,
                                 tmp_path / "nobuild-1", threading.Event())
    assert outcome.status == "Failed"
    reason = outcome.failure_reason
    assert reason.startswith("InternalServerError: cannot build the local runtime for "
                             "sagemaker-scikit-learn:1.9-0 (Python 3.12): ")
    assert "not found in the cache" in reason or "Network connectivity is disabled" in reason
    assert "never runs" not in outcome.local_log.read_text()


def _wheel(folder: Path, name: str, version: str) -> Path:
    """A minimal pure-Python wheel, so pip can install something with no index (tests are offline)."""
    import zipfile

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}-{version}-py3-none-any.whl"
    info = f"{name}-{version}.dist-info"
    files = {f"{name}/__init__.py": f"__version__ = {version!r}\n",
             f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
             f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: sagestack-tests\nRoot-Is-Purelib: true\n"
                              "Tag: py3-none-any\n"}
    with zipfile.ZipFile(path, "w") as archive:
        for member, text in files.items():
            archive.writestr(member, text)
        archive.writestr(f"{info}/RECORD", "".join(f"{member},,\n" for member in [*files, f"{info}/RECORD"]))
    return path


USES_REQUIREMENT_PY = """
import os, sagestack_fixture_pkg
print("fixture package", sagestack_fixture_pkg.__version__, "from", sagestack_fixture_pkg.__file__)
open(os.path.join(os.environ["SM_MODEL_DIR"], "ok"), "w").write(sagestack_fixture_pkg.__version__)
"""


def test_requirements_txt_is_installed_into_a_cached_layer(s3: Any, bucket: str, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    wheels = tmp_path / "wheels"
    _wheel(wheels, "sagestack_fixture_pkg", "2.5")
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheels))  # a user's package-index setting reaches pip
    # layers outlive a test run (they live beside the shared runtimes): a file of this run's own
    requirements = f"# test run {uuid.uuid4()}\nsagestack-fixture-pkg==2.5\n"
    code = put(s3, bucket, "code/req.tar.gz", sourcedir({"train.py": USES_REQUIREMENT_PY,
                                                         "requirements.txt": requirements}))
    put(s3, bucket, "data/train/part-0.csv", "1,2\n")
    outcomes = []
    for name in ("req-1", "req-2"):
        request = training_request(name, bucket, code, f"s3://{bucket}/data/train")
        outcomes.append(run_training_job(name, request, REGION, tmp_path / name, threading.Event()))
        assert outcomes[-1].status == "Completed", outcomes[-1].failure_reason
    first, second = (o.local_log.read_text() for o in outcomes)
    assert "Successfully installed sagestack-fixture-pkg-2.5" in first  # pip's own output, in the job log
    assert "fixture package 2.5 from" in first
    assert "is installed already: reusing" in second and "Successfully installed" not in second
    layer = images.resolve_runtime(SKLEARN).built
    assert layer is not None and layer.version_of("sagestack-fixture-pkg") is None  # the shared runtime is untouched


def test_a_bad_requirement_fails_the_job_with_pips_message(s3: Any, bucket: str, tmp_path: Path) -> None:
    code = put(s3, bucket, "code/bad-req.tar.gz", sourcedir({
        "train.py": "raise SystemExit('must not run')\n",
        "requirements.txt": "no-such-package-for-sagestack==1.0\n"}))
    put(s3, bucket, "data/train/part-0.csv", "1,2\n")
    request = training_request("badreq-1", bucket, code, f"s3://{bucket}/data/train")
    outcome = run_training_job("badreq-1", request, REGION, tmp_path / "badreq-1", threading.Event())
    assert outcome.status == "Failed"
    reason = outcome.failure_reason
    assert reason.startswith('AlgorithmError: InstallRequirementsError:\nExitCode 1\nErrorMessage "ERROR: ')
    assert "No matching distribution found for no-such-package-for-sagestack==1.0" in reason
    assert reason.endswith(' -m pip install -r requirements.txt"')
    log = outcome.local_log.read_text()
    assert "ERROR: No matching distribution found for no-such-package-for-sagestack==1.0" in log
    assert "must not run" not in log


def test_missing_input_fails_as_a_client_error(s3: Any, bucket: str, tmp_path: Path) -> None:
    script = put(s3, bucket, "code/x.py", "print('hi')")
    request = processing_request("missing-1", script,
                                 inputs=[(f"s3://{bucket}/nothing-here/", "/opt/ml/processing/input/data")])
    outcome = run_processing_job("missing-1", request, REGION, tmp_path / "missing-1", threading.Event())
    assert outcome.status == "Failed"
    assert outcome.failure_reason.startswith("ClientError: Data download failed")
    assert f"s3://{bucket}/nothing-here/" in outcome.failure_reason


def test_stop_ends_the_job_even_if_it_ignores_sigterm(s3: Any, bucket: str, tmp_path: Path) -> None:
    script = put(s3, bucket, "code/stubborn.py", """
import os, signal, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
open(sys.argv[1], "w").write(str(os.getpid()))
time.sleep(120)
""")
    request = processing_request("stop-1", script, args=["/opt/ml/processing/started"])
    stop = threading.Event()
    worker, result = run_in_thread(run_processing_job, "stop-1", request, REGION, tmp_path / "stop-1", stop,
                                   stop_grace=0.3)
    started = tmp_path / "stop-1" / "opt-ml" / "processing" / "started"
    wait_for_file(started, worker)
    pid = int(started.read_text())

    stop.set()
    worker.join(15)

    assert not worker.is_alive()
    assert result[0].status == "Stopped" and result[0].failure_reason is None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_output_reaches_cloudwatch_logs_in_order(s3: Any, bucket: str, tmp_path: Path) -> None:
    script = put(s3, bucket, "code/chatty.py", """
import sys
for i in range(1500):
    print("line %04d" % i)
print("to stderr", file=sys.stderr)
""")
    outcome = run_processing_job("chatty-1", processing_request("chatty-1", script), REGION,
                                 tmp_path / "chatty-1", threading.Event())
    assert outcome.status == "Completed"
    assert outcome.log_group == "/aws/sagemaker/ProcessingJobs"
    assert outcome.log_stream.startswith("chatty-1/algo-1-")
    logs = aws.client("logs", REGION)
    events = logs.get_log_events(logGroupName=outcome.log_group, logStreamName=outcome.log_stream,
                                 startFromHead=True, limit=10000)["events"]
    messages = [e["message"] for e in events]
    printed = [m for m in messages if m.startswith("line ")]
    assert printed == [f"line {i:04d}" for i in range(1500)]
    assert "to stderr" in messages
    local = outcome.local_log.read_text().splitlines()
    assert "line 1499" in local and "to stderr" in local


def test_a_cloudwatch_failure_never_fails_the_job(s3: Any, bucket: str, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    real_client = aws.client

    def client(service: str, region: str = REGION) -> Any:
        if service == "logs":
            raise ConnectionError("logs endpoint down")
        return real_client(service, region)

    monkeypatch.setattr("localcloud.sagemaker.job_logs.aws.client", client)
    script = put(s3, bucket, "code/quiet.py", "print('still works')")
    outcome = run_processing_job("nologs-1", processing_request("nologs-1", script), REGION,
                                 tmp_path / "nologs-1", threading.Event())
    assert outcome.status == "Completed"
    text = outcome.local_log.read_text()
    assert "still works" in text and "CloudWatch Logs shipping stopped: ConnectionError" in text


def test_fallback_without_namespace_rewrites_paths(s3: Any, bucket: str, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(sandbox.SANDBOX_ENV, "fallback")
    put(s3, bucket, "in/data.txt", "payload")
    script = put(s3, bucket, "code/copy.py", """
import os, sys
src, dst = sys.argv[1], os.environ["OUT_DIR"]
open(os.path.join(dst, "copy.txt"), "w").write(open(os.path.join(src, "data.txt")).read() + "|" + src)
""")
    request = processing_request("fallback-p", script,
                                 inputs=[(f"s3://{bucket}/in/", "/opt/ml/processing/in")],
                                 outputs=[("/opt/ml/processing/out", f"s3://{bucket}/fb-out")],
                                 args=["/opt/ml/processing/in"], env={"OUT_DIR": "/opt/ml/processing/out"})
    outcome = run_processing_job("fallback-p", request, REGION, tmp_path / "fallback-p", threading.Event())
    assert outcome.status == "Completed", outcome.local_log.read_text()
    assert outcome.sandbox == "fallback"
    payload, src = get(s3, f"s3://{bucket}/fb-out/copy.txt").decode().split("|")
    assert payload == "payload"
    assert src == str((tmp_path / "fallback-p" / "opt-ml" / "processing" / "in").resolve())
    assert "/opt/ml is NOT available to this job" in outcome.local_log.read_text().splitlines()[1]


# ---------------------------------------------------------------------------------- training
TRAIN_PY = """
import argparse, json, os, sys
import helper

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int)
parser.add_argument("--learning-rate", type=float)
parser.add_argument("--name")
parser.add_argument("--flag")
parser.add_argument("-k", type=int)
args = parser.parse_args()
env = {k: v for k, v in os.environ.items() if k.startswith("SM_") or k == "TRAINING_JOB_NAME"}
channel = os.environ["SM_CHANNEL_TRAIN"]
rows = open(os.path.join(channel, "part-0.csv")).read().splitlines()
with open(os.path.join(os.environ["SM_MODEL_DIR"], "model.json"), "w") as f:
    json.dump({"argv": sys.argv[1:], "env": env, "rows": len(rows), "helper": helper.VALUE,
               "cwd": os.getcwd(), "epochs": args.epochs, "lr": args.learning_rate}, f)
with open(os.path.join(os.environ["SM_OUTPUT_DATA_DIR"], "report.txt"), "w") as f:
    f.write("report")
print("epoch 1 validation:rmse=0.50")
print("epoch 2 validation:rmse=0.25")
print("train_loss: 1.5e-1", file=sys.stderr)
"""


def test_training_script_mode_from_sourcedir(s3: Any, bucket: str, tmp_path: Path) -> None:
    code = put(s3, bucket, "code/sourcedir.tar.gz",
               sourcedir({"train.py": TRAIN_PY, "helper.py": "VALUE = 41\n"}))
    train = put(s3, bucket, "data/train/part-0.csv", "1,2\n3,4\n5,6\n")
    request = training_request(
        "train-1", bucket, code, f"s3://{bucket}/data/train",
        hyperparameters={"epochs": "3", "learning-rate": "0.5", "name": '"abc"', "flag": "true", "k": "7"},
        metrics=[{"Name": "validation:rmse", "Regex": r"validation:rmse=([0-9.]+)"},
                 {"Name": "train:loss", "Regex": r"train_loss: (\S+)"},
                 {"Name": "never:seen", "Regex": r"nothing (\d+)"}])
    assert train.endswith("part-0.csv")

    outcome = run_training_job("train-1", request, REGION, tmp_path / "train-1", threading.Event())

    assert (outcome.status, outcome.secondary_status) == ("Completed", "Completed"), outcome.failure_reason
    assert outcome.model_artifacts == f"s3://{bucket}/models/train-1/output/model.tar.gz"
    members = tar_members(get(s3, outcome.model_artifacts))
    assert list(members) == ["model.json"]
    model = json.loads(members["model.json"])
    expected_argv = ["--epochs", "3", "--flag", "True", "-k", "7", "--learning-rate", "0.5", "--name", "abc"]
    assert model["argv"] == expected_argv
    assert (model["rows"], model["helper"], model["epochs"], model["lr"]) == (3, 41, 3, 0.5)
    env = model["env"]
    root = "/opt/ml" if outcome.sandbox == "namespace" else str((tmp_path / "train-1" / "opt-ml").resolve())
    assert model["cwd"] == f"{root}/code"
    assert env["SM_MODEL_DIR"] == f"{root}/model"
    assert env["SM_CHANNEL_TRAIN"] == f"{root}/input/data/train"
    assert env["SM_OUTPUT_DATA_DIR"] == f"{root}/output/data"
    assert env["SM_CHANNELS"] == '["train"]'
    assert env["SM_HPS"] == '{"epochs":3,"flag":true,"k":7,"learning-rate":0.5,"name":"abc"}'
    assert (env["SM_HP_EPOCHS"], env["SM_HP_NAME"], env["SM_HP_FLAG"], env["SM_HP_LEARNING-RATE"]) == \
        ("3", "abc", "true", "0.5")
    assert json.loads(env["SM_USER_ARGS"]) == expected_argv
    assert (env["SM_CURRENT_HOST"], env["SM_HOSTS"], env["SM_NUM_GPUS"]) == ("algo-1", '["algo-1"]', "0")
    assert int(env["SM_NUM_CPUS"]) >= 1
    assert (env["SM_MODULE_NAME"], env["SM_USER_ENTRY_POINT"], env["TRAINING_JOB_NAME"]) == \
        ("train", "train.py", "train-1")
    assert json.loads(env["SM_FRAMEWORK_PARAMS"]) == {"sagemaker_container_log_level": 20,
                                                      "sagemaker_region": REGION}
    assert json.loads(env["SM_TRAINING_ENV"])["job_name"] == "train-1"
    assert not any(k.startswith("SM_HP_SAGEMAKER") for k in env)
    output = tar_members(get(s3, f"s3://{bucket}/models/train-1/output/output.tar.gz"))
    assert output == {"report.txt": b"report"}
    metrics = {m["MetricName"]: m["Value"] for m in outcome.final_metrics}
    assert metrics == {"validation:rmse": 0.25, "train:loss": 0.15}  # the last match wins
    logs = aws.client("logs", REGION)
    events = logs.get_log_events(logGroupName="/aws/sagemaker/TrainingJobs", logStreamName=outcome.log_stream,
                                 startFromHead=True)["events"]
    assert "epoch 2 validation:rmse=0.25" in [e["message"] for e in events]


@needs_namespace
def test_training_config_files_at_hard_coded_paths(s3: Any, bucket: str, tmp_path: Path) -> None:
    script = """
import json, os
cfg = "/opt/ml/input/config/"
names = ("hyperparameters", "inputdataconfig", "resourceconfig")
out = {n: json.load(open(cfg + n + ".json")) for n in names}
out["files"] = os.listdir("/opt/ml/input/data/train")
json.dump(out, open("/opt/ml/model/config.json", "w"))
"""
    code = put(s3, bucket, "code/sourcedir.tar.gz", sourcedir({"train.py": script}))
    put(s3, bucket, "d/train.csv", "x\n")
    request = training_request("cfg-1", bucket, code, f"s3://{bucket}/d/train.csv",
                               hyperparameters={"alpha": "0.1"})
    outcome = run_training_job("cfg-1", request, REGION, tmp_path / "cfg-1", threading.Event())
    assert outcome.status == "Completed", outcome.failure_reason
    config = json.loads(tar_members(get(s3, outcome.model_artifacts))["config.json"])
    assert config["hyperparameters"] == request["HyperParameters"]
    assert config["inputdataconfig"] == {"train": {"ContentType": "text/csv", "TrainingInputMode": "File",
                                                   "S3DistributionType": "FullyReplicated",
                                                   "RecordWrapperType": "None"}}
    resources = config["resourceconfig"]
    assert (resources["current_host"], resources["hosts"]) == ("algo-1", ["algo-1"])
    assert config["files"] == ["train.csv"]


def test_training_failure_reports_the_scripts_error(s3: Any, bucket: str, tmp_path: Path) -> None:
    script = """
import sys
print("about to fail")
raise ValueError("deliberate failure 7f3a")
"""
    code = put(s3, bucket, "code/sourcedir.tar.gz", sourcedir({"train.py": script}))
    put(s3, bucket, "d/t.csv", "x\n")
    request = training_request("fail-1", bucket, code, f"s3://{bucket}/d/", hyperparameters={"epochs": "1"})
    outcome = run_training_job("fail-1", request, REGION, tmp_path / "fail-1", threading.Event())
    assert (outcome.status, outcome.secondary_status) == ("Failed", "Failed")
    reason = outcome.failure_reason
    assert reason.startswith("AlgorithmError: ExecuteUserScriptError:\nExitCode 1\nErrorMessage \"")
    assert "ValueError: deliberate failure 7f3a" in reason
    assert reason.endswith('train.py --epochs 1", exit code: 1')
    assert len(reason) <= 1024
    assert outcome.model_artifacts is None


def test_training_max_runtime_stops_and_keeps_the_model(s3: Any, bucket: str, tmp_path: Path) -> None:
    script = """
import os, time
open(os.path.join(os.environ["SM_MODEL_DIR"], "partial.txt"), "w").write("epoch 1")
print("saved", flush=True)
time.sleep(60)
"""
    code = put(s3, bucket, "code/sourcedir.tar.gz", sourcedir({"train.py": script}))
    put(s3, bucket, "d/t.csv", "x\n")
    request = training_request("slow-1", bucket, code, f"s3://{bucket}/d/", max_runtime=1)
    outcome = run_training_job("slow-1", request, REGION, tmp_path / "slow-1", threading.Event(),
                               stop_grace=2)
    assert (outcome.status, outcome.secondary_status) == ("Stopped", "MaxRuntimeExceeded")
    assert "MaxRuntimeInSeconds" in outcome.failure_reason
    assert tar_members(get(s3, outcome.model_artifacts)) == {"partial.txt": b"epoch 1"}


def test_training_fallback_uses_sm_variables(s3: Any, bucket: str, tmp_path: Path) -> None:
    script = """
import os
assert not os.environ["SM_MODEL_DIR"].startswith("/opt/ml"), os.environ["SM_MODEL_DIR"]
data = open(os.path.join(os.environ["SM_CHANNEL_TRAIN"], "t.csv")).read()
open(os.path.join(os.environ["SM_MODEL_DIR"], "m.txt"), "w").write(data.upper())
"""
    code = put(s3, bucket, "code/sourcedir.tar.gz", sourcedir({"train.py": script}))
    put(s3, bucket, "d/t.csv", "abc")
    request = training_request("fb-train-1", bucket, code, f"s3://{bucket}/d/")
    outcome = run_training_job("fb-train-1", request, REGION, tmp_path / "fb-train-1", threading.Event(),
                               sandbox="fallback")
    assert (outcome.status, outcome.sandbox) == ("Completed", "fallback"), outcome.failure_reason
    assert tar_members(get(s3, outcome.model_artifacts)) == {"m.txt": b"ABC"}
    assert "/opt/ml is NOT available to this job" in outcome.local_log.read_text()


def test_training_code_from_a_local_directory(s3: Any, bucket: str, tmp_path: Path) -> None:
    code = tmp_path / "src"
    (code / "pkg").mkdir(parents=True)
    (code / "pkg" / "__init__.py").write_text("NAME = 'local'\n")
    (code / "entry.py").write_text("import os, pkg\n"
                                   "open(os.environ['SM_MODEL_DIR'] + '/name.txt', 'w').write(pkg.NAME)\n")
    put(s3, bucket, "d/t.csv", "abc")
    request = training_request("local-code-1", bucket, str(code), f"s3://{bucket}/d/", program="entry.py")
    outcome = run_training_job("local-code-1", request, REGION, tmp_path / "local-code-1", threading.Event())
    assert outcome.status == "Completed", outcome.failure_reason
    assert tar_members(get(s3, outcome.model_artifacts)) == {"name.txt": b"local"}


def test_training_container_entrypoint(s3: Any, bucket: str, tmp_path: Path) -> None:
    put(s3, bucket, "d/t.csv", "abc")
    request = training_request("entry-1", bucket, "unused", f"s3://{bucket}/d/")
    request["HyperParameters"] = {"depth": "4"}
    request["AlgorithmSpecification"]["ContainerEntrypoint"] = ["/bin/sh", "-c"]
    request["AlgorithmSpecification"]["ContainerArguments"] = [
        'echo "$SM_HP_DEPTH $(cat /opt/ml/input/data/train/t.csv)" > /opt/ml/model/out.txt']
    outcome = run_training_job("entry-1", request, REGION, tmp_path / "entry-1", threading.Event())
    assert outcome.status == "Completed", outcome.failure_reason
    assert tar_members(get(s3, outcome.model_artifacts)) == {"out.txt": b"4 abc\n"}


def test_unsafe_sourcedir_is_refused(s3: Any, bucket: str, tmp_path: Path) -> None:
    code = put(s3, bucket, "code/evil.tar.gz", sourcedir({"train.py": "print(1)", "../escaped.py": "x = 1"}))
    put(s3, bucket, "d/t.csv", "abc")
    workdir = tmp_path / "evil-1"
    request = training_request("evil-1", bucket, code, f"s3://{bucket}/d/")
    outcome = run_training_job("evil-1", request, REGION, workdir, threading.Event())
    assert outcome.status == "Failed"
    assert outcome.failure_reason.startswith("ClientError: cannot extract")
    assert "escaped.py" in outcome.failure_reason
    assert not (workdir / "opt-ml" / "escaped.py").exists()


def test_already_stopped_job_never_starts(s3: Any, bucket: str, tmp_path: Path) -> None:
    code = put(s3, bucket, "code/sourcedir.tar.gz", sourcedir({"train.py": "raise SystemExit(9)"}))
    put(s3, bucket, "d/t.csv", "abc")
    stop = threading.Event()
    stop.set()
    outcome = run_training_job("pre-stop-1", training_request("pre-stop-1", bucket, code, f"s3://{bucket}/d/"),
                               REGION, tmp_path / "pre-stop-1", stop)
    assert (outcome.status, outcome.exit_code, outcome.model_artifacts) == ("Stopped", None, None)


# ---------------------------------------------------------------------------------- pure helpers
def test_hyperparameter_args_follow_the_training_toolkit() -> None:
    assert hyperparameter_args({"b": 2, "alpha": 0.1, "flag": True, "opts": {"y": 1, "x": "a"},
                                "none": None, "items": [1, 2]}) == [
        "--alpha", "0.1", "-b", "2", "--flag", "True", "--items", "[1, 2]", "--none", "", "--opts", "x=a,y=1"]


@pytest.mark.parametrize(("uri", "repo"), [
    (SKLEARN, "sagemaker-scikit-learn"),
    ("246618743249.dkr.ecr.us-west-2.amazonaws.com/sagemaker-scikit-learn:1.2-1", "sagemaker-scikit-learn"),
    ("sagemaker-scikit-learn:latest", "sagemaker-scikit-learn"),
    ("localhost:5000/team/img@sha256:" + "ab" * 32, "team/img"),
])
def test_repository_of(uri: str, repo: str) -> None:
    assert images.repository_of(uri) == repo


@pytest.mark.parametrize(("key", "prefix", "rel"), [
    ("code/preprocess.py", "code/preprocess.py", "preprocess.py"),
    ("data/train/a.csv", "data/train", "a.csv"),
    ("data/train/sub/b.csv", "data/train/", "sub/b.csv"),
    ("data/train.csv", "data/tr", "train.csv"),
    ("x.csv", "", "x.csv"),
])
def test_s3_prefix_local_names(key: str, prefix: str, rel: str) -> None:
    assert job_s3._relative_name(key, prefix) == rel


def test_runtime_under_opt_falls_back_or_refuses(tmp_path: Path) -> None:
    box = sandbox.make_sandbox(tmp_path, "/opt/conda/bin/python", "auto")
    assert box.mode == "fallback" and "/opt/conda/bin/python" in box.note
    with pytest.raises(sandbox.SandboxError, match="impossible"):
        sandbox.make_sandbox(tmp_path, "/opt/conda/bin/python", "namespace")
    with pytest.raises(sandbox.SandboxError, match="not one of"):
        sandbox.make_sandbox(tmp_path, "/usr/bin/python3", "docker")


def test_fallback_rewrites_only_whole_opt_ml_paths(tmp_path: Path) -> None:
    box = sandbox.make_sandbox(tmp_path, "/usr/bin/python3", "fallback")
    root = str(tmp_path.resolve())
    assert box.rewrite("/opt/ml/model") == f"{root}/model"
    assert box.rewrite("--out=/opt/ml") == f"--out={root}"
    assert box.rewrite("/x/opt/ml/y /opt/mlx") == "/x/opt/ml/y /opt/mlx"
