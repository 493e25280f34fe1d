"""Endpoints that really serve: one model server process per production variant.

`create_endpoint` leaves the record Creating and hands it here (as the endpoint's work, on a
thread of the engine's). Deploying fetches each variant's model artifacts and code from S3 (through the AWS API), starts
a model server that speaks the SageMaker inference container contract, waits for its
`/ping`, and flips the endpoint to InService, or to Failed with the server's own error
when the model cannot load.
"""

from __future__ import annotations

import http.client
import importlib.util
import logging
import os
import random
import subprocess
import tarfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from localcloud import aws, clock, processes, settings
from localcloud.child_env import child_environment
from localcloud.launcher import free_port
from localcloud.runtimes.layers import RequirementsError, with_requirements
from localcloud.sagemaker import deployment_plan
from localcloud.sagemaker.deployment_plan import DeploymentPlan
from localcloud.sagemaker.images import UnsupportedImageError, resolve_runtime
from localcloud.sagemaker.job_logs import JobLog
from localcloud.sagemaker.rollout import run_rollout

log = logging.getLogger("localcloud.endpoints")

PING_TIMEOUT = float(os.environ.get("LOCALCLOUD_ENDPOINT_PING_TIMEOUT", "120"))
_MODEL_SERVER_SPEC = importlib.util.find_spec("modelserver")
if _MODEL_SERVER_SPEC is None or _MODEL_SERVER_SPEC.origin is None:
    raise ImportError("the modelserver package is not importable")
_MODEL_SERVER_PATH = str(Path(_MODEL_SERVER_SPEC.origin).parent.parent)
"""Where the `modelserver` package lives: the one thing of ours a serving process imports."""


@dataclass
class VariantServer:
    """One running model server: a production variant's, or a transform job's."""

    variant: str
    weight: float
    host: str
    port: int
    proc: subprocess.Popen | None = None
    folder: Path | None = None
    label: str = ""
    """Who the server is for, as failure reasons name it ("Production variant AllTraffic")."""
    updated_config: str | None = None
    """The endpoint config an update started this server for (its metrics' EndpointConfigName); None at creation."""
    _local: threading.local = field(default_factory=threading.local)

    def connection(self) -> http.client.HTTPConnection:
        """A keep-alive connection to this server, one per calling thread."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=65)
            self._local.conn = conn
        return conn

    def drop_connection(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


@dataclass
class Deployment:
    """The live side of one endpoint: its variant servers and capture settings.

    During a blue/green update `green` holds the new fleet and `green_share` the fraction of the
    traffic it takes (the rollout moves it); everything else still reaches `variants`, the old fleet.
    """

    endpoint_name: str
    variants: dict[str, VariantServer]
    data_capture: dict[str, Any] | None
    ready: bool = False
    green: dict[str, VariantServer] | None = None
    green_share: float = 0.0

    def pick(self, target_variant: str | None) -> VariantServer:
        """Route like SageMaker: to a fleet by the deployment's split, then TargetVariant if given, else by weight."""
        green = self.green
        fleet = green if green is not None and random.random() < self.green_share else self.variants
        if target_variant:
            try:
                return fleet[target_variant]
            except KeyError:
                raise LookupError(f"Variant {target_variant} not found for endpoint {self.endpoint_name}.") from None
        servers = list(fleet.values())
        if len(servers) == 1:
            return servers[0]
        weights = [max(s.weight, 0.0) for s in servers]
        if sum(weights) <= 0:
            weights = [1.0] * len(servers)
        return random.choices(servers, weights=weights)[0]


