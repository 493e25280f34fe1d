"""localcloud's own costs, measured: start-up, per-step overhead, and InvokeEndpoint overhead.

    .venv/bin/python bench/localcloud_costs.py

Targets: ready in < 2 s; per pipeline step, everything but the user's script < 0.3 s;
invoke_endpoint through localcloud (hardened front, API checks and all) adds at most 1 ms p50
over calling the model server directly, and 16 concurrent boto3 clients get at least 593 req/s
(the figure before the hardening). Prints the figures and PASS/MISS; a benchmark, not a test.
"""

from __future__ import annotations

import http.client
import io
import json
import statistics
import subprocess
import tarfile
import tempfile
import threading
import time
from pathlib import Path

import boto3

from localcloud.launcher import LocalCloud
from localcloud.sagemaker.images import resolve_runtime

ROOT = Path(__file__).resolve().parents[1]
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.9-0-cpu-py3"
ROLE = "arn:aws:iam::123456789012:role/bench"
SERVE = b"""
import numpy as np
class Model:
    def predict(self, X):
        return np.asarray(X, dtype=float).sum(axis=1)
def model_fn(model_dir):
    return Model()
"""
AUTH = ("AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/sagemaker/aws4_request, "
        "SignedHeaders=host, Signature=0")


def start(data: Path) -> tuple[LocalCloud, float]:
    """A localcloud and the seconds from launching it to its first healthy answer."""
    t0 = time.perf_counter()
    cloud = LocalCloud.start(data)
    return cloud, time.perf_counter() - t0


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def bench_startup(tmp: Path, runs: int = 3) -> float:
    times = []
    for i in range(runs):
        cloud, took = start(tmp / f"start-{i}")
        times.append(took)
        cloud.stop()
    best = min(times)
    print(f"start-up to healthy: min {best:.2f} s, runs {', '.join(f'{t:.2f}' for t in times)}  "
          f"[target <= 0.5 s: {verdict(best <= 0.5)}]")
    return best


def bench_first_stack_call(tmp: Path) -> None:
    """From launching to the first CloudFormation answer (its backend loads after start-up)."""
    t0 = time.perf_counter()
    with LocalCloud.start(tmp / "first-stack-call") as cloud:
        cloud.client("cloudformation").list_stacks()
        print(f"start-up to the first CloudFormation answer: {time.perf_counter() - t0:.2f} s")


