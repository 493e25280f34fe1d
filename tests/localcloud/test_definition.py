"""The pure core of the local SageMaker Pipelines emulator: parsing, parameters, expressions,
conditions and scheduling, plus one definition built in-process by the real SageMaker SDK v3."""

from __future__ import annotations

import copy
import json
import socket
from typing import Any

import pytest

from localcloud.sagemaker.definition import (
    DefinitionError,
    ExpressionError,
    PipelineDefinition,
    PropertyFile,
    ResolveContext,
    StepStatus,
    evaluate_condition,
    evaluate_conditions,
    parse_definition,
    property_file_uri,
    resolve,
    stringify,
)

# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def doc(steps: list[dict[str, Any]], parameters: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"Version": "2020-12-01", "Metadata": {}, "Parameters": parameters or [], "Steps": steps}


def parse(steps: list[dict[str, Any]], parameters: list[dict[str, Any]] | None = None) -> PipelineDefinition:
    return parse_definition(json.dumps(doc(steps, parameters)))


ROLE = "arn:aws:iam::123456789012:role/r"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.9-0-cpu-py3"
RESOURCES = {"ClusterConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1}}
VALID_ARGUMENTS: dict[str, dict[str, Any]] = {
    "Training": {
        "AlgorithmSpecification": {"TrainingImage": IMAGE, "TrainingInputMode": "File"},
        "RoleArn": ROLE,
        "OutputDataConfig": {"S3OutputPath": "s3://b/models"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
        "StoppingCondition": {"MaxRuntimeInSeconds": 60},
    },
    "Processing": {"ProcessingResources": RESOURCES, "AppSpecification": {"ImageUri": IMAGE}, "RoleArn": ROLE},
}
"""The smallest requests AWS accepts for each job step type (the pipeline fills in the job name)."""


def step(name: str, kind: str = "Training", **extra: Any) -> dict[str, Any]:
    arguments = {**copy.deepcopy(VALID_ARGUMENTS.get(kind, {})), **extra.pop("Arguments", {})}
    return {"Name": name, "Type": kind, "Arguments": arguments, **extra}


def get(target: str) -> dict[str, str]:
    return {"Get": target}


def processing(name: str, outputs: tuple[str, ...] = ("train", "evaluation"), **extra: Any) -> dict[str, Any]:
    return step(
        name,
        "Processing",
        Arguments={
            **VALID_ARGUMENTS["Processing"],
            "ProcessingOutputConfig": {
                "Outputs": [
                    {
                        "OutputName": o,
                        "S3Output": {
                            "S3Uri": f"s3://b/{o}",
                            "LocalPath": f"/opt/ml/processing/{o}",
                            "S3UploadMode": "EndOfJob",
                        },
                    }
                    for o in outputs
                ]
            },
        },
        **extra,
    )


def condition(name: str, conditions: list[Any], if_steps=(), else_steps=(), **extra: Any) -> dict[str, Any]:
    args = {"Conditions": conditions, "IfSteps": list(if_steps), "ElseSteps": list(else_steps)}
    return step(name, "Condition", Arguments=args, **extra)


def simulate(
    definition: PipelineDefinition,
    fail: frozenset[str] = frozenset(),
    outcomes: dict[str, bool] | None = None,
) -> tuple[list[tuple[str, ...]], Any]:
    """Run the plan to the end, starting every ready step at once and finishing each wave together.

    Returns the waves of steps started together and the final Progress.
    """
    statuses: dict[str, str] = {}
    given = outcomes or {}
    waves: list[tuple[str, ...]] = []
    for _ in range(100):
        progress = definition.plan(statuses, given)
        if progress.finished:
            return waves, progress
        assert progress.ready, f"nothing ready and nothing running: {progress}"
        waves.append(progress.ready)
        for name in progress.ready:
            kind = definition.steps[name].type
            statuses[name] = "Failed" if name in fail or kind == "Fail" else "Succeeded"
    raise AssertionError("the plan never finished")


# --------------------------------------------------------------------------------------------
# Parsing and validation
# --------------------------------------------------------------------------------------------

JOIN = {"Std:Join": {"On": "/", "Values": ["s3:/", get("Parameters.Bucket")]}}


def test_parses_steps_parameters_and_nested_branch_steps_in_definition_order():
    definition = parse(
        [
            processing(
                "Prep",
                PropertyFiles=[
                    {"PropertyFileName": "Eval", "OutputName": "evaluation", "FilePath": "eval.json"}
                ],
            ),
            step(
                "Train",
                Arguments={"S3": get("Steps.Prep.ProcessingOutputConfig.Outputs['train'].S3Output.S3Uri")},
            ),
            condition(
                "Check",
                [{"Type": "Equals", "LeftValue": 1, "RightValue": 1}],
                if_steps=[step("Register", "RegisterModel")],
                else_steps=[step("Stop", "Fail", Arguments={"ErrorMessage": "no"})],
            ),
        ],
        [{"Name": "Bucket", "Type": "String", "DefaultValue": "b"}],
    )
    assert list(definition.steps) == ["Prep", "Train", "Check", "Register", "Stop"]
    assert definition.steps["Train"].references == {"Prep"}
    assert definition.steps["Register"].parent == "Check" and definition.steps["Register"].branch is True
    assert definition.steps["Stop"].parent == "Check" and definition.steps["Stop"].branch is False
    assert definition.steps["Check"].if_steps == ("Register",)
    assert definition.steps["Check"].else_steps == ("Stop",)
    assert "IfSteps" not in definition.steps["Check"].arguments
    assert definition.steps["Prep"].property_files == {
        "Eval": PropertyFile("Eval", "evaluation", "eval.json")
    }
    assert definition.property_files == {"Prep": {"Eval": PropertyFile("Eval", "evaluation", "eval.json")}}
    assert definition.order.index("Prep") < definition.order.index("Train") < definition.order.index("Check")


def test_keeps_type_specific_top_level_keys_and_reads_their_references():
    lam = step(
        "Notify",
        "Lambda",
        FunctionArn="arn:aws:lambda:us-east-1:123456789012:function:f",
        OutputParameters=[{"OutputName": "status", "OutputType": "String"}],
        Arguments={"model": get("Steps.Train.ModelArtifacts.S3ModelArtifacts")},
    )
    check = step(
        "Quality",
        "QualityCheck",
        CheckType="DATA_QUALITY",
        SuppliedBaselineStatistics=get("Steps.Train.OutputDataConfig.S3OutputPath"),
    )
    definition = parse([step("Train"), lam, check])
    assert definition.steps["Notify"].raw["FunctionArn"].endswith(":function:f")
    assert definition.steps["Quality"].references == {"Train"}
    assert definition.steps["Notify"].upstream == {"Train"}


def test_accepts_both_spellings_of_the_create_model_step():
    definition = parse([step("A", "Model"), step("B", "CreateModel")])
    assert [s.type for s in definition.steps.values()] == ["Model", "CreateModel"]


def test_accepts_bytes_and_optional_blocks():
    text = json.dumps(
        {
            "Version": "2020-12-01",
            "Steps": [step("A")],
            "PipelineExperimentConfig": None,
            "MlflowConfig": None,
        }
    ).encode()
    definition = parse_definition(text)
    assert list(definition.steps) == ["A"] and definition.parameters == {}


BAD_DEFINITIONS = [
    ("not json", "{", "not valid JSON"),
    ("array", "[]", "must be a JSON object, got list"),
    ("version", json.dumps({**doc([step("A")]), "Version": "2021-01-01"}), "Version must be '2020-12-01'"),
    ("no steps", json.dumps(doc([])), "Steps must be a non-empty list"),
    ("steps not list", json.dumps({**doc([]), "Steps": {"A": 1}}), "Steps must be a non-empty list"),
    ("step not object", json.dumps(doc(["A"])), "Steps[0] must be an object, got str"),
    ("bad name", json.dumps(doc([step("a.b")])), "Steps[0]: Name must match [A-Za-z0-9-_]{1,64}, got 'a.b'"),
    ("long name", json.dumps(doc([step("x" * 65)])), "Name must match"),
    ("unknown type", json.dumps(doc([step("A", "Trainin")])), "Step 'A': unknown step Type 'Trainin'"),
    ("duplicate", json.dumps(doc([step("A"), step("A")])), "Step 'A': step names must be unique"),
    (
        "duplicate nested",
        json.dumps(doc([step("A"), condition("C", [], if_steps=[step("A")])])),
        "Step 'A': step names must be unique",
    ),
    (
        "arguments",
        json.dumps(doc([{"Name": "A", "Type": "Training", "Arguments": []}])),
        "Step 'A': Arguments must be an object",
    ),
    ("depends not list", json.dumps(doc([step("A", DependsOn="B")])), "Step 'A': DependsOn must be a list"),
    (
        "depends unknown",
        json.dumps(doc([step("A", DependsOn=["B"])])),
        "Step 'A': DependsOn names step 'B', which does not exist",
    ),
    ("retry", json.dumps(doc([step("A", RetryPolicies={})])), "Step 'A': RetryPolicies must be a list"),
]


@pytest.mark.parametrize(
    ("text", "message"), [(t, m) for _, t, m in BAD_DEFINITIONS], ids=[i for i, _, _ in BAD_DEFINITIONS]
)
def test_rejects_malformed_definitions_with_a_specific_message(text, message):
    with pytest.raises(DefinitionError) as err:
        parse_definition(text)
    assert message in str(err.value)


BAD_PARAMETERS = [
    ("not list", {"A": 1}, "Parameters must be a list"),
    ("no name", [{"Type": "String"}], "Parameters[0]: Name must match"),
    (
        "duplicate",
        [{"Name": "P", "Type": "String"}, {"Name": "P", "Type": "Integer"}],
        "Parameter 'P' is declared more than once",
    ),
    ("type", [{"Name": "P", "Type": "Double"}], "Parameter 'P': Type must be one of String, Integer, Float"),
    (
        "int default",
        [{"Name": "P", "Type": "Integer", "DefaultValue": "3"}],
        "Parameter 'P': DefaultValue '3' is not a valid Integer",
    ),
    ("int float default", [{"Name": "P", "Type": "Integer", "DefaultValue": 1.5}], "not a valid Integer"),
    ("bool default", [{"Name": "P", "Type": "Boolean", "DefaultValue": "true"}], "not a valid Boolean"),
    ("float bool default", [{"Name": "P", "Type": "Float", "DefaultValue": True}], "not a valid Float"),
    (
        "enum type",
        [{"Name": "P", "Type": "Integer", "EnumValues": ["1"]}],
        "EnumValues are only allowed for String",
    ),
    (
        "enum empty",
        [{"Name": "P", "Type": "String", "EnumValues": []}],
        "EnumValues must be a non-empty list",
    ),
    (
        "enum default",
        [{"Name": "P", "Type": "String", "DefaultValue": "c", "EnumValues": ["a", "b"]}],
        "DefaultValue 'c' is not one of its EnumValues",
    ),
    (
        "unknown key",
        [{"Name": "P", "Type": "String", "Default": "x"}],
        "Parameter 'P' has unknown keys ['Default']",
    ),
]


@pytest.mark.parametrize(
    ("parameters", "message"), [(p, m) for _, p, m in BAD_PARAMETERS], ids=[i for i, _, _ in BAD_PARAMETERS]
)
def test_rejects_malformed_parameters(parameters, message):
    with pytest.raises(DefinitionError) as err:
        parse_definition(json.dumps({**doc([step("A")]), "Parameters": parameters}))
    assert message in str(err.value)


PF = [{"PropertyFileName": "Eval", "OutputName": "evaluation", "FilePath": "eval.json"}]
BAD_REFERENCES = [
    (
        "unknown parameter",
        [step("A", Arguments={"X": get("Parameters.Nope")})],
        "Step 'A' Arguments.X: parameter 'Nope' is not declared",
    ),
    (
        "unknown step",
        [step("A", Arguments={"In": [{"S3": get("Steps.Ghost.ModelArtifacts.S3ModelArtifacts")}]})],
        "Step 'A' Arguments.In[0].S3: 'Steps.Ghost.ModelArtifacts.S3ModelArtifacts' names a step "
        "that does not exist",
    ),
    (
        "execution variable",
        [step("A", Arguments={"X": get("Execution.Nope")})],
        "Step 'A' Arguments.X: unknown execution variable 'Nope'",
    ),
    (
        "bad root",
        [step("A", Arguments={"X": get("Pipeline.Name")})],
        "the root must be Parameters, Execution",
    ),
    (
        "no path",
        [step("B"), step("A", Arguments={"X": get("Steps.B")})],
        "needs a step name and a property path",
    ),
    ("get not string", [step("A", Arguments={"X": {"Get": 3}})], "'Get' must be a string"),
    (
        "get extra key",
        [step("A", Arguments={"X": {"Get": "Parameters.P", "Default": 1}})],
        "a 'Get' object must have no other keys",
    ),
    (
        "bad path",
        [step("B"), step("A", Arguments={"X": get("Steps.B.Outputs['train'.S3Uri")})],
        "invalid property path",
    ),
    ("unknown function", [step("A", Arguments={"X": {"Std:Select": {}}})], "unknown function 'Std:Select'"),
    (
        "join values",
        [step("A", Arguments={"X": {"Std:Join": {"On": ",", "Values": "abc"}}})],
        "Std:Join 'Values' must be a list",
    ),
    (
        "join inner",
        [step("A", Arguments={"X": {"Std:Join": {"On": ",", "Values": [get("Parameters.Q")]}}})],
        "Step 'A' Arguments.X.Std:Join.Values[0]: parameter 'Q' is not declared",
    ),
    (
        "property file unknown",
        [
            processing("P", PropertyFiles=PF),
            step(
                "A",
                Arguments={
                    "X": {"Std:JsonGet": {"PropertyFile": get("Steps.P.PropertyFiles.Other"), "Path": "a"}}
                },
            ),
        ],
        "step 'P' declares no property file 'Other' (declared: ['Eval'])",
    ),
    (
        "property file step unknown",
        [
            step(
                "A",
                Arguments={
                    "X": {"Std:JsonGet": {"PropertyFile": get("Steps.Q.PropertyFiles.Eval"), "Path": "a"}}
                },
            )
        ],
        "step 'Q', which does not exist",
    ),
    (
        "property file by name unknown",
        [step("A", Arguments={"X": {"Std:JsonGet": {"PropertyFile": "Eval", "Path": "a"}}})],
        "property file 'Eval' must be declared by exactly one step",
    ),
    (
        "property file outside JsonGet",
        [processing("P", PropertyFiles=PF), step("A", Arguments={"X": get("Steps.P.PropertyFiles.Eval")})],
        "property file 'Eval' of step 'P' can only be read with Std:JsonGet",
    ),
    (
        "json get path",
        [
            processing("P", PropertyFiles=PF),
            step(
                "A",
                Arguments={
                    "X": {
                        "Std:JsonGet": {
                            "PropertyFile": get("Steps.P.PropertyFiles.Eval"),
                            "Path": {"Get": "Parameters.X"},
                        }
                    }
                },
            ),
        ],
        "Std:JsonGet 'Path' must be a string",
    ),
    (
        "json get both",
        [
            step(
                "A", Arguments={"X": {"Std:JsonGet": {"S3Uri": "s3://b/k", "PropertyFile": "E", "Path": "a"}}}
            )
        ],
        "needs exactly one of 'PropertyFile' and 'S3Uri'",
    ),
    (
        "property file output",
        [
            processing(
                "P", PropertyFiles=[{"PropertyFileName": "E", "OutputName": "metrics", "FilePath": "e.json"}]
            )
        ],
        "Step 'P': property file 'E' names OutputName 'metrics', which is not one of the step's",
    ),
    (
        "property file fields",
        [processing("P", PropertyFiles=[{"PropertyFileName": "E"}])],
        "Step 'P': PropertyFiles[0] must have string PropertyFileName, OutputName and FilePath",
    ),
    (
        "cycle",
        [
            step("A", DependsOn=["B"]),
            step("B", Arguments={"X": get("Steps.A.ModelArtifacts.S3ModelArtifacts")}),
        ],
        "dependency cycle: A -> B -> A",
    ),
    ("self", [step("A", Arguments={"X": get("Steps.A.TrainingJobName")})], "dependency cycle: A -> A"),
    (
        "branch cycle",
        [condition("C", [], if_steps=[step("X")], DependsOn=["X"])],
        "dependency cycle: C -> X -> C",
    ),
]


@pytest.mark.parametrize(
    ("steps", "message"), [(s, m) for _, s, m in BAD_REFERENCES], ids=[i for i, _, _ in BAD_REFERENCES]
)
def test_rejects_references_to_things_that_do_not_exist(steps, message):
    with pytest.raises(DefinitionError) as err:
        parse(steps, [{"Name": "P", "Type": "String", "DefaultValue": "x"}])
    assert message in str(err.value)


def test_rejects_experiment_config_reading_step_properties():
    text = {
        **doc([step("A")]),
        "PipelineExperimentConfig": {"ExperimentName": get("Steps.A.TrainingJobName")},
    }
    with pytest.raises(DefinitionError, match=r"PipelineExperimentConfig\.ExperimentName: may only use"):
        parse_definition(json.dumps(text))


BAD_CONDITIONS = [
    ("conditions missing", {"IfSteps": []}, "Step 'C': Condition step needs an Arguments.Conditions list"),
    ("unknown key", {"Conditions": [], "Then": []}, "Condition Arguments has unknown keys ['Then']"),
    (
        "type",
        {"Conditions": [{"Type": "Bigger", "LeftValue": 1, "RightValue": 2}]},
        "Step 'C' Arguments.Conditions[0]: unknown condition Type 'Bigger'",
    ),
    (
        "right",
        {"Conditions": [{"Type": "Equals", "LeftValue": 1}]},
        "Equals condition is missing 'RightValue'",
    ),
    ("in values", {"Conditions": [{"Type": "In", "QueryValue": 1, "Values": 1}]}, "needs a 'Values' list"),
    ("in query", {"Conditions": [{"Type": "In", "Values": [1]}]}, "In condition is missing 'QueryValue'"),
    ("not", {"Conditions": [{"Type": "Not"}]}, "Not condition is missing 'Condition'"),
    (
        "or",
        {"Conditions": [{"Type": "Or", "Conditions": []}]},
        "Or condition needs a non-empty 'Conditions' list",
    ),
    (
        "nested",
        {"Conditions": [{"Type": "Or", "Conditions": [{"Type": "Not", "Condition": {"Type": "X"}}]}]},
        "Arguments.Conditions[0].Conditions[0].Condition: unknown condition Type 'X'",
    ),
    (
        "operand object",
        {"Conditions": [{"Type": "Equals", "LeftValue": {"a": 1}, "RightValue": 1}]},
        "LeftValue: an operand must be a literal or an expression",
    ),
    (
        "operand reference",
        {"Conditions": [{"Type": "Equals", "LeftValue": get("Parameters.Z"), "RightValue": 1}]},
        "Step 'C' Arguments.Conditions[0].LeftValue: parameter 'Z' is not declared",
    ),
    (
        "if steps",
        {"Conditions": [], "IfSteps": {"Name": "A"}},
        "Step 'C': Arguments.IfSteps must be a list of steps",
    ),
    (
        "nested step",
        {"Conditions": [], "ElseSteps": [{"Name": "A", "Type": "Nope"}]},
        "Step 'A': unknown step Type 'Nope'",
    ),
]


@pytest.mark.parametrize(
    ("arguments", "message"), [(a, m) for _, a, m in BAD_CONDITIONS], ids=[i for i, _, _ in BAD_CONDITIONS]
)
def test_rejects_malformed_condition_steps(arguments, message):
    with pytest.raises(DefinitionError) as err:
        parse([step("C", "Condition", Arguments=arguments)])
    assert message in str(err.value)


def test_fail_step_error_message_must_be_text_or_expression():
    with pytest.raises(
        DefinitionError, match=r"Step 'F': Arguments\.ErrorMessage must be a string or an expression"
    ):
        parse([step("F", "Fail", Arguments={"ErrorMessage": ["a"]})])


# --------------------------------------------------------------------------------------------
# Parameters
# --------------------------------------------------------------------------------------------

PARAMS = [
    {"Name": "Name", "Type": "String", "DefaultValue": "x"},
    {"Name": "Count", "Type": "Integer", "DefaultValue": 3},
    {"Name": "Rate", "Type": "Float", "DefaultValue": 1},
    {"Name": "Flag", "Type": "Boolean", "DefaultValue": False},
    {"Name": "Mode", "Type": "String", "DefaultValue": "fast", "EnumValues": ["fast", "slow"]},
    {"Name": "Untyped", "DefaultValue": "s"},
]


@pytest.fixture
def typed() -> PipelineDefinition:
    return parse([step("A")], PARAMS)


def test_defaults_are_typed(typed):
    values = typed.resolve_parameters()
    assert values == {"Name": "x", "Count": 3, "Rate": 1.0, "Flag": False, "Mode": "fast", "Untyped": "s"}
    assert type(values["Count"]) is int and type(values["Rate"]) is float and type(values["Flag"]) is bool
    assert typed.parameters["Untyped"].type == "String"


def test_string_overrides_from_start_pipeline_execution_are_converted(typed):
    values = typed.resolve_parameters(
        [
            {"Name": "Count", "Value": "-7"},
            {"Name": "Rate", "Value": "1.5"},
            {"Name": "Flag", "Value": "TRUE"},
            {"Name": "Mode", "Value": "slow"},
            {"Name": "Name", "Value": ""},
        ]
    )
    assert values == {"Name": "", "Count": -7, "Rate": 1.5, "Flag": True, "Mode": "slow", "Untyped": "s"}


def test_overrides_may_be_a_mapping_with_typed_values(typed):
    values = typed.resolve_parameters({"Count": 4, "Rate": 2, "Flag": "false"})
    assert (values["Count"], values["Rate"], values["Flag"]) == (4, 2.0, False)
    assert type(values["Rate"]) is float


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ([{"Name": "Nope", "Value": "1"}], "Parameter 'Nope' is not defined in the pipeline definition"),
        (
            [{"Name": "Count", "Value": "1"}, {"Name": "Count", "Value": "2"}],
            "Parameter 'Count' is given more than once",
        ),
        (
            [{"Name": "Count", "Value": "1.5"}],
            "Parameter 'Count' of type Integer cannot take the value '1.5'",
        ),
        ([{"Name": "Count", "Value": "ten"}], "of type Integer cannot take the value 'ten'"),
        ([{"Name": "Count", "Value": True}], "of type Integer cannot take the value True"),
        ([{"Name": "Rate", "Value": "fast"}], "Parameter 'Rate' of type Float cannot take the value 'fast'"),
        ([{"Name": "Rate", "Value": "nan"}], "of type Float cannot take the value 'nan'"),
        ([{"Name": "Flag", "Value": "yes"}], "Parameter 'Flag' of type Boolean cannot take the value 'yes'"),
        ([{"Name": "Name", "Value": 5}], "Parameter 'Name' of type String cannot take the value 5"),
        (
            [{"Name": "Mode", "Value": "medium"}],
            "Parameter 'Mode' value 'medium' is not one of its EnumValues",
        ),
        ([{"Name": "Mode"}], "PipelineParameters[0] must be an object with 'Name' and 'Value'"),
    ],
)
def test_bad_overrides_are_rejected(typed, overrides, message):
    with pytest.raises(DefinitionError) as err:
        typed.resolve_parameters(overrides)
    assert message in str(err.value)


