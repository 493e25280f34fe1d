"""The taxi trip-duration SageMaker Pipeline, built with the SageMaker Python SDK v3.

    Preprocess ──► Train ──► Evaluate ──┐
        └──────► Baseline ──────────────┴─► RmseGate ─ rmse <= RmseThreshold ─► Register
                                                     └ otherwise ─────────────► RmseTooHigh (Fail)

Why built this way:

* HERMETIC: `build_pipeline(config, bundle)` is a pure function. The job code is referenced
  by the bundle's content-hashed S3 URIs (nothing is uploaded), the SDK runs inside
  `offline_sdk.hermetic_sdk` with placeholder credentials and an explicit config (no AWS
  call, no config file, no telemetry), and job names, which the SDK derives from clocks,
  are left out of the definition as SageMaker Pipelines assigns them at run time. So the
  same config and bundle always give the same definition bytes, and a deploy that changes
  nothing changes nothing.
* Run outputs go under `<runs>/<PipelineExecutionId>/<step>/...` so executions never
  overwrite each other and a registered model's metrics stay where its package says.
* Baseline only needs the train split, so it runs beside Train/Evaluate; the gate waits
  for it explicitly because the registered package points at its files.
* The processing scripts run as single files (`python3 <code>`) and train.py /
  inference.py in script mode (`sagemaker_program` + `sagemaker_submit_directory`), which
  the SageMaker scikit-learn framework image understands natively.
"""

from __future__ import annotations

import json
from typing import Any

from pipelines import code_bundle as cb
from pipelines.config import PipelineConfig
from pipelines.offline_sdk import hermetic_sdk, pipeline_session
from pipelines.parameters import PipelineParameters, make_parameters

# Step names are part of the contract (executions list them; properties reference them).
PREPROCESS_STEP = "Preprocess"
TRAIN_STEP = "Train"
EVALUATE_STEP = "Evaluate"
BASELINE_STEP = "Baseline"
GATE_STEP = "RmseGate"
REGISTER_STEP = "Register"
FAIL_STEP = "RmseTooHigh"

EVALUATION_REPORT = "EvaluationReport"  # PropertyFile name on Evaluate
RMSE_PATH = "regression_metrics.rmse.value"
MODEL_SHA256_PATH = "model.sha256"
MODEL_PIN_VARIABLE = "SAGESTACK_MODEL_SHA256"
"""inference/inference.py refuses a model.joblib whose sha256 differs from this variable."""
MODEL_SHA256_METADATA = "sagestack:model-sha256"
"""The model package's CustomerMetadataProperties key holding the same digest."""

PROCESSING_BASE = "/opt/ml/processing"
CONTENT_TYPES = ["text/csv", "application/json"]

# train.py prints `<split>_<metric>=<value>;` lines; SageMaker keeps the last match of each.
METRIC_NUMBER = r"([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?);"
TRAINING_METRICS = [
    (f"{split}:{metric}", f"{split}_{metric}")
    for split in ("train", "validation")
    for metric in ("rmse", "mae", "r2")
]


def _run_uri(config: PipelineConfig, *parts: str) -> Any:
    """`<runs>/<PipelineExecutionId>/<parts...>` as an SDK Join, resolved per execution."""
    from sagemaker.core.workflow.execution_variables import ExecutionVariables
    from sagemaker.core.workflow.functions import Join

    return Join(on="/", values=[config.runs_uri, ExecutionVariables.PIPELINE_EXECUTION_ID, *parts])


def _file_uri(folder: Any, name: str) -> Any:
    from sagemaker.core.workflow.functions import Join

    return Join(on="/", values=[folder, name])


def _s3_input(name: str, source: Any, local: str) -> Any:
    from sagemaker.core.shapes import ProcessingInput, ProcessingS3Input

    return ProcessingInput(
        input_name=name,
        s3_input=ProcessingS3Input(
            s3_uri=source,
            local_path=local,
            s3_data_type="S3Prefix",
            s3_input_mode="File",
            s3_data_distribution_type="FullyReplicated",
        ),
    )


def _s3_output(name: str, destination: Any, local: str) -> Any:
    from sagemaker.core.shapes import ProcessingOutput, ProcessingS3Output

    return ProcessingOutput(
        output_name=name,
        s3_output=ProcessingS3Output(s3_uri=destination, local_path=local, s3_upload_mode="EndOfJob"),
    )


def _output_uri(step: Any, output: str) -> Any:
    return step.properties.ProcessingOutputConfig.Outputs[output].S3Output.S3Uri


