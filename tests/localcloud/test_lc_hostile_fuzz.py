"""localcloud under hostile, generated input: it stays up, answers every request in time, never with an
undocumented 5xx, keeps its memory bounded and writes nothing outside its data dir.

More than 10,000 requests: generated from botocore's API models for every service localcloud serves
(valid requests, hostile values inside valid shapes, wrong JSON types), pipeline definitions with
hostile nodes and parameter values, and raw HTTP abuse (lying Content-Length, hostile chunk sizes,
odd methods and headers, non-UTF-8 and deeply nested bodies).
Seeds are fixed (`derandomize`), so a run is repeatable; a failure prints the offending request.

The server runs in a fenced layout: its data dir is `<root>/a/b/data`, its HOME, TMPDIR and working
directory are folders of their own under `<root>`, so a name that climbs two folders out of the
data dir lands visibly in `<root>`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hostile import (
    FUZZ_PIPELINE,
    FUZZ_ROLE,
    Request,
    api_requests,
    base_definition,
    definition_requests,
    raw_requests,
    send,
)
from hypothesis import HealthCheck, given, settings
from support import LocalCloud

pytestmark = pytest.mark.localcloud

API_EXAMPLES = 6000
DEFINITION_EXAMPLES = 1500
RAW_EXAMPLES = 3000
MAX_SECONDS = 5.0
MAX_RSS_MB = 1200
ALLOWED_5XX = {501}  # NotImplemented: an operation moto does not have, said as AWS would

FUZZ = settings(derandomize=True, database=None, deadline=None, print_blob=False,
                suppress_health_check=list(HealthCheck))


class Fenced:
    """A localcloud whose every possible escape lands somewhere we look."""

    def __init__(self, root: Path):
        self.root = root
        self.data = root / "a" / "b" / "data"
        for folder in (self.data, root / "home", root / "tmp", root / "cwd"):
            folder.mkdir(parents=True)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(root / "home"),
               "TMPDIR": str(root / "tmp"), "LANG": "C.UTF-8", "AWS_ACCESS_KEY_ID": "test",
               "AWS_SECRET_ACCESS_KEY": "test", "LOCALCLOUD_STOP_GRACE_SECONDS": "1"}
        self.cloud = LocalCloud.start(self.data, args=["--header-timeout", "2", "--idle-timeout", "2"], env=env,
                                      cwd=root / "cwd", log_path=root / "server.log")
        self.before = self.outside()
        self.count = 0

    def outside(self) -> set[str]:
        """Every path under the root that is not inside the data dir (the log and HOME's caches aside)."""
        found = set()
        for path in self.root.rglob("*"):
            relative = path.relative_to(self.root)
            if relative.parts[:3] == ("a", "b", "data") or relative.parts[:1] == ("home",):
                continue
            found.add(str(relative))
        return found

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.cloud.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def check(self, request: Request) -> None:
        status, seconds = send(self.cloud.port, request)
        self.count += 1
        assert seconds < MAX_SECONDS, f"{request!r} took {seconds:.1f} s"
        assert status is None or status < 500 or status in ALLOWED_5XX, \
            f"{request!r} answered {status}; see {self.root / 'server.log'}"
        if self.count % 500 == 0:
            assert self.cloud.healthy(), f"localcloud stopped answering after {request!r}"


@pytest.fixture(scope="module")
def fenced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fenced]:
    server = Fenced(tmp_path_factory.mktemp("fenced"))
    try:
        server.cloud.client("sagemaker").create_pipeline(
            PipelineName=FUZZ_PIPELINE, RoleArn=FUZZ_ROLE, PipelineDefinition=json.dumps(base_definition()))
        yield server
    finally:
        server.cloud.stop()


@settings(FUZZ, max_examples=API_EXAMPLES)
@given(request=api_requests())
def test_generated_api_requests(fenced: Fenced, request: Request) -> None:
    fenced.check(request)


@settings(FUZZ, max_examples=DEFINITION_EXAMPLES)
@given(request=definition_requests())
def test_hostile_pipeline_definitions_and_parameters(fenced: Fenced, request: Request) -> None:
    fenced.check(request)


@settings(FUZZ, max_examples=RAW_EXAMPLES)
@given(request=raw_requests())
def test_raw_http_abuse(fenced: Fenced, request: Request) -> None:
    fenced.check(request)


def test_after_the_storm(fenced: Fenced, request: pytest.FixtureRequest) -> None:
    """Runs last in this module: the server is alive, bounded, and wrote only inside its data dir."""
    assert fenced.cloud.healthy()
    selected = bool(request.config.getoption("keyword"))  # -k: only some of the storm ran
    assert fenced.count >= 10_000 or selected, f"only {fenced.count} requests were sent"
    rss = fenced.rss_mb()
    assert rss < MAX_RSS_MB, f"localcloud holds {rss:.0f} MB after the fuzzing"
    escaped = fenced.outside() - fenced.before - {"server.log"}
    assert not escaped, f"files appeared outside the data dir: {sorted(escaped)[:20]}"