def test_parameter_without_default_must_be_given():
    definition = parse([step("A")], [{"Name": "Input", "Type": "String"}])
    with pytest.raises(DefinitionError, match="Parameter 'Input' has no default value"):
        definition.resolve_parameters([])
    assert definition.resolve_parameters([{"Name": "Input", "Value": "s3://b/k"}]) == {"Input": "s3://b/k"}


# --------------------------------------------------------------------------------------------
# Expressions
# --------------------------------------------------------------------------------------------

TRAIN_PROPS = {
    "TrainingJobName": "job-1",
    "ModelArtifacts": {"S3ModelArtifacts": "s3://b/model.tar.gz"},
    "HyperParameters": {"epochs": "10"},
    "InputDataConfig": [{"ChannelName": "train"}, {"ChannelName": "validation", "ContentType": "text/csv"}],
    "FinalMetricDataList": [{"MetricName": "rmse", "Value": 3.25}, {"MetricName": "mae", "Value": 2}],
    "OutputDataConfig": {"S3OutputPath": "s3://b/out/"},
}
PREP_PROPS = {
    "ProcessingOutputConfig": {
        "Outputs": [
            {"OutputName": "train", "S3Output": {"S3Uri": "s3://b/prep/train"}},
            {"OutputName": "evaluation", "S3Output": {"S3Uri": "s3://b/prep/eval/"}},
        ]
    },
    "JobConfigDocument": json.dumps({"OutputModelPackageArn": "arn:pkg/1"}),
}
EVAL = {
    "regression_metrics": {"mse": {"value": 0.25}},
    "folds": [{"score": "0.9"}, {"score": 0.7}],
    "odd key": 1,
}


