"""The taxi pipeline definition: hermetic, byte-stable, and wired as designed.

Builds run offline: in this process under a socket guard, and in two fresh interpreters with
different hash seeds, ambient AWS settings and a SageMaker SDK config file that would change
the definition if the builder let the SDK read it.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
ROLE = "arn:aws:iam::123456789012:role/SageMakerExecution"
BUCKET = "defn-bucket"

# Run in a fresh interpreter: refuse the network before anything is imported, build, print.
BUILD_SCRIPT = r"""
import socket, sys
attempts = []
def refuse(*args, **kwargs):
    attempts.append(repr(args[:2]))
    raise OSError("network refused by test")
socket.getaddrinfo = refuse
socket.create_connection = refuse
from pipelines.code_bundle import build_code_bundle
from pipelines.config import PipelineConfig
from pipelines.definition import definition_json
config = PipelineConfig(role_arn=sys.argv[1], bucket=sys.argv[2])
text = definition_json(config, build_code_bundle(config.bucket, config.code_prefix))
if attempts:
    sys.exit("network attempts: " + ", ".join(attempts))
sys.stdout.write(text)
"""

# Values the SDK would copy into a definition if it read the config file.
SDK_CONFIG_FILE = """\
SchemaVersion: '1.0'
SageMaker:
  ProcessingJob:
    Tags:
      - Key: leaked-from
        Value: user-config
    ProcessingOutputConfig:
      KmsKeyId: alias/leaked-from-user-config
  TrainingJob:
    EnableNetworkIsolation: true
    OutputDataConfig:
      KmsKeyId: alias/leaked-from-user-config
  Model:
    EnableNetworkIsolation: true
"""


def _guard_network(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    attempts: list[str] = []

    def refuse(*args: Any, **kwargs: Any) -> Any:
        attempts.append(repr(args[:2]))
        raise OSError("network refused by test")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    return attempts


@pytest.fixture(scope="module")
def built() -> dict[str, Any]:
    """One in-process build (network refused), and the SDK pipeline object for inspection."""
    from pipelines.code_bundle import build_code_bundle
    from pipelines.config import PipelineConfig
    from pipelines.definition import build_pipeline, definition_json

    with pytest.MonkeyPatch.context() as patch:
        attempts = _guard_network(patch)
        config = PipelineConfig(role_arn=ROLE, bucket=BUCKET)
        bundle = build_code_bundle(config.bucket, config.code_prefix)
        text = definition_json(config, bundle)
        pipeline = build_pipeline(config, bundle)
    return {"attempts": attempts, "text": text, "config": config, "bundle": bundle, "pipeline": pipeline}


@pytest.fixture(scope="module")
def definition(built: dict[str, Any]) -> dict[str, Any]:
    return json.loads(built["text"])


def _steps(definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every step by name, including those nested in condition branches."""
    found: dict[str, dict[str, Any]] = {}

    def walk(steps: list[dict[str, Any]]) -> None:
        for step in steps:
            assert step["Name"] not in found, f"step {step['Name']} appears twice"
            found[step["Name"]] = step
            args = step.get("Arguments", {})
            if step["Type"] == "Condition":
                walk(args.get("IfSteps", []))
                walk(args.get("ElseSteps", []))

    walk(definition["Steps"])
    return found


def _get(name: str) -> dict[str, str]:
    return {"Get": name}


def _output(step: str, output: str) -> dict[str, str]:
    return _get(f"Steps.{step}.ProcessingOutputConfig.Outputs['{output}'].S3Output.S3Uri")