class EndpointFleet:
    """All deployments of one account and region."""

    def __init__(self, backend: Any):
        self.backend = backend
        self.deployments: dict[str, Deployment] = {}
        self._lock = threading.Lock()

    def _start_fleet(self, endpoint_name: str, config: Any) -> dict[str, VariantServer]:
        """Start and health-check one server per variant; on any failure stop them all."""
        servers: dict[str, VariantServer] = {}
        try:
            for variant in config.production_variants:
                servers[variant["VariantName"]] = self._start_variant(endpoint_name, config.endpoint_config_name,
                                                                      variant)
            for server in servers.values():
                self.wait_ready(server)
        except Exception as e:
            for server in servers.values():
                self.stop_server(server)
            if isinstance(e, DeployError):
                raise
            log.exception("deploying endpoint %s failed", endpoint_name)
            raise DeployError(f"InternalServerError: {e}") from e
        return servers

    def deploy(self, endpoint: Any, config: Any) -> None:
        """Start the endpoint's servers (blocking; the engine runs this as the endpoint's work)."""
        name = endpoint.endpoint_name
        try:
            servers = self._start_fleet(name, config)
        except DeployError as e:
            endpoint.endpoint_status, endpoint.failure_reason = "Failed", str(e)
            endpoint.last_modified_time = datetime.now(UTC)
            return
        if not self._switch(endpoint, config, servers):
            return
        endpoint.endpoint_status = "InService"
        endpoint.last_modified_time = datetime.now(UTC)

    def update(self, endpoint: Any, config: Any, plan: DeploymentPlan | None = None,
               sleep: Callable[[float], bool] | None = None) -> None:
        """Blue/green: bring up the new config's fleet, shift traffic as `plan` says, retire the old fleet.

        Blocking. The old fleet keeps serving until the new one is up; a guarded plan then moves
        traffic step by step and rolls everything back to the old fleet when a rollback alarm fires
        (status RollingBack, then InService on the old config, with the reason). `sleep(seconds)`
        returns False when the endpoint is going away (the engine's stop).
        """
        plan = plan or deployment_plan.plan(None, 1)
        wait = sleep or _sleep
        try:
            servers = self._start_fleet(endpoint.endpoint_name, config)
        except DeployError as e:
            # AWS keeps serving the old fleet and reports why the update did not happen.
            endpoint.endpoint_status, endpoint.failure_reason = "InService", str(e)
            endpoint.pending_deployment_summary = None
            endpoint.last_modified_time = datetime.now(UTC)
            return
        for server in servers.values():
            server.updated_config = config.endpoint_config_name
        old = self.deployments.get(endpoint.endpoint_name)
        if old is not None and (plan.guarded or any(step.bake_seconds for step in plan.steps)
                                or plan.termination_wait_seconds):
            old.green, old.green_share = servers, 0.0
            watching = f"; rollback alarms {', '.join(plan.alarms)}" if plan.alarms else ""

            def shift(share: float) -> None:
                old.green_share = share
                if share > 0:
                    _phase(endpoint, "Baking", f"{plan.kind}: {share:.0%} of the traffic on the new fleet{watching}")

            _phase(endpoint, "ActivatingTraffic", f"{plan.kind}: the new fleet is up{watching}")
            outcome = run_rollout(plan, shift, lambda: _firing(plan.alarms, self.backend.region_name), wait)
            if outcome.rolled_back:
                endpoint.endpoint_status = "RollingBack"
                old.green, old.green_share = None, 0.0
                for server in servers.values():
                    self.stop_server(server)
                endpoint.endpoint_status = "InService"
                endpoint.failure_reason = (f"The update to {config.endpoint_config_name} was rolled back: "
                                           f"{outcome.reason}")
                endpoint.pending_deployment_summary = None
                endpoint.last_modified_time = datetime.now(UTC)
                return
            if plan.termination_wait_seconds:  # the old fleet is kept, idle, a while longer
                wait(clock.real_seconds(plan.termination_wait_seconds))
        # the new fleet's variants, then their live counts and weights (moto's list leaves out a weight the
        # config does not name, where AWS reports the default 1.0)
        endpoint.production_variants = endpoint._process_production_variants(config.production_variants)
        if not self._switch(endpoint, config, servers):
            return
        if old is not None:
            for server in old.variants.values():
                self.stop_server(server)
        endpoint.endpoint_config_name = config.endpoint_config_name
        endpoint.data_capture_config = config.data_capture_config
        endpoint.failure_reason = None
        endpoint.pending_deployment_summary = None
        endpoint.endpoint_status = "InService"
        endpoint.last_modified_time = datetime.now(UTC)

    def _switch(self, endpoint: Any, config: Any, servers: dict[str, VariantServer]) -> bool:
        """Route the endpoint to `servers`, unless it was deleted meanwhile."""
        name = endpoint.endpoint_name
        deployment = Deployment(name, servers, config.data_capture_config or None,
                                ready=True)
        with self._lock:
            if self.backend.endpoints.get(name) is not endpoint:  # deleted while deploying
                for server in servers.values():
                    self.stop_server(server)
                return False
            self.deployments[name] = deployment
        for variant in config.production_variants:
            for shown in endpoint.production_variants:
                if shown["VariantName"] == variant["VariantName"]:
                    shown["CurrentInstanceCount"] = variant.get("InitialInstanceCount") or 1
                    shown["CurrentWeight"] = float(variant.get("InitialVariantWeight", 1.0))
        return True

    def _start_variant(self, endpoint_name: str, config_name: str, variant: dict[str, Any]) -> VariantServer:
        name = variant["VariantName"]
        server = self.start_server(
            variant["ModelName"], settings.resource_dir("endpoints", endpoint_name, config_name, name),
            f"/aws/sagemaker/Endpoints/{endpoint_name}", name, f"Production variant {name}")
        server.variant = name
        server.weight = float(variant.get("InitialVariantWeight", 1.0))
        return server

    def start_server(self, model_name: str, folder: Path, log_group: str, stream_prefix: str, label: str,
                     environment: dict[str, str] | None = None) -> VariantServer:
        """Fetch a model's artifacts and code and start its model server (not yet ready).

        Shared by endpoints and batch transform: both run the model's serving container,
        which for framework images is our model server on the mapped local runtime.
        """
        container = self._container(model_name)
        try:
            runtime = resolve_runtime(container.get("Image", ""), progress=log.info)
        except UnsupportedImageError as e:
            raise DeployError(f"{label}: {e}") from None
        model_dir, code_dir = folder / "model", folder / "code"
        model_dir.mkdir(parents=True, exist_ok=True)
        code_dir.mkdir(parents=True, exist_ok=True)
        region = self.backend.region_name
        if container.get("ModelDataUrl"):
            _fetch_tarball(container["ModelDataUrl"], model_dir, region, label)
        env = {k: str(v) for k, v in {**(container.get("Environment") or {}), **(environment or {})}.items()}
        submit = env.get("SAGEMAKER_SUBMIT_DIRECTORY", "")
        if submit.startswith("s3://"):
            _fetch_tarball(submit, code_dir, region, label)
        elif submit:
            code_dir = Path(submit.removeprefix("file://"))
        elif (model_dir / "code").is_dir():
            code_dir = model_dir / "code"
        port = free_port()
        env.update({
            "SAGEMAKER_SUBMIT_DIRECTORY": str(code_dir),
            "SM_MODEL_DIR": str(model_dir),
            "SAGEMAKER_BIND_TO_PORT": str(port),
            "SAGEMAKER_BIND_TO_HOST": "127.0.0.1",
            "SAGEMAKER_REGION": region,
            "AWS_REGION": region,
        })
        env.setdefault("SAGEMAKER_MODEL_SERVER_WORKERS", "1")
        env["PYTHONPATH"] = _MODEL_SERVER_PATH  # the runtime finds our model server, nothing else of ours
        child_env = child_environment(region, folder, env)
        server_log = JobLog(folder / "server.log", log_group, f"{stream_prefix}/i-{port:05d}{int(time.time())}",
                            region)
        server_log.note(f"{label}: image {container.get('Image')} runs on the local {runtime.description}")
        python = runtime.python
        requirements = code_dir / "requirements.txt"
        if runtime.built is not None and requirements.is_file():  # the serving toolkit installs it too
            try:
                python = with_requirements(runtime.built, requirements, child_env, server_log.line).python
            except RequirementsError as e:
                server_log.close()
                raise DeployError(f"{label}: InstallRequirementsError: ExitCode {e.exit_code} ErrorMessage "
                                  f'"{e.errors[-600:]}" Command "{e.command}"') from None
        proc = processes.spawn([python, "-m", "modelserver", "serve"], env=child_env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, cwd=folder)
        threading.Thread(target=_pump, args=(proc, server_log), name=f"log-{stream_prefix}", daemon=True).start()
        return VariantServer(stream_prefix, 1.0, "127.0.0.1", port, proc, folder, label)

    def _container(self, model_name: str) -> dict[str, Any]:
        """The serving container of a model, resolving a model package reference."""
        model = self.backend._models.get(model_name)
        if model is None:
            raise DeployError(f"Could not find model '{model_name}'.")
        container = dict(model.primary_container or (model.containers or [{}])[0])
        package_name = container.get("ModelPackageName")
        if package_name:
            package = self.backend.describe_model_package(package_name)
            spec = package.inference_specification or {}
            package_container = dict((spec.get("Containers") or [{}])[0])
            env = {**(package_container.get("Environment") or {}), **(container.get("Environment") or {})}
            container = {**package_container, "Environment": env}
        return container

    def wait_ready(self, server: VariantServer) -> None:
        deadline = time.monotonic() + PING_TIMEOUT
        delay = 0.02
        while time.monotonic() < deadline:
            if server.proc is not None and server.proc.poll() is not None:
                tail = _tail(server.folder / "server.log") if server.folder is not None else ""
                raise DeployError(
                    f"{server.label}: the primary container did not pass the ping "
                    f"health check: the model server exited with code {server.proc.returncode}. {tail}")
            try:
                conn = http.client.HTTPConnection(server.host, server.port, timeout=2)
                conn.request("GET", "/ping")
                if conn.getresponse().status == 200:
                    conn.close()
                    return
                conn.close()
            except OSError:
                pass
            time.sleep(delay)
            delay = min(delay * 1.5, 0.25)
        raise DeployError(f"{server.label}: the primary container did not pass the ping health check within "
                          f"{PING_TIMEOUT:.0f} s.")

    def reweigh(self, endpoint_name: str, weights: dict[str, float]) -> None:
        """New routing weights for the serving fleet's variants (UpdateEndpointWeightsAndCapacities)."""
        deployment = self.deployments.get(endpoint_name)
        for variant, weight in weights.items():
            if deployment is not None and variant in deployment.variants:
                deployment.variants[variant].weight = weight

    def route(self, endpoint_name: str) -> Deployment | None:
        return self.deployments.get(endpoint_name)

    def undeploy(self, endpoint_name: str) -> None:
        with self._lock:
            deployment = self.deployments.pop(endpoint_name, None)
        if deployment:
            for server in deployment.variants.values():
                self.stop_server(server)

    def stop_all(self) -> None:
        for name in list(self.deployments):
            self.undeploy(name)

    @staticmethod
    def stop_server(server: VariantServer) -> None:
        if server.proc is not None and server.proc.poll() is None:
            processes.terminate(server.proc, grace=3)
        elif server.proc is not None:
            processes.forget(server.proc)