@pytest.fixture
def ctx() -> ResolveContext:
    reads: dict[str, Any] = {
        "s3://b/prep/eval/report/eval.json": EVAL,
        "s3://b/out/results.json": {"Result": [5]},
    }

    def read_json(uri: str) -> Any:
        if uri not in reads:
            raise FileNotFoundError(f"NoSuchKey: {uri}")
        return copy.deepcopy(reads[uri])

    return ResolveContext(
        parameters={"Bucket": "b", "Count": 3, "Rate": 0.5, "Whole": 6.0, "Flag": True},
        execution={
            "PipelineExecutionId": "exec1",
            "PipelineName": "p",
            "StartDateTime": "2024-01-01T00:00:00Z",
        },
        step_properties={
            "Train": TRAIN_PROPS,
            "Prep": PREP_PROPS,
            "Cond": {"Outcome": True},
            "Notify": {"OutputParameters": {"status": "ok"}},
        },
        property_files={"Prep": {"Eval": PropertyFile("Eval", "evaluation", "report/eval.json")}},
        read_json=read_json,
        now=lambda: "2024-01-01T00:05:00Z",
    )


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("Parameters.Count", 3),
        ("Parameters.Flag", True),
        ("Execution.PipelineExecutionId", "exec1"),
        ("Execution.CurrentDateTime", "2024-01-01T00:05:00Z"),
        ("Steps.Train.ModelArtifacts.S3ModelArtifacts", "s3://b/model.tar.gz"),
        ("Steps.Prep.ProcessingOutputConfig.Outputs['train'].S3Output.S3Uri", "s3://b/prep/train"),
        ('Steps.Prep.ProcessingOutputConfig.Outputs["evaluation"].S3Output.S3Uri', "s3://b/prep/eval/"),
        ("Steps.Prep.ProcessingOutputConfig.Outputs[1].S3Output.S3Uri", "s3://b/prep/eval/"),
        ("Steps.Train.InputDataConfig['validation'].ContentType", "text/csv"),
        ("Steps.Train.FinalMetricDataList['rmse'].Value", 3.25),
        ("Steps.Train.HyperParameters['epochs']", "10"),
        ("Steps.Notify.OutputParameters['status']", "ok"),
        ("Steps.Cond.Outcome", True),
        ("Steps.Prep.JobConfigDocument.OutputModelPackageArn", "arn:pkg/1"),
    ],
)
def test_get_reads_parameters_execution_variables_and_step_properties(ctx, target, expected):
    assert resolve({"Get": target}, ctx) == expected


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("Steps.Train.ModelArtifacts.Missing", "step 'Train' has no property 'ModelArtifacts.Missing'"),
        (
            "Steps.Prep.ProcessingOutputConfig.Outputs['test'].S3Output.S3Uri",
            "no property 'ProcessingOutputConfig.Outputs['test']' "
            "(a list of 2 items named ['train', 'evaluation']",
        ),
        ("Steps.Train.FinalMetricDataList[5].Value", "no property 'FinalMetricDataList[5]'"),
        ("Steps.Train.TrainingJobName.Length", "no property 'TrainingJobName.Length' (the str value 'job-1'"),
        ("Steps.Later.ModelArtifacts.S3ModelArtifacts", "step 'Later' has not succeeded in this execution"),
        ("Parameters.Unknown", "parameter 'Unknown' has no value"),
        ("Execution.TrainingJobName", "execution variable 'TrainingJobName' is not available"),
        ("PipelineExperimentConfig.TrialName", "PipelineExperimentConfig.TrialName is not set"),
    ],
)
def test_get_failures_say_what_is_missing(ctx, target, message):
    with pytest.raises(ExpressionError) as err:
        resolve({"Get": target}, ctx)
    assert message in str(err.value)


