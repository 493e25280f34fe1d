"""Our SageMaker backend: moto's records, with jobs, pipelines and endpoints that really run.

moto keeps the records (its Fake* objects and their Describe/List responses); this subclass
records what a request asks for (with the checks AWS makes that moto does not) and hands the
running to the engine (`localcloud.engine`) as work (`work.py`): a job, a pipeline execution,
an endpoint deployment. Starting, stopping and crashes are the engine's, the same for every kind.
"""

from __future__ import annotations

import copy
import logging
import random
import string
import threading
from datetime import UTC, datetime
from typing import Any

from moto.core.utils import camelcase_to_underscores
from moto.sagemaker.exceptions import ResourceNotFound, ValidationError
from moto.sagemaker.models import FakeEndpoint, FakePipelineExecution, SageMakerModelBackend
from moto.sagemaker.utils import get_pipeline_execution_from_arn

from localcloud import settings
from localcloud.engine import RESTART_REASON, Engine
from localcloud.sagemaker import deployment_plan, events, urls
from localcloud.sagemaker.definition import DefinitionError, parse_definition
from localcloud.sagemaker.endpoints import EndpointFleet
from localcloud.sagemaker.executions import ExecutionRunner
from localcloud.sagemaker.monitoring import MonitoringSchedules
from localcloud.sagemaker.step_policies import StepCache
from localcloud.sagemaker.work import (
    JOB_KINDS,
    PROCESSING,
    TERMINAL_JOB,
    TRAINING,
    TRANSFORM,
    DeploymentWork,
    ExecutionWork,
    JobKind,
    JobWork,
    ProcessingWork,
    TrainingWork,
    TransformWork,
    moto_arguments,
)

log = logging.getLogger("localcloud.sagemaker")


def now() -> datetime:
    return datetime.now(UTC)