def direct_script_seconds(runs: int = 5) -> float:
    """What the user's script itself costs: the same command run directly, on the image's runtime."""
    python = resolve_runtime(IMAGE).python
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run([python, "-c", "pass"], check=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench_steps(url: str, steps: int = 6) -> None:
    kw = dict(endpoint_url=url, region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t")
    sm, s3 = boto3.client("sagemaker", **kw), boto3.client("s3", **kw)
    s3.create_bucket(Bucket="bench")
    s3.put_object(Bucket="bench", Key="in/data.csv", Body=b"1,2,3\n")
    step = lambda i: {"Name": f"S{i}", "Type": "Processing", "DependsOn": [f"S{i - 1}"] if i else [], "Arguments": {  # noqa: E731
        "ProcessingResources": {"ClusterConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1,
                                                  "VolumeSizeInGB": 1}},
        "AppSpecification": {"ImageUri": IMAGE, "ContainerEntrypoint": ["python3", "-c", "pass"]},
        "RoleArn": ROLE,
        "ProcessingInputs": [{"InputName": "in", "S3Input": {"S3Uri": "s3://bench/in/", "LocalPath":
                                                             "/opt/ml/processing/input", "S3DataType": "S3Prefix",
                                                             "S3InputMode": "File"}}],
        "ProcessingOutputConfig": {"Outputs": [{"OutputName": "out", "S3Output": {
            "S3Uri": f"s3://bench/out/{i}", "LocalPath": "/opt/ml/processing/input", "S3UploadMode": "EndOfJob"}}]}}}
    definition = {"Version": "2020-12-01", "Steps": [step(i) for i in range(steps)]}
    sm.create_pipeline(PipelineName="bench", RoleArn=ROLE, PipelineDefinition=json.dumps(definition))
    script = direct_script_seconds()
    durations = []
    for _ in range(2):
        arn = sm.start_pipeline_execution(PipelineName="bench")["PipelineExecutionArn"]
        while sm.describe_pipeline_execution(PipelineExecutionArn=arn)["PipelineExecutionStatus"] == "Executing":
            time.sleep(0.05)
        for s in sm.list_pipeline_execution_steps(PipelineExecutionArn=arn)["PipelineExecutionSteps"]:
            durations.append((s["EndTime"] - s["StartTime"]).total_seconds())
    step_median = statistics.median(durations)
    overhead = step_median - script
    print(f"pipeline step (processing, 1 input, 1 output): median {step_median * 1000:.0f} ms over "
          f"{len(durations)} steps; the script alone {script * 1000:.0f} ms; overhead {overhead * 1000:.0f} ms  "
          f"[target <= 50 ms: {verdict(overhead <= 0.05)}]")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def timed_posts(host: str, port: int, path: str, headers: dict[str, str], n: int) -> list[float]:
    conn = http.client.HTTPConnection(host, port)
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        conn.request("POST", path, body=b"1,2,3", headers=headers)
        response = conn.getresponse()
        response.read()
        out.append((time.perf_counter() - t0) * 1000)
        assert response.status == 200, response.status
    conn.close()
    return out


def bench_invoke(url: str, n: int = 2000) -> None:
    kw = dict(endpoint_url=url, region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t")
    sm, s3, rt = (boto3.client(s, **kw) for s in ("sagemaker", "s3", "sagemaker-runtime"))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("serve.py")
        info.size = len(SERVE)
        tar.addfile(info, io.BytesIO(SERVE))
    empty = io.BytesIO()
    with tarfile.open(fileobj=empty, mode="w:gz"):
        pass
    s3.create_bucket(Bucket="bench-ep")
    s3.put_object(Bucket="bench-ep", Key="code.tar.gz", Body=buf.getvalue())
    s3.put_object(Bucket="bench-ep", Key="model.tar.gz", Body=empty.getvalue())
    sm.create_model(ModelName="bench", ExecutionRoleArn=ROLE, PrimaryContainer={
        "Image": IMAGE, "ModelDataUrl": "s3://bench-ep/model.tar.gz",
        "Environment": {"SAGEMAKER_PROGRAM": "serve.py", "SAGEMAKER_SUBMIT_DIRECTORY": "s3://bench-ep/code.tar.gz"}})
    sm.create_endpoint_config(EndpointConfigName="bench", ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": "bench", "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}])
    sm.create_endpoint(EndpointName="bench", EndpointConfigName="bench")
    while sm.describe_endpoint(EndpointName="bench")["EndpointStatus"] == "Creating":
        time.sleep(0.05)
    backend_port = _model_server_port(sm)
    lc_port = int(url.rsplit(":", 1)[1])
    headers = {"Content-Type": "text/csv", "Accept": "text/csv"}
    timed_posts("127.0.0.1", backend_port, "/invocations", headers, 200)  # warm both paths
    timed_posts("127.0.0.1", lc_port, "/endpoints/bench/invocations", {**headers, "Authorization": AUTH}, 200)
    direct = timed_posts("127.0.0.1", backend_port, "/invocations", headers, n)
    routed = timed_posts("127.0.0.1", lc_port, "/endpoints/bench/invocations", {**headers, "Authorization": AUTH}, n)
    added = statistics.median(routed) - statistics.median(direct)
    print(f"invoke, model server directly: p50 {statistics.median(direct):.3f} ms, "
          f"p99 {percentile(direct, .99):.3f} ms")
    print(f"invoke through localcloud:     p50 {statistics.median(routed):.3f} ms, p99 {percentile(routed, .99):.3f} ms"
          f"  -> adds {added:.3f} ms p50  [target <= 1 ms: {verdict(added <= 1)}]")
    via_boto = []
    for _ in range(300):
        t0 = time.perf_counter()
        rt.invoke_endpoint(EndpointName="bench", ContentType="text/csv", Body=b"1,2,3")["Body"].read()
        via_boto.append((time.perf_counter() - t0) * 1000)
    print(f"invoke_endpoint with boto3 (signing and parsing included): p50 {statistics.median(via_boto):.3f} ms")
    bench_concurrent(url)


def bench_concurrent(url: str, clients: int = 16, seconds: float = 5.0, target: float = 593.0) -> None:
    """Throughput of `clients` boto3 sagemaker-runtime clients in threads, each calling back to back."""
    kw = dict(endpoint_url=url, region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t")
    runtimes = [boto3.client("sagemaker-runtime", **kw) for _ in range(clients)]
    counts = [0] * clients
    failures = [0] * clients
    go = threading.Event()
    deadline = [0.0]

    def drive(i: int) -> None:
        go.wait()
        while time.perf_counter() < deadline[0]:
            try:
                runtimes[i].invoke_endpoint(EndpointName="bench", ContentType="text/csv", Body=b"1,2,3")["Body"].read()
                counts[i] += 1
            except Exception:
                failures[i] += 1

    threads = [threading.Thread(target=drive, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    deadline[0] = time.perf_counter() + seconds
    go.set()
    for t in threads:
        t.join()
    rate = sum(counts) / seconds
    print(f"invoke_endpoint, {clients} concurrent boto3 clients: {rate:.0f} req/s, {sum(failures)} failed  "
          f"[target >= {target:.0f} req/s: {verdict(rate >= target and not sum(failures))}]")


def _model_server_port(sm) -> int:
    """The variant's server port, read from the model server's command environment via /proc."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            if b"modelserver" not in cmdline:
                continue
            env = dict(item.split("=", 1) for item in (entry / "environ").read_bytes().decode().split("\0")
                       if "=" in item)
        except OSError:
            continue
        if "/endpoints/bench/" in env.get("SM_MODEL_DIR", ""):
            return int(env["SAGEMAKER_BIND_TO_PORT"])
    raise SystemExit("could not find the endpoint's model server")


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-localcloud-") as tmp:
        bench_startup(Path(tmp))
        bench_first_stack_call(Path(tmp))
        cloud, _ = start(Path(tmp) / "main")
        try:
            bench_steps(cloud.url)
            bench_invoke(cloud.url)
        finally:
            cloud.stop()


if __name__ == "__main__":
    main()