def _inputs(step: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {i["InputName"]: i["S3Input"] for i in step["Arguments"]["ProcessingInputs"]}


def _outputs(step: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {o["OutputName"]: o["S3Output"] for o in step["Arguments"]["ProcessingOutputConfig"]["Outputs"]}


def _run_uri(*parts: str) -> dict[str, Any]:
    return {
        "Std:Join": {
            "On": "/",
            "Values": [f"s3://{BUCKET}/taxi-duration/runs", _get("Execution.PipelineExecutionId"), *parts],
        }
    }


def _file(step: str, output: str, name: str) -> dict[str, Any]:
    return {"Std:Join": {"On": "/", "Values": [_output(step, output), name]}}


# ------------------------------------------------------------------------------ hermetic and stable


def test_in_process_build_makes_no_network_attempt(built):
    assert built["attempts"] == []


def test_definition_bytes_are_identical_across_fresh_processes(built, tmp_path):
    """Two interpreters (different hash seeds, ambient AWS settings, an SDK config file) agree byte for byte."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SAGEMAKER_"))}
    base["PYTHONPATH"] = str(ROOT)
    user_config = tmp_path / "sdk-config.yaml"
    user_config.write_text(SDK_CONFIG_FILE)
    envs = [
        base | {"PYTHONHASHSEED": "1", "HOME": str(tmp_path / "home1")},
        base
        | {
            "PYTHONHASHSEED": "2",
            "HOME": str(tmp_path / "home2"),
            "AWS_DEFAULT_REGION": "eu-west-1",
            "AWS_PROFILE": "no-such-profile",
            "SAGEMAKER_USER_CONFIG_OVERRIDE": str(user_config),
            "SAGEMAKER_ADMIN_CONFIG_OVERRIDE": str(user_config),
        },
    ]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", BUILD_SCRIPT, ROLE, BUCKET],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for env in envs
    ]
    results = [p.communicate(timeout=300) for p in procs]
    for proc, (_, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, err.decode()[-3000:]
    first, second = (out for out, _ in results)
    assert first == second
    assert first.decode() == built["text"]
    assert b"leaked" not in first


def test_definition_json_is_canonical(built):
    text = built["text"]
    assert text == json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"))


def test_nothing_time_or_host_dependent_is_in_the_definition(definition, built):
    text = built["text"]
    for name in ("ProcessingJobName", "TrainingJobName", "ModelPackageName", "CreationTime"):
        assert name not in text
    assert "/tmp" not in text and str(ROOT) not in text


# ------------------------------------------------------------------------------ parameters and steps


def test_parameters_and_their_defaults(definition):
    params = {p["Name"]: p for p in definition["Parameters"]}
    assert {name: (p["Type"], p.get("DefaultValue")) for name, p in params.items()} == {
        "InputDataUri": ("String", f"s3://{BUCKET}/taxi-duration/data/"),
        "ProcessingInstanceType": ("String", "ml.m5.large"),
        "ProcessingInstanceCount": ("Integer", 1),
        "TrainingInstanceType": ("String", "ml.m5.large"),
        "MaxIter": ("Integer", 200),
        "LearningRate": ("Float", 0.1),
        "MaxLeafNodes": ("Integer", 31),
        "Seed": ("Integer", 42),
        "RmseThreshold": ("Float", 8.0),
        "ModelApprovalStatus": ("String", "PendingManualApproval"),
    }
    assert sorted(params["ModelApprovalStatus"]["EnumValues"]) == ["Approved", "PendingManualApproval", "Rejected"]


def test_every_step_is_present_with_its_type(definition):
    assert definition["Version"] == "2020-12-01"
    assert [s["Name"] for s in definition["Steps"]] == ["Preprocess", "Train", "Evaluate", "Baseline", "RmseGate"]
    assert {name: s["Type"] for name, s in _steps(definition).items()} == {
        "Preprocess": "Processing",
        "Train": "Training",
        "Evaluate": "Processing",
        "Baseline": "Processing",
        "RmseGate": "Condition",
        "Register": "RegisterModel",
        "RmseTooHigh": "Fail",
    }


def test_processing_steps_run_the_bundled_scripts_on_the_sklearn_image(definition, built):
    bundle, config = built["bundle"], built["config"]
    steps = _steps(definition)
    for name, role in (("Preprocess", "preprocess"), ("Evaluate", "evaluate"), ("Baseline", "baseline")):
        args = steps[name]["Arguments"]
        script = bundle.uri(role).rsplit("/", 1)[1]
        assert args["AppSpecification"] == {
            "ImageUri": config.image_uri,
            "ContainerEntrypoint": ["python3", f"/opt/ml/processing/input/code/{script}"],
        }
        assert _inputs(steps[name])["code"]["S3Uri"] == bundle.uri(role)
        assert args["ProcessingResources"]["ClusterConfig"]["InstanceType"] == _get("Parameters.ProcessingInstanceType")
        assert args["ProcessingResources"]["ClusterConfig"]["InstanceCount"] == _get(
            "Parameters.ProcessingInstanceCount"
        )
        assert args["RoleArn"] == ROLE
    assert config.image_uri == "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.9-0-cpu-py3"


def test_preprocess_reads_the_input_parameter_and_writes_three_splits_per_execution(definition):
    step = _steps(definition)["Preprocess"]
    assert _inputs(step)["data"]["S3Uri"] == _get("Parameters.InputDataUri")
    assert _inputs(step)["data"]["LocalPath"] == "/opt/ml/processing/input/data"
    outputs = _outputs(step)
    assert sorted(outputs) == ["test", "train", "validation"]
    for split, output in outputs.items():
        assert output["LocalPath"] == f"/opt/ml/processing/{split}"
        assert output["S3Uri"] == _run_uri("preprocess", split)


def test_train_is_script_mode_on_preprocess_outputs_with_metric_definitions(definition, built):
    args = _steps(definition)["Train"]["Arguments"]
    algo = args["AlgorithmSpecification"]
    assert algo["TrainingImage"] == built["config"].image_uri
    assert "ContainerEntrypoint" not in algo  # the framework image's script mode runs train.py
    hps = args["HyperParameters"]
    assert hps == {
        "max_iter": _get("Parameters.MaxIter"),
        "learning_rate": _get("Parameters.LearningRate"),
        "max_leaf_nodes": _get("Parameters.MaxLeafNodes"),
        "seed": _get("Parameters.Seed"),
        "sagemaker_program": '"train.py"',
        "sagemaker_submit_directory": json.dumps(built["bundle"].uri("train")),
    }
    channels = {c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"] for c in args["InputDataConfig"]}
    assert channels == {"train": _output("Preprocess", "train"), "validation": _output("Preprocess", "validation")}
    assert args["OutputDataConfig"]["S3OutputPath"] == _run_uri("train")
    assert args["ResourceConfig"]["InstanceType"] == _get("Parameters.TrainingInstanceType")

    metrics = {m["Name"]: re.compile(m["Regex"]) for m in algo["MetricDefinitions"]}
    assert "validation:rmse" in metrics and "train:rmse" in metrics
    # train.py's log lines, as it prints them
    assert float(metrics["validation:rmse"].search("validation_rmse=4.827625;").group(1)) == 4.827625
    assert metrics["validation:rmse"].search("train_rmse=4.150008;") is None
    assert float(metrics["train:r2"].search("train_r2=-0.125000;").group(1)) == -0.125


def test_train_hyperparameter_names_are_ones_train_py_accepts(definition):
    hps = _steps(definition)["Train"]["Arguments"]["HyperParameters"]
    source = (ROOT / "training" / "train.py").read_text()
    for name in hps:
        if not name.startswith("sagemaker_"):
            assert f'"--{name}"' in source, f"train.py has no --{name} option"


def test_evaluate_reads_train_artifacts_and_test_split_and_declares_the_report(definition):
    step = _steps(definition)["Evaluate"]
    inputs = _inputs(step)
    assert inputs["model"]["S3Uri"] == _get("Steps.Train.ModelArtifacts.S3ModelArtifacts")
    assert inputs["model"]["LocalPath"] == "/opt/ml/processing/model"
    assert inputs["test"]["S3Uri"] == _output("Preprocess", "test")
    assert inputs["test"]["LocalPath"] == "/opt/ml/processing/test"
    assert _outputs(step)["evaluation"] == {
        "LocalPath": "/opt/ml/processing/evaluation",
        "S3Uri": _run_uri("evaluate", "evaluation"),
        "S3UploadMode": "EndOfJob",
    }
    assert step["PropertyFiles"] == [
        {"PropertyFileName": "EvaluationReport", "OutputName": "evaluation", "FilePath": "evaluation.json"}
    ]


def test_baseline_profiles_the_train_split(definition):
    step = _steps(definition)["Baseline"]
    assert _inputs(step)["train"]["S3Uri"] == _output("Preprocess", "train")
    assert _inputs(step)["train"]["LocalPath"] == "/opt/ml/processing/input/train"
    assert _outputs(step)["baseline"]["LocalPath"] == "/opt/ml/processing/baseline"
    assert _outputs(step)["baseline"]["S3Uri"] == _run_uri("baseline", "baseline")


RMSE = {
    "Std:JsonGet": {
        "PropertyFile": _get("Steps.Evaluate.PropertyFiles.EvaluationReport"),
        "Path": "regression_metrics.rmse.value",
    }
}


def test_gate_compares_evaluation_rmse_to_the_threshold_parameter(definition):
    gate = _steps(definition)["RmseGate"]
    assert gate["Arguments"]["Conditions"] == [
        {"Type": "LessThanOrEqualTo", "LeftValue": RMSE, "RightValue": _get("Parameters.RmseThreshold")}
    ]
    assert [s["Name"] for s in gate["Arguments"]["IfSteps"]] == ["Register"]
    assert [s["Name"] for s in gate["Arguments"]["ElseSteps"]] == ["RmseTooHigh"]
    assert gate["DependsOn"] == ["Baseline"]  # the registered package points at the baseline files


def test_fail_message_names_rmse_its_value_and_the_threshold(definition):
    message = _steps(definition)["RmseTooHigh"]["Arguments"]["ErrorMessage"]["Std:Join"]
    values = message["Values"]
    assert RMSE in values and _get("Parameters.RmseThreshold") in values
    words = " ".join(v for v in values if isinstance(v, str))
    assert "rmse" in words and "RmseThreshold" in words
    assert values.index(RMSE) < values.index(_get("Parameters.RmseThreshold"))


def test_register_points_at_train_artifacts_evaluation_and_baseline(definition, built):
    args = _steps(definition)["Register"]["Arguments"]
    bundle, config = built["bundle"], built["config"]
    assert args["ModelPackageGroupName"] == config.model_package_group_name
    assert args["ModelApprovalStatus"] == _get("Parameters.ModelApprovalStatus")
    spec = args["InferenceSpecification"]
    [container] = spec["Containers"]
    assert container["Image"] == config.image_uri
    assert container["ModelDataUrl"] == _get("Steps.Train.ModelArtifacts.S3ModelArtifacts")
    assert container["Environment"]["SAGEMAKER_PROGRAM"] == "inference.py"
    assert container["Environment"]["SAGEMAKER_SUBMIT_DIRECTORY"] == bundle.uri("inference")
    assert spec["SupportedContentTypes"] == ["text/csv", "application/json"]
    assert spec["SupportedResponseMIMETypes"] == ["text/csv", "application/json"]
    statistics = {"ContentType": "application/json", "S3Uri": _file("Baseline", "baseline", "statistics.json")}
    constraints = {"ContentType": "application/json", "S3Uri": _file("Baseline", "baseline", "constraints.json")}
    quality = {"ContentType": "application/json",
               "S3Uri": _file("Evaluate", "evaluation", "quality_constraints.json")}
    metrics = args["ModelMetrics"]
    assert metrics["ModelQuality"] == {
        "Statistics": {"ContentType": "application/json", "S3Uri": _file("Evaluate", "evaluation", "evaluation.json")},
        "Constraints": quality,
    }
    assert metrics["ModelDataQuality"] == {"Statistics": statistics, "Constraints": constraints}
    assert args["DriftCheckBaselines"] == {"ModelQuality": {"Constraints": quality},
                                           "ModelDataQuality": {"Statistics": statistics, "Constraints": constraints}}


def test_sdk_pipeline_object_carries_the_name_and_parameters(built):
    pipeline = built["pipeline"]
    assert pipeline.name == built["config"].pipeline_name
    assert [p.name for p in pipeline.parameters][-2:] == ["RmseThreshold", "ModelApprovalStatus"]


# ------------------------------------------------------------------------------ config and inputs


def test_config_rejects_bad_values_with_the_field_named():
    from pipelines.config import PipelineConfig

    with pytest.raises(ValueError, match="role_arn 'admin' is not an IAM role ARN"):
        PipelineConfig(role_arn="admin", bucket=BUCKET, image_uri="x")
    with pytest.raises(ValueError, match="bucket 'Bad_Bucket' is not a valid S3 bucket name"):
        PipelineConfig(role_arn=ROLE, bucket="Bad_Bucket", image_uri="x")
    with pytest.raises(ValueError, match="input_data_uri 'data/' must be an s3:// URI"):
        PipelineConfig(role_arn=ROLE, bucket=BUCKET, image_uri="x", input_data_uri="data/")
    with pytest.raises(ValueError, match="rmse_threshold must be positive"):
        PipelineConfig(role_arn=ROLE, bucket=BUCKET, image_uri="x", rmse_threshold=0)


def test_config_resolves_the_regional_sklearn_image():
    from pipelines.config import PipelineConfig

    config = PipelineConfig(role_arn=ROLE, bucket=BUCKET, region="eu-west-1")
    assert config.image_uri == "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-scikit-learn:1.9-0-cpu-py3"


def test_build_refuses_a_bundle_for_another_bucket(built):
    from pipelines.code_bundle import build_code_bundle
    from pipelines.definition import build_pipeline

    other = build_code_bundle("other-bucket", built["config"].code_prefix)
    with pytest.raises(ValueError, match="code bundle is for bucket 'other-bucket'"):
        build_pipeline(built["config"], other)


def test_cli_prints_the_same_definition(built):
    from pipelines.__main__ import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["--print-definition", "--indent", "0", "--bucket", BUCKET, "--role-arn", ROLE]) == 0
    assert out.getvalue() == built["text"] + "\n"


# ------------------------------------------------------------------------------ code bundle


def _copy_sources(target: Path) -> Path:
    for relative in ("training/preprocess.py", "training/train.py", "training/evaluate.py",
                     "training/baseline.py", "inference/inference.py"):
        (target / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / relative, target / relative)
    return target


def test_bundle_keys_are_content_hashed_and_stable(tmp_path):
    from pipelines.code_bundle import build_code_bundle

    source = _copy_sources(tmp_path / "src")
    first = build_code_bundle(BUCKET, "p/code", source)
    assert sorted(first.roles) == ["baseline", "evaluate", "inference", "preprocess", "train"]
    for role, key in first.roles.items():
        assert key.startswith("p/code/") and len(key.split("/")[2]) == 16, (role, key)
    # Same content, different mtimes and permissions: the same keys and bytes.
    for path in source.rglob("*.py"):
        os.utime(path, (1_000_000, 1_000_000))
        path.chmod(0o600)
    again = build_code_bundle(BUCKET, "p/code", source)
    assert dict(again) == dict(first) and again.roles == first.roles
    # Same content elsewhere on disk: the same too.
    assert dict(build_code_bundle(BUCKET, "p/code", _copy_sources(tmp_path / "elsewhere"))) == dict(first)


def test_changing_one_script_changes_only_its_key(tmp_path):
    from pipelines.code_bundle import build_code_bundle

    source = _copy_sources(tmp_path / "src")
    before = build_code_bundle(BUCKET, "p/code", source)
    with (source / "training/train.py").open("a") as f:
        f.write("\n# a change\n")
    after = build_code_bundle(BUCKET, "p/code", source)
    changed = {role for role in before.roles if before.roles[role] != after.roles[role]}
    assert changed == {"train"}
    with (source / "training/evaluate.py").open("a") as f:
        f.write("\n# another\n")
    latest = build_code_bundle(BUCKET, "p/code", source)
    assert {role for role in after.roles if after.roles[role] != latest.roles[role]} == {"evaluate"}


def test_bundle_objects_hold_the_scripts(built):
    bundle = built["bundle"]
    assert bundle[bundle.key("preprocess")] == (ROOT / "training/preprocess.py").read_bytes()
    for role, entry in (("train", "train.py"), ("inference", "inference.py")):
        data = bundle[bundle.key(role)]
        assert data[:2] == b"\x1f\x8b" and data[4:8] == b"\x00\x00\x00\x00"  # gzip, header mtime 0
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            [member] = tar.getmembers()
            assert (member.name, member.mtime, member.uid, member.gid, member.uname) == (entry, 0, 0, 0, "")
            source = "training" if role == "train" else "inference"
            assert tar.extractfile(member).read() == (ROOT / source / entry).read_bytes()


def test_definition_follows_a_changed_script(built, tmp_path):
    from pipelines.code_bundle import build_code_bundle
    from pipelines.definition import definition_json

    source = _copy_sources(tmp_path / "src")
    with (source / "inference/inference.py").open("a") as f:
        f.write("\n# a change\n")
    bundle = build_code_bundle(BUCKET, built["config"].code_prefix, source)
    text = definition_json(built["config"], bundle)
    assert text != built["text"]
    assert bundle.uri("inference") in text and built["bundle"].uri("inference") not in text
    assert bundle.uri("train") == built["bundle"].uri("train")


def test_missing_script_is_a_clear_error(tmp_path):
    from pipelines.code_bundle import build_code_bundle

    source = _copy_sources(tmp_path / "src")
    (source / "inference/inference.py").unlink()
    with pytest.raises(FileNotFoundError, match=r"job code for 'inference' is missing: .*inference\.py"):
        build_code_bundle(BUCKET, "p/code", source)


def test_the_definition_reads_as_a_graph_coloured_by_an_executions_statuses(definition: dict[str, Any]) -> None:
    """The console's pipeline view: dependencies from property references, the gate's two branches."""
    from sagestack.views import pipeline_graph as graph_view

    graph = graph_view.parse(definition)
    assert list(graph.steps) == ["Preprocess", "Train", "Evaluate", "Baseline", "RmseGate", "Register",
                                 "RmseTooHigh"]
    edges = {(e.source, e.target, e.kind) for e in graph.edges}
    assert {("Preprocess", "Train", "depends"), ("Train", "Evaluate", "depends"), ("Evaluate", "RmseGate", "depends"),
            ("RmseGate", "Register", "if"), ("RmseGate", "RmseTooHigh", "else")} <= edges
    assert graph_view.columns(graph) == {"Preprocess": 0, "Train": 1, "Baseline": 1, "Evaluate": 2, "RmseGate": 3,
                                         "Register": 4, "RmseTooHigh": 4}
    failed_gate = {name: "Succeeded" for name in ("Preprocess", "Train", "Evaluate", "Baseline", "RmseGate")}
    figure = graph_view.figure(graph, {**failed_gate, "RmseTooHigh": "Failed"}, "a run the gate stopped")
    steps = figure["data"][-1]
    colours = dict(zip(steps["text"], steps["marker"]["color"], strict=True))
    assert colours["Train"] == graph_view.STATUS_COLOURS["Succeeded"]
    assert colours["RmseTooHigh"] == graph_view.STATUS_COLOURS["Failed"]
    assert colours["Register"] == graph_view.NOT_RUN  # the branch not taken
    assert {trace["name"] for trace in figure["data"][:-1]} == {"depends", "if", "else"}


def test_depends_on_counts_and_unknown_steps_are_left_out() -> None:
    from sagestack.views import pipeline_graph as graph_view

    graph = graph_view.parse({"Steps": [
        {"Name": "A", "Type": "Processing", "Arguments": {}},
        {"Name": "B", "Type": "Processing", "Arguments": {"X": {"Get": "Steps.Gone.Output"}}, "DependsOn": ["A"]}]})
    assert [(e.source, e.target, e.kind) for e in graph.edges] == [("A", "B", "depends")]
    assert graph_view.columns(graph) == {"A": 0, "B": 1}