class _Builder:
    """Holds what every step needs (config, bundle, session, parameters) while they are made."""

    def __init__(self, config: PipelineConfig, bundle: cb.CodeBundle, session: Any, params: PipelineParameters):
        self.config, self.bundle, self.session, self.params = config, bundle, session, params

    def processor(self, job: str) -> Any:
        from sagemaker.core.processing import ScriptProcessor

        return ScriptProcessor(
            role=self.config.role_arn,
            image_uri=self.config.image_uri,
            command=["python3"],
            instance_type=self.params.processing_instance_type,
            instance_count=self.params.processing_instance_count,
            max_runtime_in_seconds=self.config.max_runtime_seconds,
            base_job_name=f"{self.config.pipeline_name}-{job}",
            sagemaker_session=self.session,
        )

    def preprocess(self) -> Any:
        from sagemaker.mlops.workflow.steps import ProcessingStep

        outputs = [
            _s3_output(split, _run_uri(self.config, "preprocess", split), f"{PROCESSING_BASE}/{split}")
            for split in ("train", "validation", "test")
        ]
        args = self.processor("preprocess").run(
            code=self.bundle.uri(cb.PREPROCESS),
            inputs=[_s3_input("data", self.params.input_data_uri, f"{PROCESSING_BASE}/input/data")],
            outputs=outputs,
        )
        return ProcessingStep(name=PREPROCESS_STEP, step_args=args)

    def train(self, preprocess: Any) -> Any:
        from sagemaker.core.shapes import MetricDefinition
        from sagemaker.mlops.workflow.steps import TrainingStep
        from sagemaker.train.configs import Compute, InputData, OutputDataConfig, StoppingCondition
        from sagemaker.train.model_trainer import ModelTrainer

        p = self.params
        trainer = ModelTrainer(
            training_image=self.config.image_uri,
            role=self.config.role_arn,
            sagemaker_session=self.session,
            base_job_name=f"{self.config.pipeline_name}-train",
            compute=Compute(instance_type=p.training_instance_type, instance_count=1, volume_size_in_gb=30),
            stopping_condition=StoppingCondition(max_runtime_in_seconds=self.config.max_runtime_seconds),
            output_data_config=OutputDataConfig(s3_output_path=_run_uri(self.config, "train")),
            hyperparameters={
                "max_iter": p.max_iter,
                "learning_rate": p.learning_rate,
                "max_leaf_nodes": p.max_leaf_nodes,
                "seed": p.seed,
                # Script mode of the framework image; JSON-encoded as the training toolkit decodes them.
                "sagemaker_program": json.dumps(cb.ENTRY_POINTS[cb.TRAIN]),
                "sagemaker_submit_directory": json.dumps(self.bundle.uri(cb.TRAIN)),
            },
        ).with_metric_definitions(
            [MetricDefinition(name=name, regex=f"{line}={METRIC_NUMBER}") for name, line in TRAINING_METRICS]
        )
        args = trainer.train(
            input_data_config=[
                InputData(channel_name=split, data_source=_output_uri(preprocess, split))
                for split in ("train", "validation")
            ],
            wait=False,
            logs=False,
        )
        return TrainingStep(name=TRAIN_STEP, step_args=args)

    def evaluate(self, preprocess: Any, train: Any) -> tuple[Any, Any]:
        from sagemaker.core.workflow.properties import PropertyFile
        from sagemaker.mlops.workflow.steps import ProcessingStep

        report = PropertyFile(name=EVALUATION_REPORT, output_name="evaluation", path="evaluation.json")
        args = self.processor("evaluate").run(
            code=self.bundle.uri(cb.EVALUATE),
            inputs=[
                _s3_input("model", train.properties.ModelArtifacts.S3ModelArtifacts, f"{PROCESSING_BASE}/model"),
                _s3_input("test", _output_uri(preprocess, "test"), f"{PROCESSING_BASE}/test"),
            ],
            outputs=[
                _s3_output(
                    "evaluation", _run_uri(self.config, "evaluate", "evaluation"), f"{PROCESSING_BASE}/evaluation"
                )
            ],
        )
        return ProcessingStep(name=EVALUATE_STEP, step_args=args, property_files=[report]), report

    def baseline(self, preprocess: Any) -> Any:
        from sagemaker.mlops.workflow.steps import ProcessingStep

        args = self.processor("baseline").run(
            code=self.bundle.uri(cb.BASELINE),
            inputs=[_s3_input("train", _output_uri(preprocess, "train"), f"{PROCESSING_BASE}/input/train")],
            outputs=[
                _s3_output("baseline", _run_uri(self.config, "baseline", "baseline"), f"{PROCESSING_BASE}/baseline")
            ],
        )
        return ProcessingStep(name=BASELINE_STEP, step_args=args)

    def register(self, train: Any, evaluate: Any, report: Any, baseline: Any) -> Any:
        """RegisterModel via ModelBuilder.register under the PipelineSession, wrapped in a ModelStep.

        The package records the sha256 of the model.joblib that Evaluate verified and scored, in
        its metadata and as the serving container's SAGESTACK_MODEL_SHA256: an endpoint built
        from the package then refuses any other artifact found at the package's S3 location.
        """
        from sagemaker.core.drift_check_baselines import DriftCheckBaselines
        from sagemaker.core.model_metrics import MetricsSource, ModelMetrics
        from sagemaker.core.workflow.functions import JsonGet
        from sagemaker.mlops.workflow.model_step import ModelStep
        from sagemaker.serve.model_builder import ModelBuilder

        def model_sha256() -> Any:
            return JsonGet(step_name=evaluate.name, property_file=report, json_path=MODEL_SHA256_PATH)

        evaluation = _file_uri(_output_uri(evaluate, "evaluation"), "evaluation.json")
        quality = _file_uri(_output_uri(evaluate, "evaluation"), "quality_constraints.json")
        statistics = _file_uri(_output_uri(baseline, "baseline"), "statistics.json")
        constraints = _file_uri(_output_uri(baseline, "baseline"), "constraints.json")
        builder = ModelBuilder(
            image_uri=self.config.image_uri,
            s3_model_data_url=train.properties.ModelArtifacts.S3ModelArtifacts,
            role_arn=self.config.role_arn,
            sagemaker_session=self.session,
            # The default {"auto": True} would make register() package and upload code itself.
            dependencies=None,
            env_vars={
                "SAGEMAKER_PROGRAM": cb.ENTRY_POINTS[cb.INFERENCE],
                "SAGEMAKER_SUBMIT_DIRECTORY": self.bundle.uri(cb.INFERENCE),
                "SAGEMAKER_REGION": self.config.region,
                "SAGEMAKER_CONTAINER_LOG_LEVEL": "20",
                MODEL_PIN_VARIABLE: model_sha256(),
            },
        )
        args = builder.register(
            model_package_group_name=self.config.model_package_group_name,
            content_types=list(CONTENT_TYPES),
            response_types=list(CONTENT_TYPES),
            inference_instances=list(self.config.inference_instance_types),
            transform_instances=list(self.config.inference_instance_types),
            approval_status=self.params.model_approval_status,
            customer_metadata_properties={MODEL_SHA256_METADATA: model_sha256()},
            model_metrics=ModelMetrics(
                model_statistics=MetricsSource(content_type="application/json", s3_uri=evaluation),
                model_constraints=MetricsSource(content_type="application/json", s3_uri=quality),
                model_data_statistics=MetricsSource(content_type="application/json", s3_uri=statistics),
                model_data_constraints=MetricsSource(content_type="application/json", s3_uri=constraints),
            ),
            drift_check_baselines=DriftCheckBaselines(
                model_constraints=MetricsSource(content_type="application/json", s3_uri=quality),
                model_data_statistics=MetricsSource(content_type="application/json", s3_uri=statistics),
                model_data_constraints=MetricsSource(content_type="application/json", s3_uri=constraints),
            ),
        )
        return ModelStep(name=REGISTER_STEP, step_args=args)

    def gate(self, evaluate: Any, report: Any, baseline: Any, register: Any) -> Any:
        from sagemaker.core.workflow.conditions import ConditionLessThanOrEqualTo
        from sagemaker.core.workflow.functions import Join, JsonGet
        from sagemaker.mlops.workflow.condition_step import ConditionStep
        from sagemaker.mlops.workflow.fail_step import FailStep

        def rmse() -> Any:
            return JsonGet(step_name=evaluate.name, property_file=report, json_path=RMSE_PATH)

        threshold = self.params.rmse_threshold
        fail = FailStep(
            name=FAIL_STEP,
            error_message=Join(
                on=" ",
                values=["Quality gate failed: evaluation rmse", rmse(), "is above RmseThreshold", threshold],
            ),
        )
        return ConditionStep(
            name=GATE_STEP,
            conditions=[ConditionLessThanOrEqualTo(left=rmse(), right=threshold)],
            if_steps=[register],
            else_steps=[fail],
            depends_on=[baseline],
        )