def test_resolve_walks_any_json_and_leaves_the_input_untouched(ctx):
    value = {"A": [1, {"B": get("Parameters.Bucket")}, None, "text"], "C": {"D": get("Parameters.Rate")}}
    before = copy.deepcopy(value)
    assert resolve(value, ctx) == {"A": [1, {"B": "b"}, None, "text"], "C": {"D": 0.5}}
    assert value == before


def test_join_stringifies_like_sagemaker(ctx):
    expr = {
        "Std:Join": {
            "On": "/",
            "Values": [
                "s3:/",
                get("Parameters.Bucket"),
                get("Parameters.Count"),
                get("Parameters.Rate"),
                get("Parameters.Whole"),
                get("Parameters.Flag"),
                get("Steps.Train.FinalMetricDataList['mae'].Value"),
                7,
            ],
        }
    }
    assert resolve(expr, ctx) == "s3://b/3/0.5/6.0/true/2/7"


def test_join_nests_and_defaults_to_no_separator(ctx):
    inner = {
        "Std:Join": {
            "On": "-",
            "Values": [get("Execution.PipelineName"), get("Execution.PipelineExecutionId")],
        }
    }
    assert resolve({"Std:Join": {"Values": ["run:", inner]}}, ctx) == "run:p-exec1"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("a", "a"),
        (3, "3"),
        (0.1, "0.1"),
        (6.0, "6.0"),
        (1e-05, "1e-05"),
        (True, "true"),
        (False, "false"),
        (None, "null"),
        ([1, "a"], '[1,"a"]'),
        ({"k": 1}, '{"k":1}'),
    ],
)
def test_stringify(value, text):
    assert stringify(value) == text


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("regression_metrics.mse.value", 0.25),
        ("$.regression_metrics.mse.value", 0.25),
        ("folds[0].score", "0.9"),
        ("folds[1]['score']", 0.7),
        ("['odd key']", 1),
        ("regression_metrics", {"mse": {"value": 0.25}}),
    ],
)
def test_json_get_reads_a_property_file_at_its_output_location(ctx, path, expected):
    expr = {"Std:JsonGet": {"PropertyFile": get("Steps.Prep.PropertyFiles.Eval"), "Path": path}}
    assert resolve(expr, ctx) == expected