class LocalSageMakerBackend(SageMakerModelBackend):
    """SageMaker for one account and region, where things really execute."""

    def __init__(self, region_name: str, account_id: str):
        super().__init__(region_name, account_id)
        self.engine = Engine(f"sagemaker-{region_name}")
        self.fleet = EndpointFleet(self)
        self.runners: dict[str, ExecutionRunner] = {}
        """Each execution's runner: it holds the steps ListPipelineExecutionSteps reports."""
        self.step_cache = StepCache()
        """Successful runs of caching steps, for later executions of the same pipeline."""
        self.monitoring = MonitoringSchedules(self)
        """Model Monitor's schedules and their executions."""

    @property
    def _url_module(self) -> Any:
        # moto derives the URL module from the backend's module name; ours is elsewhere.
        return urls

    # ------------------------------------------------------------------ lifecycle
    def stop_everything(self) -> None:
        """Stop executions, jobs, deployments and endpoint servers (reset and shutdown)."""
        self.engine.stop_all()
        self.fleet.stop_all()

    def reset(self) -> None:
        self.stop_everything()
        super().reset()

    # ------------------------------------------------------------------ persistence (localcloud.persistence)
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        del state["engine"], state["fleet"]  # threads and processes of this process
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.engine = Engine(f"sagemaker-{self.region_name}")
        self.fleet = EndpointFleet(self)

    def restored(self) -> None:
        """After a restart: what was running ended with the restart; serving endpoints come back up."""
        for kind in JOB_KINDS.values():
            for job in getattr(self, kind.table).values():
                if getattr(job, kind.status) in ("InProgress", "Stopping"):
                    self.job_work(kind, job, {}).interrupted()
        for runner in self.runners.values():
            runner.interrupted(RESTART_REASON)
        endpoints: list[Any] = list(self.endpoints.values())
        for endpoint in endpoints:
            if endpoint.endpoint_status in ("Creating", "InService", "Updating", "RollingBack", "SystemUpdating"):
                # The config it served (an update not yet switched over had not changed it).
                config = self.endpoint_configs.get(endpoint.endpoint_config_name)
                if config is None:
                    endpoint.endpoint_status, endpoint.failure_reason = "Failed", RESTART_REASON
                    continue
                if endpoint.endpoint_status in ("Updating", "RollingBack"):
                    endpoint.failure_reason = f"the update was interrupted: {RESTART_REASON}"
                endpoint.pending_deployment_summary = None  # a deployment in flight does not survive a restart
                if endpoint.endpoint_status != "Creating":
                    endpoint.endpoint_status = "SystemUpdating"  # AWS's word for "being restarted for you"
                self.engine.submit(DeploymentWork(self.fleet, endpoint, config, update=False))

    # ------------------------------------------------------------------ jobs (processing, training, transform)
    def record_job(self, kind: JobKind, request: dict[str, Any]) -> Any:
        """Record a job as InProgress from its Create request (AWS-shaped, CamelCase)."""
        name = request.get(kind.name_member)
        _check_name(kind.name_member, name)
        if name in getattr(self, kind.table):
            raise ValidationError(f"Job name must be unique within an AWS account and region, "
                                  f"and a job with this name already exists ({name})")
        if kind is TRANSFORM and request.get("ModelName") not in self._models:
            arn = f"arn:aws:sagemaker:{self.region_name}:{self.account_id}:model/{request.get('ModelName')}"
            raise ValidationError(f"Could not find model '{arn}'.")
        create = getattr(super(), f"create_{camelcase_to_underscores(kind.name)}")
        # deep copy: moto edits what it is given (a training job's MetricDefinitions) in place
        arguments = moto_arguments(create, copy.deepcopy(request))
        if kind is TRAINING:
            for flag in ("enable_network_isolation", "enable_inter_container_traffic_encryption",
                         "enable_managed_spot_training"):
                arguments[flag] = bool(arguments.get(flag))
        job = create(**arguments)
        job.environment = request.get("Environment")
        job.failure_reason = None
        setattr(job, kind.status, "InProgress")
        setattr(job, kind.started, None)
        setattr(job, kind.ended, None)
        if kind is PROCESSING:
            job.processing_resources = request.get("ProcessingResources")
        if kind is TRAINING:
            # moto replaces the caller's MetricDefinitions and invents metrics and artifacts.
            job.algorithm_specification = dict(request.get("AlgorithmSpecification") or {})
            job.final_metric_data_list = None
            job.model_artifacts = None
            job.secondary_status = "Starting"
            job.secondary_status_transitions = [
                {"Status": "Starting", "StartTime": now(), "StatusMessage": "Preparing the instances for training"}]
        return job

    def job_work(self, kind: JobKind, job: Any, request: dict[str, Any]) -> JobWork:
        if kind is TRANSFORM:
            return TransformWork(job, request, self.region_name, self.fleet)
        return (ProcessingWork if kind is PROCESSING else TrainingWork)(job, request, self.region_name)

    def submit_job(self, kind: JobKind, request: dict[str, Any]) -> Any:
        """CreateProcessingJob, CreateTrainingJob, CreateTransformJob: record, then run in the background."""
        job = self.record_job(kind, request)
        self.engine.submit(self.job_work(kind, job, request))
        return job

    def stop_job(self, kind: JobKind, name: str) -> None:
        """StopProcessingJob, StopTrainingJob, StopTransformJob."""
        with self.engine.lock:
            job = getattr(self, kind.table).get(name)
            if job is None:
                arn = kind.arn(name, self.account_id, self.region_name)
                raise ValidationError(f"Could not find {kind.words} '{arn}'.")
            status = getattr(job, kind.status)
            if status in TERMINAL_JOB:
                raise ValidationError(f"The job {name} is {status} and cannot be stopped.")
            setattr(job, kind.status, "Stopping")
            self.engine.stop(job.arn)

    # ------------------------------------------------------------------ pipelines
    def create_pipeline(self, pipeline_name: str, pipeline_display_name: str, pipeline_definition: str,
                        pipeline_definition_s3_location: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        if pipeline_name in self.pipelines:  # moto's message repeats botocore's prefix
            raise ValidationError(f"Pipeline names must be unique within an AWS account and region. Pipeline "
                                  f"with name ({pipeline_name}) already exists.")
        if pipeline_definition:
            _validate(pipeline_definition)
        pipeline = super().create_pipeline(pipeline_name, pipeline_display_name, pipeline_definition,
                                           pipeline_definition_s3_location, *args, **kwargs)
        if pipeline_definition_s3_location:
            try:
                _validate(pipeline.pipeline_definition)
            except ValidationError:
                del self.pipelines[pipeline_name]
                raise
        return pipeline

    def describe_pipeline(self, pipeline_name: str) -> dict[str, Any]:
        return super().describe_pipeline(self._pipeline(pipeline_name).pipeline_name)

    def delete_pipeline(self, pipeline_name: str) -> str:
        pipeline = self._pipeline(pipeline_name)
        for arn in pipeline.pipeline_executions:
            self.engine.stop(arn)
        self.step_cache.forget_pipeline(pipeline.arn)
        return super().delete_pipeline(pipeline.pipeline_name)

    def update_pipeline(self, pipeline_name: str, **kwargs: Any) -> str:
        pipeline_name = self._pipeline(pipeline_name).pipeline_name
        if kwargs.get("pipeline_definition"):
            _validate(kwargs["pipeline_definition"])
        arn = super().update_pipeline(pipeline_name, **kwargs)
        self.pipelines[pipeline_name].last_modified_time = now()
        return arn

    def start_pipeline_execution(self, pipeline_name: str, pipeline_execution_display_name: str,
                                 pipeline_parameters: list[dict[str, Any]], *args: Any) -> dict[str, str]:
        pipeline = self._pipeline(pipeline_name)
        definition = _validate(pipeline.pipeline_definition)
        try:
            values = definition.resolve_parameters(pipeline_parameters or [])
        except DefinitionError as e:
            raise ValidationError(str(e)) from e
        result = super().start_pipeline_execution(pipeline.pipeline_name, pipeline_execution_display_name,
                                                  pipeline_parameters, *args)
        arn = result["PipelineExecutionArn"]
        execution = pipeline.pipeline_executions[arn]
        if not execution.pipeline_execution_display_name:
            execution.pipeline_execution_display_name = f"execution-{int(execution.start_time.timestamp() * 1000)}"
        runner = ExecutionRunner(self, pipeline, execution, definition, values)
        with self.engine.lock:
            self.runners[arn] = runner
            self.engine.submit(ExecutionWork(runner))
        return result

    def _pipeline(self, name_or_arn: str) -> Any:
        """A pipeline by name or ARN; AWS answers ResourceNotFound where moto says ValidationException."""
        if name_or_arn in self.pipelines:
            return self.pipelines[name_or_arn]
        for pipeline in self.pipelines.values():
            if pipeline.arn == name_or_arn:
                return pipeline
        arn = f"arn:aws:sagemaker:{self.region_name}:{self.account_id}:pipeline/{name_or_arn.lower()}"
        raise ResourceNotFound(f"Pipeline '{arn}' does not exist.")

    def _execution(self, arn: str) -> FakePipelineExecution:
        try:
            return get_pipeline_execution_from_arn(self.pipelines, arn)
        except Exception as e:
            raise ValidationError(f"Pipeline execution '{arn}' does not exist.") from e

    def describe_pipeline_execution(self, pipeline_execution_arn: str) -> dict[str, Any]:
        execution = self._execution(pipeline_execution_arn)
        response = super().describe_pipeline_execution(pipeline_execution_arn)
        response["FailureReason"] = execution.pipeline_execution_failure_reason or ""
        if not response["FailureReason"]:
            del response["FailureReason"]
        return response

    def list_pipeline_executions(self, pipeline_name: str) -> dict[str, Any]:
        response = super().list_pipeline_executions(pipeline_name)
        summaries = response["PipelineExecutionSummaries"]
        for summary in summaries:
            execution = self._execution(summary["PipelineExecutionArn"])
            reason = execution.pipeline_execution_failure_reason
            if reason:
                summary["PipelineExecutionFailureReason"] = reason
            else:
                summary.pop("PipelineExecutionFailureReason", None)
        summaries.sort(key=lambda s: s["StartTime"], reverse=True)
        return response

    def list_pipeline_execution_steps(self, pipeline_execution_arn: str,
                                      sort_order: str | None = None) -> list[dict[str, Any]]:
        self._execution(pipeline_execution_arn)
        runner = self.runners.get(pipeline_execution_arn)
        steps = list(runner.steps()) if runner else []
        steps.sort(key=lambda s: s.get("StartTime") or now(), reverse=(sort_order or "Descending") == "Descending")
        return steps

    def stop_pipeline_execution(self, pipeline_execution_arn: str) -> str:
        execution = self._execution(pipeline_execution_arn)
        with self.engine.lock:
            if execution.pipeline_execution_status not in ("Executing", "Stopping"):
                raise ValidationError(f"Pipeline execution with ARN {pipeline_execution_arn} status "
                                      f"{execution.pipeline_execution_status}. Cannot be stopped.")
            execution.pipeline_execution_status = "Stopping"
            execution.last_modified_time = now()
            self.engine.stop(pipeline_execution_arn)
        return pipeline_execution_arn

    def retry_pipeline_execution(self, pipeline_execution_arn: str) -> str:
        """Run the failed and stopped steps again; of concurrent retries exactly one is accepted."""
        execution = self._execution(pipeline_execution_arn)
        with self.engine.lock:  # the run that ended, if its thread is still finishing (not a new one)
            ending = self.engine.thread_of(pipeline_execution_arn) \
                if execution.pipeline_execution_status in ("Failed", "Stopped") else None
        if ending is not None and ending is not threading.current_thread():
            ending.join(10)
        with self.engine.lock:
            runner = self.runners.get(pipeline_execution_arn)
            if runner is None or execution.pipeline_execution_status not in ("Failed", "Stopped"):
                raise ValidationError(f"Pipeline execution with ARN {pipeline_execution_arn} status "
                                      f"{execution.pipeline_execution_status}. Only Failed or Stopped "
                                      f"executions can be retried.")
            runner.prepare_retry()  # status Executing: any other retry now fails the check above
            self.engine.submit(ExecutionWork(runner))
        return pipeline_execution_arn

    def job_name_for_step(self, execution_arn: str, step: str) -> str:
        """AWS names a pipeline's jobs `pipelines-<execution id>-<step>-<random>`."""
        suffix = "".join(random.choices(string.ascii_letters + string.digits, k=10))
        execution_id = execution_arn.rsplit("/", 1)[-1]
        cleaned = "".join(c if c.isalnum() or c == "-" else "-" for c in step)
        return f"pipelines-{execution_id}-{cleaned}"[:52] + f"-{suffix}"

    # ------------------------------------------------------------------ models and registry
    def create_model(self, model_name: str, execution_role_arn: str, primary_container: dict[str, Any] | None,
                     vpc_config: dict[str, Any] | None, containers: list[dict[str, Any]] | None,
                     tags: list[dict[str, str]] | None) -> Any:
        if model_name in self._models:
            arn = f"arn:aws:sagemaker:{self.region_name}:{self.account_id}:model/{model_name}"
            raise ValidationError(f'Cannot create already existing model "{arn}".')
        for container in [primary_container or {}, *(containers or [])]:
            package = container.get("ModelPackageName")
            if package:
                self.describe_model_package(package)
        return super().create_model(model_name, execution_role_arn, primary_container, vpc_config,
                                    containers, tags)

    def delete_model_package_group(self, model_package_group_name: str) -> None:
        """moto has no DeleteModelPackageGroup; AWS refuses to delete a group that still holds packages."""
        group = self.describe_model_package_group(model_package_group_name)
        held = [p for p in self.model_packages.values()
                if getattr(p, "model_package_group_name", None) == group.model_package_group_name]
        if held:
            raise ValidationError(f"Model package group {group.model_package_group_name} contains {len(held)} model "
                                  f"package(s); delete them before the group.")
        del self.model_package_groups[group.model_package_group_name]

    def delete_model_package(self, model_package_name: str) -> None:
        """moto has no DeleteModelPackage: the package (by ARN or versioned name) goes, its name mapping too."""
        package = self.describe_model_package(model_package_name)
        self.model_packages.pop(package.arn, None)
        for name in [n for n, arn in self.model_package_name_mapping.items() if arn == package.arn]:
            del self.model_package_name_mapping[name]

    def create_model_package(self, **kwargs: Any) -> str:  # type: ignore[override]
        arn = super().create_model_package(**kwargs)
        events.model_package_changed(self.model_packages[arn], self.region_name)
        return arn

    def update_model_package(self, model_package_arn: str, model_approval_status: str | None,
                             approval_description: str | None,
                             customer_metadata_properties: dict[str, str] | None,
                             customer_metadata_properties_to_remove: list[str],
                             additional_inference_specifications_to_add: list[Any] | None) -> str:
        package = self.describe_model_package(model_package_arn)
        # moto clears fields the caller did not send; AWS leaves them as they were.
        if approval_description is None:
            approval_description = getattr(package, "approval_description", None)
        if customer_metadata_properties is None:
            customer_metadata_properties = getattr(package, "customer_metadata_properties", None)
        if model_approval_status is None:
            model_approval_status = package.model_approval_status
        arn = super().update_model_package(package.arn, model_approval_status, approval_description,
                                           customer_metadata_properties,
                                           customer_metadata_properties_to_remove or [],
                                           additional_inference_specifications_to_add)
        events.model_package_changed(package, self.region_name)
        return arn

    # ------------------------------------------------------------------ endpoints
    def create_endpoint_config(self, endpoint_config_name: str, production_variants: list[dict[str, Any]],
                               *args: Any, **kwargs: Any) -> Any:
        _check_name("EndpointConfigName", endpoint_config_name)
        for variant in production_variants or []:
            _check_name("VariantName", variant.get("VariantName"))
        return super().create_endpoint_config(endpoint_config_name, production_variants, *args, **kwargs)

    def create_endpoint(self, endpoint_name: str, endpoint_config_name: str,
                        tags: list[dict[str, str]]) -> FakeEndpoint:
        _check_name("EndpointName", endpoint_name)
        if endpoint_name in self.endpoints:
            arn = FakeEndpoint.arn_formatter(endpoint_name, self.account_id, self.region_name)
            raise ValidationError(f'Cannot create already existing endpoint "{arn}".')
        endpoint = super().create_endpoint(endpoint_name, endpoint_config_name, tags)
        endpoint.endpoint_status = "Creating"
        self.engine.submit(DeploymentWork(self.fleet, endpoint, self.endpoint_configs[endpoint_config_name],
                                          update=False))
        return endpoint

    def _updatable(self, endpoint_name: str, quoted: str) -> Any:
        """The endpoint, which must exist and be InService (`quoted` formats its ARN as the operation's
        message does); moto's record, to which updates add two fields it lacks."""
        endpoint = self.endpoints.get(endpoint_name)
        if endpoint is None:
            arn = FakeEndpoint.arn_formatter(endpoint_name, self.account_id, self.region_name)
            raise ValidationError(f"Could not find endpoint {quoted.format(arn)}.")
        if endpoint.endpoint_status != "InService":
            raise ValidationError(f"Cannot update endpoint {endpoint_name} while it is "
                                  f"{endpoint.endpoint_status}; it must be InService.")
        return endpoint

    def update_endpoint(self, endpoint_name: str, endpoint_config_name: str,
                        deployment_config: dict[str, Any] | None = None, retain_deployment_config: bool = False) -> str:
        """Blue/green to another config, with the DeploymentConfig's guardrails (deployment_plan.py).

        Without a DeploymentConfig, `RetainDeploymentConfig` reuses the last one; otherwise the
        update is all at once. The config used is kept as the endpoint's LastDeploymentConfig.
        """
        endpoint = self._updatable(endpoint_name, "'{}'")
        config = self.endpoint_configs.get(endpoint_config_name)
        if config is None:
            raise ValidationError(f"Could not find endpoint configuration '{endpoint_config_name}'.")
        chosen = deployment_config or (getattr(endpoint, "last_deployment_config", None)
                                       if retain_deployment_config else None)
        instances = min((int(v.get("InitialInstanceCount") or 1) for v in config.production_variants), default=1)
        try:
            plan = deployment_plan.plan(chosen, instances)
        except deployment_plan.PlanError as e:
            raise ValidationError(str(e)) from None
        endpoint.last_deployment_config = chosen or None
        endpoint.pending_deployment_summary = {
            "EndpointConfigName": endpoint_config_name, "StartTime": now(),
            "ProductionVariants": [{"VariantName": v["VariantName"], "DesiredInstanceCount":
                                    int(v.get("InitialInstanceCount") or 1), "VariantStatus": [
                                        {"Status": "Creating", "StartTime": now()}]}
                                   for v in config.production_variants]}
        endpoint.endpoint_status = "Updating"
        endpoint.last_modified_time = now()
        self.engine.submit(DeploymentWork(self.fleet, endpoint, config, update=True, plan=plan))
        return endpoint.arn

    def update_endpoint_weights_and_capacities(self, endpoint_name: str,
                                               desired_weights_and_capacities: list[dict[str, Any]]) -> str:
        """Change variants' weights (the live routing too) and instance counts, leaving what is not given."""
        endpoint = self._updatable(endpoint_name, '"{}"')
        shown = {v["VariantName"]: v for v in endpoint.production_variants}
        names = [d.get("VariantName") for d in desired_weights_and_capacities]
        for name in names:
            if names.count(name) > 1:
                raise ValidationError(f'The variant name "{name}" was non-unique within the request.')
            if name not in shown:
                raise ValidationError(f'The variant name(s) "{name}" is/are not present within endpoint '
                                      f'configuration "{endpoint.endpoint_config_name}".')
        weights = {}
        for desired in desired_weights_and_capacities:
            variant = shown[desired["VariantName"]]
            if desired.get("DesiredWeight") is not None:
                variant["DesiredWeight"] = variant["CurrentWeight"] = weights[variant["VariantName"]] = float(
                    desired["DesiredWeight"])
            if desired.get("DesiredInstanceCount") is not None:
                variant["DesiredInstanceCount"] = variant["CurrentInstanceCount"] = int(
                    desired["DesiredInstanceCount"])
        self.fleet.reweigh(endpoint_name, weights)
        endpoint.last_modified_time = now()
        return endpoint.arn

    def delete_endpoint(self, endpoint_name: str) -> None:
        endpoint = self.endpoints.get(endpoint_name)
        super().delete_endpoint(endpoint_name)
        if endpoint is not None:
            self.engine.stop(endpoint.arn)
        self.fleet.undeploy(endpoint_name)


def _check_name(member: str, name: Any) -> None:
    """Names that become folders, checked here too: CloudFormation and pipelines call the backend directly."""
    if not isinstance(name, str) or settings.ENTITY_NAME.fullmatch(name) is None:
        field = member[:1].lower() + member[1:]
        raise ValidationError(f"1 validation error detected: Value '{str(name)[:100]}' at '{field}' failed to "
                              f"satisfy constraint: Member must satisfy regular expression pattern: "
                              f"^{settings.ENTITY_NAME.pattern}")


def _validate(text: str) -> Any:
    try:
        return parse_definition(text)
    except DefinitionError as e:
        raise ValidationError(str(e)) from e