def build_pipeline(config: PipelineConfig, bundle: cb.CodeBundle) -> Any:
    """The SDK `Pipeline` object (no AWS call; nothing uploaded)."""
    if not isinstance(config, PipelineConfig):
        raise TypeError(f"config must be a PipelineConfig, not {type(config).__name__}")
    if not isinstance(bundle, cb.CodeBundle):
        raise TypeError(f"bundle must be a CodeBundle, not {type(bundle).__name__}")
    if bundle.bucket != config.bucket:
        raise ValueError(f"code bundle is for bucket {bundle.bucket!r} but the config says {config.bucket!r}")
    with hermetic_sdk(config.region):
        from sagemaker.mlops.workflow.pipeline import Pipeline

        session = pipeline_session(config.region, config.bucket)
        params = make_parameters(config)
        b = _Builder(config, bundle, session, params)
        preprocess = b.preprocess()
        train = b.train(preprocess)
        evaluate, report = b.evaluate(preprocess, train)
        baseline = b.baseline(preprocess)
        gate = b.gate(evaluate, report, baseline, b.register(train, evaluate, report, baseline))
        return Pipeline(
            name=config.pipeline_name,
            parameters=params.as_list(),
            steps=[preprocess, train, evaluate, baseline, gate],
            sagemaker_session=session,
            # Experiments tracking would create an experiment and trial per execution as a side
            # effect; nothing here reads them.
            pipeline_experiment_config=None,
        )


def definition_json(config: PipelineConfig, bundle: cb.CodeBundle) -> str:
    """The pipeline definition JSON (canonical: sorted keys, compact), ready for Create/UpdatePipeline."""
    pipeline = build_pipeline(config, bundle)
    with hermetic_sdk(config.region):
        text = pipeline.definition()
    return json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"))