def test_json_get_by_property_file_name_and_by_s3_uri(ctx):
    by_name = {"Std:JsonGet": {"PropertyFile": "Eval", "Path": "regression_metrics.mse.value"}}
    assert resolve(by_name, ctx) == 0.25
    uri = {
        "Std:Join": {"On": "/", "Values": [get("Steps.Train.OutputDataConfig.S3OutputPath"), "results.json"]}
    }
    by_uri = {"Std:JsonGet": {"S3Uri": {"Std:Join": {"On": "", "Values": [uri]}}, "Path": "Result[0]"}}
    # The output path ends in "/", so Join yields "s3://b/out//results.json": not the file.
    with pytest.raises(ExpressionError, match=r"cannot read JSON file s3://b/out//results\.json: NoSuchKey"):
        resolve(by_uri, ctx)
    fixed = {"Std:JsonGet": {"S3Uri": "s3://b/out/results.json", "Path": "Result[0]"}}
    assert resolve(fixed, ctx) == 5


def test_json_get_failures(ctx):
    missing_path = {"Std:JsonGet": {"PropertyFile": "Eval", "Path": "regression_metrics.r2"}}
    with pytest.raises(
        ExpressionError,
        match=r"property file 'Eval' of step 'Prep' \(s3://b/prep/eval/report/eval"
        r"\.json\) has no property 'regression_metrics.r2'",
    ):
        resolve(missing_path, ctx)
    no_step = ResolveContext(property_files=ctx.property_files, read_json=ctx.read_json)
    with pytest.raises(ExpressionError, match="step 'Prep' has not succeeded"):
        resolve({"Std:JsonGet": {"PropertyFile": "Eval", "Path": "a"}}, no_step)
    no_reader = ResolveContext(step_properties=ctx.step_properties, property_files=ctx.property_files)
    with pytest.raises(ExpressionError, match="no reader configured"):
        resolve({"Std:JsonGet": {"PropertyFile": "Eval", "Path": "a"}}, no_reader)


def test_property_file_uri_joins_output_uri_and_file_path():
    file = PropertyFile("Eval", "evaluation", "/eval.json")
    assert property_file_uri(PREP_PROPS, file, "Prep") == "s3://b/prep/eval/eval.json"
    as_map = {"ProcessingOutputConfig": {"Outputs": {"evaluation": {"S3Output": {"S3Uri": "s3://x/y"}}}}}
    assert property_file_uri(as_map, file) == "s3://x/y/eval.json"
    with pytest.raises(ExpressionError, match="names output 'metrics', which the step does not have"):
        property_file_uri(PREP_PROPS, PropertyFile("M", "metrics", "m.json"), "Prep")


def test_definition_context_fills_property_files_and_experiment_config():
    definition = parse_definition(
        json.dumps(
            {
                **doc([processing("Prep", PropertyFiles=PF)]),
                "PipelineExperimentConfig": {
                    "ExperimentName": get("Execution.PipelineName"),
                    "TrialName": get("Execution.PipelineExecutionId"),
                },
            }
        )
    )
    ctx = definition.context(
        {},
        {"PipelineName": "p", "PipelineExecutionId": "e"},
        {"Prep": PREP_PROPS},
        read_json=lambda uri: {"uri": uri},
    )
    assert resolve(get("PipelineExperimentConfig.TrialName"), ctx) == "e"
    expr = {"Std:JsonGet": {"PropertyFile": get("Steps.Prep.PropertyFiles.Eval"), "Path": "uri"}}
    assert resolve(expr, ctx) == "s3://b/prep/eval/eval.json"


# --------------------------------------------------------------------------------------------
# Conditions
# --------------------------------------------------------------------------------------------


def cmp(kind: str, left: Any, right: Any) -> dict[str, Any]:
    return {"Type": kind, "LeftValue": left, "RightValue": right}


