"""Our SageMaker backend: moto's state, with jobs, pipelines and endpoints that really run.

moto keeps the records (its Fake* objects and their Describe/List responses); this
subclass changes what happens when something is created: a job becomes InProgress and
runs, an execution becomes Executing and walks its definition, an endpoint becomes
Creating and starts model servers. The running itself lives in sibling modules
(`jobs`, `executions`, `endpoints`); this class only wires them to the records.
"""

from __future__ import annotations

import logging
import random
import string
import threading
from datetime import UTC, datetime
from typing import Any

from moto.sagemaker.exceptions import ResourceNotFound, ValidationError
from moto.sagemaker.models import (
    FakeEndpoint,
    FakePipelineExecution,
    FakeProcessingJob,
    FakeTrainingJob,
    SageMakerModelBackend,
)
from moto.sagemaker.utils import get_pipeline_execution_from_arn

from localcloud import settings
from localcloud.sagemaker import events, urls
from localcloud.sagemaker.definition import DefinitionError, parse_definition
from localcloud.sagemaker.endpoints import EndpointFleet
from localcloud.sagemaker.jobs import run_processing_job, run_training_job

log = logging.getLogger("localcloud.sagemaker")

TERMINAL_JOB = ("Completed", "Failed", "Stopped")


def now() -> datetime:
    return datetime.now(UTC)


def _snake(request: dict[str, Any], keys: dict[str, str]) -> dict[str, Any]:
    return {snake: request.get(camel) for camel, snake in keys.items()}


