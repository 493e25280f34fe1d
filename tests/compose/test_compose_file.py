"""docker-compose.yml, checked statically: no Docker engine runs here or in CI."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_services_build_from_dockerfiles_that_exist(compose: dict) -> None:
    assert set(compose["services"]) == {"localcloud", "model"}
    for service in compose["services"].values():
        build = service["build"]
        assert (ROOT / build["context"] / build["dockerfile"]).is_file()


def test_ports_are_published_on_loopback_only(compose: dict) -> None:
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"


def test_every_service_has_a_healthcheck_on_its_own_contract(compose: dict) -> None:
    checks = {name: " ".join(s["healthcheck"]["test"]) for name, s in compose["services"].items()}
    assert "/_localcloud/health" in checks["localcloud"]
    assert "/ping" in checks["model"]


def test_localcloud_image_copies_only_what_exists_and_runs_the_server() -> None:
    dockerfile = (ROOT / "localcloud" / "Dockerfile").read_text()
    for source in re.findall(r"^COPY (\S+(?: \S+)*) \S+$", dockerfile, flags=re.M):
        for path in source.split():
            assert (ROOT / path).exists(), f"localcloud/Dockerfile copies missing {path}"
    assert 'CMD ["python", "-m", "localcloud", "--host", "0.0.0.0", "--port", "4566"]' in dockerfile