@pytest.mark.parametrize(
    ("cond", "expected"),
    [
        (cmp("Equals", 1, 1.0), True),
        (cmp("Equals", "a", "a"), True),
        (cmp("Equals", "a", "b"), False),
        (cmp("Equals", get("Parameters.Flag"), True), True),
        (cmp("Equals", "true", get("Parameters.Flag")), True),
        (cmp("NotEquals", get("Parameters.Count"), 4), True),
        (cmp("GreaterThan", get("Parameters.Count"), 2), True),
        (cmp("GreaterThan", get("Parameters.Count"), 3), False),
        (cmp("GreaterThanOrEqualTo", get("Parameters.Count"), 3), True),
        (
            cmp("LessThan", get("Steps.Train.FinalMetricDataList['rmse'].Value"), get("Parameters.Count")),
            False,
        ),
        (cmp("LessThanOrEqualTo", 3.25, get("Steps.Train.FinalMetricDataList['rmse'].Value")), True),
        # A JsonGet may give "0.9" (a string): compared numerically with a number.
        (
            cmp(
                "GreaterThanOrEqualTo",
                {"Std:JsonGet": {"PropertyFile": "Eval", "Path": "folds[0].score"}},
                0.85,
            ),
            True,
        ),
        (cmp("LessThan", "10", 9), False),
        # Two strings compare as strings, even when they look like numbers.
        (cmp("LessThan", "10", "9"), True),
        ({"Type": "In", "QueryValue": get("Parameters.Bucket"), "Values": ["a", "b"]}, True),
        ({"Type": "In", "QueryValue": 3, "Values": ["x", "3.0", 2]}, True),
        ({"Type": "In", "QueryValue": "c", "Values": ["a", get("Parameters.Bucket"), 1]}, False),
        ({"Type": "NotIn", "Value": "c", "In": ["a"]}, True),
        ({"Type": "Not", "Condition": cmp("Equals", 1, 2)}, True),
        ({"Type": "Not", "Condition": cmp("Equals", 1, 1)}, False),
        ({"Type": "Or", "Conditions": [cmp("Equals", 1, 2), cmp("GreaterThan", 5, 1)]}, True),
        (
            {
                "Type": "Or",
                "Conditions": [cmp("Equals", 1, 2), {"Type": "Not", "Condition": cmp("Equals", 1, 1)}],
            },
            False,
        ),
    ],
)
def test_every_condition_type(ctx, cond, expected):
    assert evaluate_condition(cond, ctx) is expected


@pytest.mark.parametrize(
    ("cond", "message"),
    [
        (cmp("Equals", "abc", 1), "Equals cannot compare str 'abc' with int 1"),
        (cmp("GreaterThan", None, 1), "GreaterThan cannot compare NoneType None with int 1"),
        (cmp("GreaterThan", True, False), "GreaterThan cannot order booleans"),
        (cmp("Equals", True, 1), "Equals cannot compare bool True with int 1"),
    ],
)
def test_incomparable_operands_fail_the_condition_step(ctx, cond, message):
    with pytest.raises(ExpressionError) as err:
        evaluate_condition(cond, ctx)
    assert message in str(err.value)


def test_conditions_of_a_step_must_all_hold(ctx):
    assert evaluate_conditions([], ctx) is True
    assert evaluate_conditions([cmp("Equals", 1, 1), cmp("Equals", 1, 1)], ctx) is True
    assert evaluate_conditions([cmp("Equals", 1, 1), cmp("Equals", 1, 2)], ctx) is False


def test_condition_step_outcome_and_fail_step_message():
    definition = parse(
        [
            step("Train"),
            condition(
                "Check",
                [
                    cmp(
                        "LessThanOrEqualTo",
                        get("Steps.Train.FinalMetricDataList['rmse'].Value"),
                        get("Parameters.Max"),
                    )
                ],
                else_steps=[
                    step(
                        "Stop",
                        "Fail",
                        Arguments={
                            "ErrorMessage": {
                                "Std:Join": {
                                    "On": " ",
                                    "Values": [
                                        "rmse",
                                        get("Steps.Train.FinalMetricDataList['rmse'].Value"),
                                        "above",
                                        get("Parameters.Max"),
                                    ],
                                }
                            }
                        },
                    )
                ],
            ),
        ],
        [{"Name": "Max", "Type": "Float", "DefaultValue": 3}],
    )
    params = definition.resolve_parameters()
    ctx = definition.context(params, {}, {"Train": TRAIN_PROPS})
    assert definition.steps["Check"].outcome(ctx) is False
    assert definition.steps["Stop"].error_message(ctx) == "rmse 3.25 above 3.0"
    assert definition.steps["Stop"].upstream == {"Check", "Train"}
    with pytest.raises(TypeError):
        definition.steps["Train"].outcome(ctx)


# --------------------------------------------------------------------------------------------
# Scheduling
# --------------------------------------------------------------------------------------------


def test_independent_steps_are_ready_together_and_dependencies_wait():
    definition = parse(
        [
            step("A"),
            step("B"),
            step("C", DependsOn=["A"]),
            step("D", Arguments={"X": get("Steps.B.ModelArtifacts.S3ModelArtifacts")}),
            step("E", DependsOn=["C", "D"]),
        ]
    )
    waves, final = simulate(definition)
    assert waves == [("A", "B"), ("C", "D"), ("E",)]
    assert final.status == "Succeeded" and final.finished and not final.never_run


def test_a_step_waits_while_its_dependency_is_running():
    definition = parse([step("A"), step("B", DependsOn=["A"]), step("C")])
    progress = definition.plan({"A": StepStatus.EXECUTING, "C": "Starting"})
    assert progress.ready == () and progress.running == ("A", "C")
    assert not progress.finished and progress.status == "Executing"
    assert definition.plan({"A": "Succeeded", "C": "Executing"}).ready == ("B",)


def branching() -> PipelineDefinition:
    return parse(
        [
            step("Train"),
            condition(
                "Check",
                [cmp("Equals", 1, 1)],
                if_steps=[
                    step("Register", "RegisterModel"),
                    step("Deploy", "Lambda", DependsOn=["Register"]),
                ],
                else_steps=[step("Stop", "Fail", Arguments={"ErrorMessage": "too bad"})],
                DependsOn=["Train"],
            ),
            step("Report", "Processing", DependsOn=["Deploy"]),
            step("Always", "Processing", DependsOn=["Check"]),
        ]
    )


def test_condition_true_runs_if_steps_and_never_runs_else_steps():
    waves, final = simulate(branching(), outcomes={"Check": True})
    assert waves == [("Train",), ("Check",), ("Register", "Always"), ("Deploy",), ("Report",)]
    assert final.never_run == {"Stop"} and final.status == "Succeeded"


def test_condition_false_skips_the_if_branch_and_everything_downstream_of_it():
    waves, final = simulate(branching(), outcomes={"Check": False})
    assert waves == [("Train",), ("Check",), ("Stop", "Always")]
    assert final.never_run == {"Register", "Deploy", "Report"}
    assert final.status == "Failed" and final.failed == ("Stop",)


def test_branch_steps_wait_for_the_condition():
    definition = branching()
    assert definition.plan({"Train": "Succeeded"}).ready == ("Check",)
    progress = definition.plan({"Train": "Succeeded", "Check": "Executing"})
    assert progress.ready == () and not progress.finished


def test_nested_conditions():
    definition = parse(
        [
            condition(
                "Outer",
                [],
                if_steps=[condition("Inner", [], if_steps=[step("Deep")], else_steps=[step("Shallow")])],
                else_steps=[step("Other")],
            ),
        ]
    )
    waves, final = simulate(definition, outcomes={"Outer": True, "Inner": False})
    assert waves == [("Outer",), ("Inner",), ("Shallow",)]
    assert final.never_run == {"Deep", "Other"}
    waves, final = simulate(definition, outcomes={"Outer": False, "Inner": True})
    assert waves == [("Outer",), ("Other",)]
    assert final.never_run == {"Inner", "Deep", "Shallow"}