class LocalSageMakerBackend(SageMakerModelBackend):
    """SageMaker for one account and region, where things really execute."""

    def __init__(self, region_name: str, account_id: str):
        super().__init__(region_name, account_id)
        self._stops: dict[str, threading.Event] = {}
        self._threads: dict[str, threading.Thread] = {}
        self._runners: dict[str, Any] = {}
        self._lifecycle = threading.RLock()
        """Held while a start, stop or retry checks a status and changes it: one runner per execution."""
        self.fleet = EndpointFleet(self)

    @property
    def _url_module(self) -> Any:  # type: ignore[override]
        # moto derives the URL module from the backend's module name; ours is elsewhere.
        return urls

    # ------------------------------------------------------------------ lifecycle
    def stop_everything(self) -> None:
        """Stop executions, jobs and endpoint servers (reset and shutdown)."""
        for stop in list(self._stops.values()):
            stop.set()
        for thread in list(self._threads.values()):
            thread.join(timeout=10)
        self.fleet.stop_all()

    def reset(self) -> None:
        self.stop_everything()
        super().reset()

    def _start_thread(self, key: str, target: Any, *args: Any) -> threading.Event:
        stop = threading.Event()
        self._stops[key] = stop

        def run() -> None:
            try:
                target(*args, stop)
            except Exception:  # a bug of ours must not kill the server; the record says Failed
                log.exception("background work for %s failed", key)
            finally:
                with self._lifecycle:  # a retry may already have registered its own run under this key
                    if self._stops.get(key) is stop:
                        del self._stops[key]
                    if self._threads.get(key) is thread:
                        del self._threads[key]

        thread = threading.Thread(target=run, name=f"run-{key.rsplit('/', 1)[-1]}", daemon=True)
        with self._lifecycle:
            self._threads[key] = thread
        thread.start()
        return stop

    # ------------------------------------------------------------------ processing jobs
    def create_processing_job(self, **kwargs: Any) -> FakeProcessingJob:  # type: ignore[override]
        """moto's signature, for callers such as CloudFormation; the full request is better."""
        request = {
            "ProcessingJobName": kwargs["processing_job_name"],
            "AppSpecification": kwargs["app_specification"],
            "ProcessingInputs": kwargs.get("processing_inputs") or [],
            "ProcessingOutputConfig": kwargs.get("processing_output_config") or {},
            "RoleArn": kwargs.get("role_arn"),
            "StoppingCondition": kwargs.get("stopping_condition"),
            "Tags": kwargs.get("tags"),
        }
        return self.submit_processing_job(request)

    def new_processing_job(self, request: dict[str, Any]) -> FakeProcessingJob:
        """Record a processing job as InProgress, from a CreateProcessingJob request."""
        name = request["ProcessingJobName"]
        _check_name("ProcessingJobName", name)
        if name in self.processing_jobs:
            raise ValidationError(f"Job name must be unique within an AWS account and region, "
                                  f"and a job with this name already exists ({name})")
        job = super().create_processing_job(**_snake(request, {
            "AppSpecification": "app_specification", "ExperimentConfig": "experiment_config",
            "NetworkConfig": "network_config", "ProcessingInputs": "processing_inputs",
            "ProcessingJobName": "processing_job_name", "ProcessingOutputConfig": "processing_output_config",
            "RoleArn": "role_arn", "Tags": "tags", "StoppingCondition": "stopping_condition"}))
        job.processing_resources = request.get("ProcessingResources")
        job.environment = request.get("Environment")
        job.processing_job_status = "InProgress"
        job.processing_end_time = None
        job.processing_start_time = None
        return job

    def submit_processing_job(self, request: dict[str, Any]) -> FakeProcessingJob:
        job = self.new_processing_job(request)
        self._start_thread(job.arn, self.run_processing, job, request)
        return job

    def run_processing(self, job: FakeProcessingJob, request: dict[str, Any], stop: threading.Event) -> None:
        """Run a recorded processing job to its end (blocking) and record the outcome."""
        self._stops[job.arn] = stop
        job.processing_start_time = now()
        job.last_modified_time = now()
        try:
            workdir = settings.resource_dir("jobs", job.processing_job_name)
            outcome = run_processing_job(job.processing_job_name, request, self.region_name, workdir, stop)
        except Exception as e:  # an emulator bug still ends the job, with a reason
            log.exception("processing job %s crashed", job.processing_job_name)
            job.processing_job_status, job.failure_reason = "Failed", f"InternalServerError: {e}"
        else:
            job.processing_job_status = outcome.status
            job.failure_reason = outcome.failure_reason
            job.exit_message = outcome.exit_message
        job.processing_end_time = job.last_modified_time = now()

    def stop_processing_job(self, processing_job_name: str) -> None:
        job = self.processing_jobs.get(processing_job_name)
        if job is None:
            return super().stop_processing_job(processing_job_name)
        if job.processing_job_status in TERMINAL_JOB:
            raise ValidationError(
                f"The job {processing_job_name} is {job.processing_job_status} and cannot be stopped.")
        job.processing_job_status = "Stopping"
        stop = self._stops.get(job.arn)
        if stop:
            stop.set()

    # ------------------------------------------------------------------ training jobs
    def create_training_job(self, **kwargs: Any) -> FakeTrainingJob:  # type: ignore[override]
        request = {camel: kwargs.get(snake) for camel, snake in _TRAINING_KEYS.items()}
        return self.submit_training_job(request)

    def new_training_job(self, request: dict[str, Any]) -> FakeTrainingJob:
        name = request["TrainingJobName"]
        _check_name("TrainingJobName", name)
        if name in self.training_jobs:
            raise ValidationError(f"Job name must be unique within an AWS account and region, "
                                  f"and a job with this name already exists ({name})")
        algorithm = dict(request.get("AlgorithmSpecification") or {})
        args = _snake(request, _TRAINING_KEYS)
        args["algorithm_specification"] = dict(algorithm)
        for flag in ("enable_network_isolation", "enable_inter_container_traffic_encryption",
                     "enable_managed_spot_training"):
            args[flag] = bool(args.get(flag))
        job = super().create_training_job(**args)
        # moto replaces the caller's MetricDefinitions and invents metrics and artifacts.
        job.algorithm_specification = algorithm
        job.final_metric_data_list = None
        job.model_artifacts = None
        job.environment = request.get("Environment")
        job.training_job_status = "InProgress"
        job.secondary_status = "Starting"
        job.training_start_time = None
        job.training_end_time = None
        job.secondary_status_transitions = [
            {"Status": "Starting", "StartTime": now(), "StatusMessage": "Preparing the instances for training"}]
        return job

    def submit_training_job(self, request: dict[str, Any]) -> FakeTrainingJob:
        job = self.new_training_job(request)
        self._start_thread(job.arn, self.run_training, job, request)
        return job

    def run_training(self, job: FakeTrainingJob, request: dict[str, Any], stop: threading.Event) -> None:
        self._stops[job.arn] = stop
        start = now()
        job.training_start_time = job.last_modified_time = start
        job.secondary_status = "Training"
        job.secondary_status_transitions[-1]["EndTime"] = start
        job.secondary_status_transitions.append(
            {"Status": "Training", "StartTime": start, "StatusMessage": "Training image download completed. "
                                                                         "Training in progress."})
        try:
            workdir = settings.resource_dir("jobs", job.training_job_name)
            outcome = run_training_job(job.training_job_name, request, self.region_name, workdir, stop)
        except Exception as e:
            log.exception("training job %s crashed", job.training_job_name)
            job.training_job_status, job.failure_reason = "Failed", f"InternalServerError: {e}"
        else:
            job.training_job_status = outcome.status
            job.failure_reason = outcome.failure_reason
            if outcome.model_artifacts:
                job.model_artifacts = {"S3ModelArtifacts": outcome.model_artifacts}
            job.final_metric_data_list = outcome.final_metrics or None
        end = now()
        job.secondary_status = job.training_job_status
        job.secondary_status_transitions[-1]["EndTime"] = end
        job.secondary_status_transitions.append(
            {"Status": job.training_job_status, "StartTime": end, "EndTime": end,
             "StatusMessage": job.failure_reason or "Training job completed"})
        job.training_end_time = job.last_modified_time = end
        job.training_time_in_seconds = job.billable_time_in_seconds = max(1, int((end - start).total_seconds()))

    def stop_training_job(self, training_job_name: str) -> None:
        job = self.training_jobs.get(training_job_name)
        if job is None:
            arn = FakeTrainingJob.arn_formatter(training_job_name, self.account_id, self.region_name)
            raise ValidationError(f"Could not find training job '{arn}'.")
        if job.training_job_status in TERMINAL_JOB:
            raise ValidationError(f"The job {training_job_name} is {job.training_job_status} and cannot be stopped.")
        job.training_job_status = "Stopping"
        stop = self._stops.get(job.arn)
        if stop:
            stop.set()

    # ------------------------------------------------------------------ transform jobs
    def create_transform_job(self, **kwargs: Any) -> Any:  # type: ignore[override]
        job = self.new_transform_job(kwargs)
        self._start_thread(job.arn, self.run_transform, job)
        return job

    def new_transform_job(self, kwargs: dict[str, Any]) -> Any:
        """Record a transform job as InProgress (snake_case arguments, as moto's API layer passes)."""
        name = kwargs["transform_job_name"]
        _check_name("TransformJobName", name)
        if name in self.transform_jobs:
            raise ValidationError(f"Job name must be unique within an AWS account and region, "
                                  f"and a job with this name already exists ({name})")
        if kwargs["model_name"] not in self._models:
            arn = f"arn:aws:sagemaker:{self.region_name}:{self.account_id}:model/{kwargs['model_name']}"
            raise ValidationError(f"Could not find model '{arn}'.")
        job = super().create_transform_job(**kwargs)
        job.transform_job_status = "InProgress"
        job.failure_reason = None
        job.transform_start_time = now()
        job.transform_end_time = None
        return job

    def run_transform(self, job: Any, stop: threading.Event) -> None:
        from localcloud.sagemaker.transforms import DeployError, TransformError, TransformStopped, run_transform

        self._stops[job.arn] = stop
        request = {"ModelName": job.model_name, "TransformInput": job.transform_input,
                   "TransformOutput": job.transform_output, "BatchStrategy": job.batch_strategy,
                   "MaxPayloadInMB": job.max_payload_in_mb, "Environment": job.environment,
                   "DataProcessing": job.data_processing}
        try:
            run_transform(self.fleet, job.transform_job_name, request, stop)
            job.transform_job_status = "Completed"
        except TransformStopped:
            job.transform_job_status = "Stopped"
        except (TransformError, DeployError) as e:
            job.transform_job_status, job.failure_reason = "Failed", str(e)
        except Exception as e:
            log.exception("transform job %s crashed", job.transform_job_name)
            job.transform_job_status, job.failure_reason = "Failed", f"InternalServerError: {e}"
        job.transform_end_time = job.last_modified_time = now()

    def stop_transform_job(self, transform_job_name: str) -> None:
        job = self.transform_jobs.get(transform_job_name)
        if job is None:
            raise ValidationError(f"Could not find transform job '{transform_job_name}'.")
        if job.transform_job_status in TERMINAL_JOB:
            raise ValidationError(f"The job {transform_job_name} is {job.transform_job_status} and cannot be stopped.")
        job.transform_job_status = "Stopping"
        stop = self._stops.get(job.arn)
        if stop:
            stop.set()

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
            stop = self._stops.get(arn)
            if stop:
                stop.set()
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
        from localcloud.sagemaker.executions import ExecutionRunner

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
        with self._lifecycle:
            self._runners[arn] = runner
            self._start_thread(arn, runner.run)
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
        runner = self._runners.get(pipeline_execution_arn)
        steps = list(runner.steps()) if runner else []
        steps.sort(key=lambda s: s.get("StartTime") or now(), reverse=(sort_order or "Descending") == "Descending")
        return steps

    def stop_pipeline_execution(self, pipeline_execution_arn: str) -> str:
        execution = self._execution(pipeline_execution_arn)
        with self._lifecycle:
            if execution.pipeline_execution_status not in ("Executing", "Stopping"):
                raise ValidationError(f"Pipeline execution with ARN {pipeline_execution_arn} status "
                                      f"{execution.pipeline_execution_status}. Cannot be stopped.")
            execution.pipeline_execution_status = "Stopping"
            execution.last_modified_time = now()
            stop = self._stops.get(pipeline_execution_arn)
            if stop:
                stop.set()
        return pipeline_execution_arn

    def retry_pipeline_execution(self, pipeline_execution_arn: str) -> str:
        """Run the failed and stopped steps again; of concurrent retries exactly one is accepted."""
        execution = self._execution(pipeline_execution_arn)
        previous = self._threads.get(pipeline_execution_arn)
        if previous is not None and execution.pipeline_execution_status in ("Failed", "Stopped"):
            previous.join(timeout=10)  # the last attempt is past its end; let its thread finish first
        with self._lifecycle:
            runner = self._runners.get(pipeline_execution_arn)
            if runner is None or execution.pipeline_execution_status not in ("Failed", "Stopped"):
                raise ValidationError(f"Pipeline execution with ARN {pipeline_execution_arn} status "
                                      f"{execution.pipeline_execution_status}. Only Failed or Stopped "
                                      f"executions can be retried.")
            runner.prepare_retry()  # status Executing: any other retry now fails the check above
            self._start_thread(pipeline_execution_arn, runner.run)
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
        events.model_package_changed(self.model_packages[arn], self.region_name, self.account_id)
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
        events.model_package_changed(package, self.region_name, self.account_id)
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
        config = self.endpoint_configs[endpoint_config_name]
        self.fleet.deploy(endpoint, config)
        return endpoint

    def update_endpoint(self, endpoint_name: str, endpoint_config_name: str,
                        deployment_config: dict[str, Any] | None = None) -> str:
        endpoint = self.endpoints.get(endpoint_name)
        if endpoint is None:
            arn = FakeEndpoint.arn_formatter(endpoint_name, self.account_id, self.region_name)
            raise ValidationError(f"Could not find endpoint '{arn}'.")
        if endpoint.endpoint_status != "InService":
            raise ValidationError(f"Cannot update endpoint {endpoint_name} while it is "
                                  f"{endpoint.endpoint_status}; it must be InService.")
        config = self.endpoint_configs.get(endpoint_config_name)
        if config is None:
            raise ValidationError(f"Could not find endpoint configuration '{endpoint_config_name}'.")
        endpoint.endpoint_status = "Updating"
        endpoint.last_modified_time = now()
        if deployment_config:
            endpoint.last_deployment_config = deployment_config
        self.fleet.update(endpoint, config)
        return endpoint.arn

    def delete_endpoint(self, endpoint_name: str) -> None:
        super().delete_endpoint(endpoint_name)
        self.fleet.undeploy(endpoint_name)


_TRAINING_KEYS = {
    "TrainingJobName": "training_job_name", "HyperParameters": "hyper_parameters",
    "AlgorithmSpecification": "algorithm_specification", "RoleArn": "role_arn",
    "InputDataConfig": "input_data_config", "OutputDataConfig": "output_data_config",
    "ResourceConfig": "resource_config", "VpcConfig": "vpc_config", "StoppingCondition": "stopping_condition",
    "Tags": "tags", "EnableNetworkIsolation": "enable_network_isolation",
    "EnableInterContainerTrafficEncryption": "enable_inter_container_traffic_encryption",
    "EnableManagedSpotTraining": "enable_managed_spot_training", "CheckpointConfig": "checkpoint_config",
    "DebugHookConfig": "debug_hook_config", "DebugRuleConfigurations": "debug_rule_configurations",
    "TensorBoardOutputConfig": "tensor_board_output_config", "ExperimentConfig": "experiment_config",
}


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