class DeployError(Exception):
    """A deployment failed for a reason the user should read in FailureReason."""


def _phase(endpoint: Any, status: str, message: str) -> None:
    """Where the update is, as DescribeEndpoint's PendingDeploymentSummary shows it for each new variant."""
    summary = getattr(endpoint, "pending_deployment_summary", None)
    for variant in (summary or {}).get("ProductionVariants", []):
        variant["VariantStatus"] = [{"Status": status, "StatusMessage": message, "StartTime": datetime.now(UTC)}]


def _sleep(seconds: float) -> bool:
    time.sleep(seconds)
    return True


def _firing(alarms: tuple[str, ...], region: str) -> list[str]:
    """The rollback alarms in ALARM now, read through CloudWatch's API (localcloud's or the backplane's)."""
    if not alarms:
        return []
    try:
        found = aws.client("cloudwatch", region).describe_alarms(AlarmNames=list(alarms))
    except Exception:  # CloudWatch unreachable: no evidence of a problem with the new fleet
        log.warning("could not read the rollback alarms %s", ", ".join(alarms), exc_info=True)
        return []
    return [a["AlarmName"] for a in found.get("MetricAlarms", []) + found.get("CompositeAlarms", [])
            if a.get("StateValue") == "ALARM"]


def _fetch_tarball(uri: str, target: Path, region: str, label: str) -> None:
    """Download an s3:// .tar.gz and extract it safely (no absolute or escaping members)."""
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    archive = target.parent / (target.name + ".tar.gz")
    try:
        aws.client("s3", region).download_file(bucket, key, str(archive))
    except Exception as e:
        raise DeployError(f"{label}: could not download {uri}: {e}") from None
    try:
        with tarfile.open(archive) as tar:
            tar.extractall(target, filter="data")
    except (tarfile.TarError, OSError) as e:
        raise DeployError(f"{label}: {uri} is not a valid tar.gz archive: {e}") from None
    finally:
        archive.unlink(missing_ok=True)


def _pump(proc: subprocess.Popen, log: JobLog) -> None:
    """Copy the model server's output to its log file and CloudWatch Logs, line by line."""
    assert proc.stdout is not None
    for raw in proc.stdout:
        log.line(raw.decode("utf-8", "replace").rstrip("\n"))
        log.flush()
    log.close()


def _tail(path: Path, limit: int = 800) -> str:
    try:
        text = path.read_text(errors="replace").strip()
    except OSError:
        return ""
    return text[-limit:]