def test_a_failed_step_stops_new_starts_but_running_steps_finish():
    definition = parse([step("A"), step("B"), step("C", DependsOn=["A"]), step("D", DependsOn=["B"])])
    progress = definition.plan({"A": "Failed", "B": "Executing"})
    assert progress.ready == () and progress.running == ("B",)
    assert not progress.finished and progress.status == "Executing"
    progress = definition.plan({"A": "Failed", "B": "Succeeded"})
    assert progress.ready == () and progress.finished and progress.status == "Failed"
    assert progress.failed == ("A",)


def test_failure_simulation_never_starts_dependents():
    definition = parse([step("A"), step("B", DependsOn=["A"]), step("C")])
    waves, final = simulate(definition, fail=frozenset({"A"}))
    assert waves == [("A", "C")]
    assert final.status == "Failed"


def test_stop_request_lets_running_steps_end_then_execution_is_stopped():
    definition = parse([step("A"), step("B", DependsOn=["A"])])
    progress = definition.plan({"A": "Stopping"}, stop_requested=True)
    assert progress.ready == () and progress.status == "Stopping" and not progress.finished
    progress = definition.plan({"A": "Stopped"}, stop_requested=True)
    assert progress.finished and progress.status == "Stopped"
    progress = definition.plan({"A": "Succeeded"}, stop_requested=True)
    assert progress.finished and progress.status == "Stopped"


def test_inconsistent_scheduling_input_is_an_engine_error():
    definition = branching()
    with pytest.raises(ValueError, match="status given for unknown step 'Ghost'"):
        definition.plan({"Ghost": "Succeeded"})
    with pytest.raises(ValueError, match="step 'Train' has unknown status 'Done'"):
        definition.plan({"Train": "Done"})
    with pytest.raises(ValueError, match="condition step 'Check' succeeded but its outcome was not given"):
        definition.plan({"Train": "Succeeded", "Check": "Succeeded"})


# --------------------------------------------------------------------------------------------
# A definition built by the real SageMaker Python SDK v3, in-process and offline
# --------------------------------------------------------------------------------------------


def build_sdk_pipeline() -> str:
    """Processing (with a property file) -> Training -> Condition -> Fail, as a user would write it."""
    import boto3
    from sagemaker.core.processing import Processor
    from sagemaker.core.shapes import ProcessingInput, ProcessingOutput, ProcessingS3Input, ProcessingS3Output
    from sagemaker.core.workflow.conditions import ConditionLessThanOrEqualTo
    from sagemaker.core.workflow.execution_variables import ExecutionVariables
    from sagemaker.core.workflow.functions import Join, JsonGet
    from sagemaker.core.workflow.parameters import ParameterFloat, ParameterInteger, ParameterString
    from sagemaker.core.workflow.pipeline_context import PipelineSession
    from sagemaker.core.workflow.properties import PropertyFile as SdkPropertyFile
    from sagemaker.mlops.workflow.condition_step import ConditionStep
    from sagemaker.mlops.workflow.fail_step import FailStep
    from sagemaker.mlops.workflow.pipeline import Pipeline
    from sagemaker.mlops.workflow.steps import ProcessingStep, TrainingStep
    from sagemaker.train.configs import Compute, InputData, OutputDataConfig
    from sagemaker.train.model_trainer import ModelTrainer

    boto = boto3.session.Session(
        region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test"
    )
    # Telemetry opted out: otherwise the SDK calls STS and S3 on AWS while building.
    config = {"SchemaVersion": "1.0", "SageMaker": {"PythonSDK": {"Modules": {"TelemetryOptOut": True}}}}
    session = PipelineSession(boto_session=boto, default_bucket="bucket", sagemaker_config=config)
    image = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.9-0-cpu-py3"
    role = "arn:aws:iam::123456789012:role/SageMakerExecution"

    raw = ParameterString("InputData", default_value="s3://bucket/raw")
    threshold = ParameterFloat("MseThreshold", default_value=6.0)
    epochs = ParameterInteger("Epochs", default_value=10)

    def output(name: str) -> ProcessingOutput:
        return ProcessingOutput(
            output_name=name,
            s3_output=ProcessingS3Output(
                local_path=f"/opt/ml/processing/{name}",
                s3_uri=f"s3://bucket/prep/{name}",
                s3_upload_mode="EndOfJob",
            ),
        )

    processor = Processor(
        image_uri=image,
        role=role,
        instance_count=1,
        instance_type="ml.m5.large",
        sagemaker_session=session,
        entrypoint=["python3", "/opt/ml/processing/code/prep.py"],
    )
    prep_args = processor.run(
        inputs=[
            ProcessingInput(
                input_name="raw",
                s3_input=ProcessingS3Input(
                    s3_uri=raw,
                    local_path="/opt/ml/processing/input",
                    s3_data_type="S3Prefix",
                    s3_input_mode="File",
                ),
            )
        ],
        outputs=[output("train"), output("evaluation")],
    )
    report = SdkPropertyFile(name="EvaluationReport", output_name="evaluation", path="evaluation.json")
    prep = ProcessingStep(name="Prep", step_args=prep_args, property_files=[report])

    trainer = ModelTrainer(
        training_image=image,
        role=role,
        sagemaker_session=session,
        base_job_name="train",
        compute=Compute(instance_type="ml.m5.large", instance_count=1),
        output_data_config=OutputDataConfig(s3_output_path="s3://bucket/models"),
        hyperparameters={"epochs": epochs, "alpha": 0.5},
    )
    train_args = trainer.train(
        input_data_config=[
            InputData(
                channel_name="train",
                data_source=prep.properties.ProcessingOutputConfig.Outputs["train"].S3Output.S3Uri,
            )
        ],
        wait=False,
    )
    train = TrainingStep(name="Train", step_args=train_args)

    mse = JsonGet(step_name=prep.name, property_file=report, json_path="regression_metrics.mse.value")
    fail = FailStep(
        name="TooInaccurate",
        error_message=Join(
            on=" ", values=["MSE above", threshold, "in", ExecutionVariables.PIPELINE_EXECUTION_ID]
        ),
    )
    check = ConditionStep(
        name="QualityGate",
        conditions=[ConditionLessThanOrEqualTo(left=mse, right=threshold)],
        if_steps=[],
        else_steps=[fail],
        depends_on=[train],
    )
    pipeline = Pipeline(
        name="sdk-built",
        parameters=[raw, threshold, epochs],
        steps=[prep, train, check],
        sagemaker_session=session,
    )
    return pipeline.definition()


@pytest.fixture(scope="module")
def sdk_definition_text() -> str:
    with pytest.MonkeyPatch.context() as patch:
        # The SDK needs a region even to import (it makes a boto3 client at class definition).
        patch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        patch.setenv("SAGEMAKER_VALIDATE_ROLE", "false")
        pytest.importorskip("sagemaker.mlops.workflow.pipeline")
        attempts: list[Any] = []

        def refuse(host, *args, **kwargs):
            attempts.append(host)
            raise OSError(f"test forbids resolving {host}")

        patch.setattr(socket, "getaddrinfo", refuse)
        text = build_sdk_pipeline()
    assert attempts == [], f"building the definition tried to reach {attempts}"
    return text


