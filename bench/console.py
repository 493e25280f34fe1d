"""How fast the console answers with a busy registry: 100 pipeline executions and 50 model versions.

    .venv/bin/python bench/console.py

localcloud gets a pipeline whose one step fails at once (100 executions cost no jobs) and a model
package group with 50 versions, plus a topic and a queue for the alarm and alert sections; the
console (sagestack/console/server.py) is served on loopback as `sagestack console` serves it, and
each page and section URL is requested five times after a first request (printed too). Before
them, the console's start-up read of every page (which reads each finished run and version once;
the console keeps them) is timed on its own. Target (issue "a local console"): every page answers
in <= 300 ms. A benchmark, not a test: it prints the figures.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from waitress.server import create_server

from localcloud.launcher import LocalCloud, free_port
from sagestack.console.server import PAGES, LiveSnapshot, create, warm
from sagestack.views.collect import Collector

EXECUTIONS, VERSIONS, TARGET_MS = 100, 50, 300
ROLE = "arn:aws:iam::123456789012:role/bench"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.9-0-cpu-py3"


def _fill(cloud: LocalCloud) -> dict[str, str]:
    sm = cloud.client("sagemaker")
    definition = {"Version": "2020-12-01", "Steps": [
        {"Name": "Stop", "Type": "Fail", "Arguments": {"ErrorMessage": "the benchmark's run ends here"}}]}
    sm.create_pipeline(PipelineName="bench", RoleArn=ROLE, PipelineDefinition=json.dumps(definition))
    for _ in range(EXECUTIONS):
        sm.start_pipeline_execution(PipelineName="bench")
    sm.create_model_package_group(ModelPackageGroupName="bench")
    for _ in range(VERSIONS):
        sm.create_model_package(ModelPackageGroupName="bench", ModelApprovalStatus="PendingManualApproval",
                                InferenceSpecification={"Containers": [{"Image": IMAGE}],
                                                        "SupportedContentTypes": ["text/csv"],
                                                        "SupportedResponseMIMETypes": ["text/csv"]})
    topic = cloud.client("sns").create_topic(Name="bench")["TopicArn"]
    queue = cloud.client("sqs").create_queue(QueueName="bench")["QueueUrl"]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # every execution ended (their one step fails at once)
        summaries = sm.list_pipeline_executions(PipelineName="bench", MaxResults=100)["PipelineExecutionSummaries"]
        if all(s["PipelineExecutionStatus"] != "Executing" for s in summaries):
            break
        time.sleep(0.2)
    return {"stack": "bench", "target": cloud.url, "pipeline": "bench", "group": "bench", "endpoint": "bench",
            "topic": topic, "queue": queue}


def _get(url: str) -> float:
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=60) as answer:
        answer.read()
    return (time.perf_counter() - started) * 1000


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="bench-console-") as folder, \
            LocalCloud.start(Path(folder) / "localcloud") as cloud:
        names = _fill(cloud)
        port = free_port()
        # a snapshot is kept 2 s for a page's sections; here every request reads afresh (the worst case)
        snapshot = LiveSnapshot(Collector(cloud.client), names, fresh_for=0.0)
        server = create_server(create(snapshot, None, "127.0.0.1", port), host="127.0.0.1", port=port, threads=4)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        started = time.perf_counter()
        warm(snapshot).join()  # as `sagestack console` does while it prints its address
        print(f"start-up read of every page (finished runs and versions kept): "
              f"{(time.perf_counter() - started) * 1000:.0f} ms")
        try:
            base = f"http://127.0.0.1:{port}/"
            worst = 0.0
            paths = [p for name, sections in PAGES.items()
                     for p in (name, *(f"sections/{section}" for section in sections))]
            for path in paths:
                first = _get(base + path)  # the first request reads every finished run and version once
                times = [_get(base + path) for _ in range(5)]
                worst = max(worst, max(times))
                print(f"/{path:<20} first {first:6.0f} ms  then median {statistics.median(times):6.0f} ms  "
                      f"max {max(times):6.0f} ms")
        finally:
            server.close()
    print(f"every page with {EXECUTIONS} executions and {VERSIONS} model versions: worst {worst:.0f} ms  "
          f"[target <= {TARGET_MS} ms: {'PASS' if worst <= TARGET_MS else 'MISS'}]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
