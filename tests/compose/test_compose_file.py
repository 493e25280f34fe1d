"""docker-compose.yml, checked statically: no Docker engine runs here or in CI.

The file must be valid for the Compose specification, reference only what exists (services,
Dockerfiles and what they copy, volumes), publish ports on loopback only, give every service a
health check on its own contract, and mount from the demo's output only what `make demo` creates.
The backplane profile must wire LocalStack and localcloud to each other by names each accepts.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from sagestack import demo

ROOT = Path(__file__).resolve().parents[2]
CHECK_JSONSCHEMA = Path(sys.executable).with_name("check-jsonschema")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_the_file_is_valid_for_the_compose_specification() -> None:
    done = subprocess.run([str(CHECK_JSONSCHEMA), "--builtin-schema", "vendor.compose-spec",
                           str(ROOT / "docker-compose.yml")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_services_build_from_dockerfiles_that_copy_only_what_exists(compose: dict) -> None:
    assert set(compose["services"]) == {"localcloud", "model", "localstack", "sagemaker"}
    for name, service in compose["services"].items():
        build = service["build"]
        dockerfile = ROOT / build["context"] / build["dockerfile"]
        assert dockerfile.is_file(), name
        for source in re.findall(r"^COPY (\S+(?: \S+)*) \S+$", dockerfile.read_text(), flags=re.M):
            for path in source.split():
                assert (ROOT / build["context"] / path).exists(), f"{dockerfile} copies missing {path}"


def test_references_resolve(compose: dict) -> None:
    volumes = set(compose.get("volumes") or {})
    for name, service in compose["services"].items():
        for dependency, rule in (service.get("depends_on") or {}).items():
            assert dependency in compose["services"], f"{name} depends on unknown {dependency}"
            assert rule["condition"] == "service_healthy"
            assert set(service.get("profiles") or []) >= set(compose["services"][dependency].get("profiles") or [])
        for mount in service.get("volumes", []):
            source = mount.split(":", 1)[0]
            if not source.startswith((".", "/")):
                assert source in volumes, f"{name} mounts undeclared volume {source}"


def test_ports_are_published_on_loopback_only_and_do_not_collide(compose: dict) -> None:
    published = []
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"
            published.append(port.split(":")[1])
    assert len(published) == len(set(published))


def test_every_service_has_a_healthcheck_on_its_own_contract(compose: dict) -> None:
    checks = {name: " ".join(s["healthcheck"]["test"]) for name, s in compose["services"].items()}
    assert "/_localcloud/health" in checks["localcloud"] and "/_localcloud/health" in checks["sagemaker"]
    assert "/ping" in checks["model"]
    assert "/_localstack/health" in checks["localstack"]


def test_state_lives_in_named_volumes(compose: dict) -> None:
    for name, folder in (("localcloud", "/data"), ("sagemaker", "/data"), ("localstack", "/var/lib/localstack")):
        mounts = {m.split(":")[1]: m.split(":")[0] for m in compose["services"][name]["volumes"]}
        assert mounts[folder] in compose["volumes"], f"{name} keeps its state outside a named volume"


def test_what_is_mounted_from_the_demo_is_what_the_demo_creates(compose: dict) -> None:
    mounted = [m.split(":")[0] for s in compose["services"].values() for m in s.get("volumes", [])
               if m.startswith("./demo-output/")]
    assert mounted, "the model service serves the demo's model"
    for source in mounted:
        assert source.removeprefix("./demo-output/").split("/")[0] in demo.OUTPUTS, source
    assert demo.MODEL_DIR in demo.OUTPUTS


def test_the_backplane_profile_wires_localstack_and_localcloud_by_names_they_accept(compose: dict) -> None:
    localstack, sagemaker = compose["services"]["localstack"], compose["services"]["sagemaker"]
    assert localstack["profiles"] == sagemaker["profiles"] == ["backplane"]
    assert "profiles" not in compose["services"]["localcloud"]  # `docker compose up` alone: no LocalStack
    assert localstack["environment"]["AWS_ENDPOINT_URL_SAGEMAKER"] == "http://sagemaker:4566"
    command = sagemaker["command"]
    assert command[command.index("--backplane") + 1] == "http://localstack:4566"
    assert command[command.index("--allow-host") + 1] == "sagemaker"  # LocalStack calls it by that name


def test_localcloud_image_runs_the_server() -> None:
    dockerfile = (ROOT / "localcloud" / "Dockerfile").read_text()
    assert 'CMD ["python", "-m", "localcloud", "--host", "0.0.0.0", "--port", "4566"]' in dockerfile
    localstack = (ROOT / "integrations" / "localstack-sagemaker" / "Dockerfile").read_text()
    assert "requirements.txt" in localstack and 'CMD ["python", "-m", "localstack.runtime.main"]' in localstack