def test_sdk_v3_definition_parses_and_runs_through_the_core(sdk_definition_text):
    definition = parse_definition(sdk_definition_text)
    assert {name: s.type for name, s in definition.steps.items()} == {
        "Prep": "Processing",
        "Train": "Training",
        "QualityGate": "Condition",
        "TooInaccurate": "Fail",
    }
    assert definition.steps["Train"].upstream == {"Prep"}
    assert definition.steps["QualityGate"].upstream == {"Prep", "Train"}
    assert definition.steps["TooInaccurate"].parent == "QualityGate"

    params = definition.resolve_parameters([{"Name": "MseThreshold", "Value": "0.5"}])
    assert params == {"InputData": "s3://bucket/raw", "MseThreshold": 0.5, "Epochs": 10}
    assert definition.plan({}).ready == ("Prep",)

    prep_args = definition.steps["Prep"].arguments
    prep_properties = {**prep_args, "ProcessingJobName": "prep-1", "ProcessingJobStatus": "Completed"}
    train_args_before = json.dumps(definition.steps["Train"].arguments)
    files = {"s3://bucket/prep/evaluation/evaluation.json": {"regression_metrics": {"mse": {"value": 0.8}}}}
    ctx = definition.context(
        params,
        {"PipelineExecutionId": "exec-9", "PipelineName": "sdk-built"},
        {"Prep": prep_properties},
        read_json=files.__getitem__,
    )

    resolved_prep = resolve(prep_args, ctx)
    assert resolved_prep["ProcessingInputs"][0]["S3Input"]["S3Uri"] == "s3://bucket/raw"
    resolved_train = resolve(definition.steps["Train"].arguments, ctx)
    channel = resolved_train["InputDataConfig"][0]
    assert channel["ChannelName"] == "train"
    assert channel["DataSource"]["S3DataSource"]["S3Uri"] == "s3://bucket/prep/train"
    assert resolved_train["HyperParameters"]["epochs"] == 10
    assert json.dumps(definition.steps["Train"].arguments) == train_args_before

    assert definition.plan({"Prep": "Succeeded"}).ready == ("Train",)
    statuses = {"Prep": "Succeeded", "Train": "Succeeded"}
    assert definition.plan(statuses).ready == ("QualityGate",)
    outcome = definition.steps["QualityGate"].outcome(ctx)
    assert outcome is False  # mse 0.8 > threshold 0.5
    statuses["QualityGate"] = "Succeeded"
    assert definition.plan(statuses, {"QualityGate": outcome}).ready == ("TooInaccurate",)
    assert definition.steps["TooInaccurate"].error_message(ctx) == "MSE above 0.5 in exec-9"
    statuses["TooInaccurate"] = "Failed"
    final = definition.plan(statuses, {"QualityGate": outcome})
    assert final.finished and final.status == "Failed"
    assert resolve({"Get": "PipelineExperimentConfig.ExperimentName"}, ctx) == "sdk-built"


# --------------------------------------------------------------------------------------------
# Hostile definitions: refused with a DefinitionError, never an exception of another kind
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"Version": "2020-12-01", "Steps": [], "X": ' + "9" * 5000 + "}", "not valid JSON"),
        ('{"Version": "2020-12-01", "X": ' + "[" * 1000 + "]" * 1000 + "}", "nests deeper than 64"),
        ('{"Version": "2020-12-01", "X": ' + "[" * 100_000 + "]" * 100_000 + "}", "nests deeper"),
        ('{"Version": "2020-12-01", "X": ' + "9" * 30 + "}", "outside the 64-bit range"),
        ('{"Version": "2020-12-01", "X": NaN}', "not valid JSON"),
        ('{"Version": "2020-12-01", "X": Infinity}', "not valid JSON"),
    ],
)
def test_hostile_json_is_a_definition_error(text: str, expected: str) -> None:
    with pytest.raises(DefinitionError, match=expected):
        parse_definition(text)


def test_a_float_default_written_as_a_huge_integer_is_refused() -> None:
    text = json.dumps(doc([step("A")], [{"Name": "F", "Type": "Float"}])).replace(
        '"Type": "Float"}', '"Type": "Float", "DefaultValue": 1' + "0" * 18 + "}")
    assert parse_definition(text).parameters["F"].default == 1e18  # large but finite: fine
    huge = '{"Version": "2020-12-01", "Parameters": [{"Name": "F", "Type": "Float", "DefaultValue": 1e400}], ' \
           '"Steps": []}'
    with pytest.raises(DefinitionError, match=r"not valid JSON|not a valid Float"):
        parse_definition(huge)


@pytest.mark.parametrize("kind", [{"Training": 1}, ["Training"], 7, None])
def test_a_step_type_that_is_not_a_string_is_refused(kind: Any) -> None:
    with pytest.raises(DefinitionError, match="unknown step Type"):
        parse([{"Name": "A", "Type": kind, "Arguments": {}}])


@pytest.mark.parametrize("value", ["9" * 5000, "9" * 20, str(2**63), 2**64])
def test_an_integer_override_beyond_64_bits_is_refused(value: Any) -> None:
    definition = parse([step("A")], [{"Name": "N", "Type": "Integer", "DefaultValue": 1}])
    with pytest.raises(DefinitionError, match="cannot take the value"):
        definition.resolve_parameters([{"Name": "N", "Value": value}])
    assert definition.resolve_parameters([{"Name": "N", "Value": str(2**63 - 1)}])["N"] == 2**63 - 1


def test_a_training_step_with_empty_arguments_is_refused_at_create() -> None:
    with pytest.raises(DefinitionError) as e:
        parse([{"Name": "Train", "Type": "Training", "Arguments": {}}])
    message = str(e.value)
    assert "Step 'Train': Arguments are not a valid CreateTrainingJob request" in message
    for member in ("roleArn", "outputDataConfig"):  # what the current API model requires
        assert f"Value null at '{member}' failed to satisfy constraint: Member must not be null" in message
    assert "trainingJobName" not in message  # the pipeline names the job


def test_step_arguments_are_checked_like_the_request_they_become() -> None:
    bad = step("P", "Processing", Arguments={"RoleArn": "not-an-arn", "AppSpecification": {"ImageUri": 7}})
    with pytest.raises(DefinitionError) as e:
        parse([bad])
    assert "'appSpecification.imageUri'" in str(e.value)


def test_expressions_stand_in_for_any_request_value() -> None:
    arguments = {
        "ProcessingResources": {"ClusterConfig": {"InstanceType": get("Parameters.Type"),
                                                  "InstanceCount": get("Parameters.Count"), "VolumeSizeInGB": 1}},
        "AppSpecification": {"ImageUri": {"Std:Join": {"On": "", "Values": ["a", get("Parameters.Type")]}}},
        "RoleArn": get("Parameters.Role"),
    }
    parameters = [{"Name": "Type", "Type": "String", "DefaultValue": "ml.m5.large"},
                  {"Name": "Count", "Type": "Integer", "DefaultValue": 1},
                  {"Name": "Role", "Type": "String", "DefaultValue": ROLE}]
    assert parse([step("P", "Processing", Arguments=arguments)], parameters).steps["P"].type == "Processing"
