"""SageMaker Pipelines definitions (schema "2020-12-01"): parsing, validation and the run-time rules.

This is the pure core of the local pipeline emulator: no threads, no jobs, no S3. The engine
built on it does I/O; everything SageMaker *decides* lives here (or in the two helper modules
this one re-exports), so it can be tested without a server:

* `parse_definition` turns CreatePipeline's ``PipelineDefinition`` text into a
  `PipelineDefinition`, or raises `DefinitionError` with the ValidationException text AWS
  would give (which step, which field);
* `PipelineDefinition.resolve_parameters` types and validates StartPipelineExecution's
  ``PipelineParameters``;
* `PipelineDefinition.plan` says which steps to start, which never run, and when the
  execution is over (rules in `pipeline_schedule`);
* `resolve`, `Step.outcome` (Condition) and `Step.error_message` (Fail) evaluate expressions
  against a `ResolveContext` (rules in `pipeline_expressions`).

Typical engine use (threads and waiting left out)::

    definition = parse_definition(text)                 # at CreatePipeline / UpdatePipeline
    params = definition.resolve_parameters(request.get("PipelineParameters"))
    statuses, outcomes, properties = {}, {}, {}         # step name -> status / bool / dict
    while not (progress := definition.plan(statuses, outcomes, stop_requested)).finished:
        for name in progress.ready:                     # all of them may run in parallel
            statuses[name] = "Executing"
            ctx = definition.context(params, execution_vars, properties, read_json)
            step = definition.steps[name]
            args = resolve(step.arguments, ctx)         # ExpressionError: the step Failed
            # Condition: outcomes[name] = step.outcome(ctx); properties[name] = {"Outcome": ...}
            # Fail: statuses[name] = "Failed", FailureReason = step.error_message(ctx)
            # jobs: run with args; on success properties[name] = the Describe* response
        ...  # wait until some running step ends, record its status, loop
    # progress.status is the execution's final status

Step types are checked against the types SageMaker accepts; whether the engine can *run* a
type is the engine's call. Note the SDK writes a CreateModel step as type ``"Model"`` while the
published JSON schema says ``"CreateModel"``: both are accepted.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, Literal

from localcloud.sagemaker.pipeline_expressions import (
    EXECUTION_VARIABLES,
    DefinitionError,
    ExpressionError,
    PropertyFile,
    Reference,
    ResolveContext,
    check_condition,
    check_expressions,
    evaluate_condition,
    evaluate_conditions,
    is_expression,
    property_file_uri,
    resolve,
    stringify,
)
from localcloud.sagemaker.pipeline_schedule import Progress, StepStatus, plan, topological_order
from localcloud.sagemaker.step_arguments import check_step_arguments
from localcloud.sagemaker.step_policies import (
    CachePolicy,
    PolicyError,
    RetryPolicy,
    parse_cache_config,
    parse_retry_policies,
)

__all__ = [
    "EXECUTION_VARIABLES",
    "SCHEMA_VERSION",
    "STEP_TYPES",
    "DefinitionError",
    "ExpressionError",
    "Parameter",
    "PipelineDefinition",
    "Progress",
    "PropertyFile",
    "ResolveContext",
    "Step",
    "StepStatus",
    "evaluate_condition",
    "evaluate_conditions",
    "parse_definition",
    "property_file_uri",
    "resolve",
    "stringify",
]

SCHEMA_VERSION = "2020-12-01"

STEP_TYPES = frozenset(
    {
        "Training",
        "Processing",
        "Transform",
        "Tuning",
        "Model",
        "CreateModel",
        "RegisterModel",
        "Condition",
        "Fail",
        "Lambda",
        "Callback",
        "QualityCheck",
        "ClarifyCheck",
        "EMR",
        "EMRServerless",
        "AutoML",
        "EndpointConfig",
        "Endpoint",
        "InferenceComponent",
        "Lineage",
        "Job",
        "Cleanup",
        "ForEach",
    }
)
"""Every step type of the SageMaker Python SDK v3 (`StepTypeEnum`), plus "CreateModel": the
published definition JSON schema's name for what the SDK writes as "Model"."""

ParameterType = Literal["String", "Integer", "Float", "Boolean"]
PARAMETER_TYPES: tuple[ParameterType, ...] = ("String", "Integer", "Float", "Boolean")

_NAME = re.compile(r"[A-Za-z0-9\-_]{1,64}")
"""Step and parameter names, as the published definition JSON schema constrains them."""

_STEP_KEYS = frozenset(
    {"Name", "Type", "Arguments", "DependsOn", "PropertyFiles", "CacheConfig", "RetryPolicies"}
    | {"DisplayName", "Description"}
)
_INTEGER_TEXT = re.compile(r"[+-]?\d{1,19}")
MAX_DEPTH = 64
"""Nesting a definition may have (the SDK's deepest, a Condition inside a Condition, needs about 12)."""
MAX_NODES = 200_000
"""JSON values a definition may hold (its text is at most 1 MB, the model's PipelineDefinition limit)."""
MAX_STEPS = 500
MAX_PARAMETERS = 200


# --------------------------------------------------------------------------------------------
# Model
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Parameter:
    """A pipeline parameter; `default` is already typed (int, float, bool or str)."""

    name: str
    type: ParameterType
    default: Any = None
    has_default: bool = False
    enum_values: tuple[str, ...] | None = None

    def convert(self, value: Any) -> Any:
        """The typed value of an override; raises `DefinitionError` if it does not fit the type.

        StartPipelineExecution sends every value as a string ("1.5", "true"); values that
        already have the parameter's Python type are accepted as they are.
        """
        typed = self._typed(value)
        if self.enum_values is not None and typed not in self.enum_values:
            raise DefinitionError(
                f"Parameter '{self.name}' value {typed!r} is not one of its EnumValues "
                f"{list(self.enum_values)}"
            )
        return typed

    def _typed(self, value: Any) -> Any:
        wrong = DefinitionError(
            f"Parameter '{self.name}' of type {self.type} cannot take the value {value!r}"
        )
        if self.type == "String":
            if not isinstance(value, str):
                raise wrong
            return value
        if self.type == "Boolean":
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.strip().lower() in ("true", "false"):
                return value.strip().lower() == "true"
            raise wrong
        if isinstance(value, bool):
            raise wrong
        if self.type == "Integer":
            if isinstance(value, str) and _INTEGER_TEXT.fullmatch(value.strip()):
                value = int(value.strip())
            if isinstance(value, int) and -(2**63) <= value < 2**63:
                return value
            raise wrong
        # Float
        if isinstance(value, int | float) and _finite(value):
            return float(value)
        if isinstance(value, str):
            try:
                number = float(value.strip())
            except ValueError:
                raise wrong from None
            if math.isfinite(number):
                return number
        raise wrong


@dataclass(frozen=True)
class Step:
    """One step of the pipeline (top level or inside a Condition's IfSteps/ElseSteps).

    arguments: the step's Arguments, unresolved. For a Condition step only ``Conditions``
        (its branch steps are steps of their own, see `if_steps` / `else_steps`).
    depends_on: the explicit DependsOn names.
    references: steps whose properties or property files the step's expressions read.
    parent / branch: for a branch step, its Condition step and True (IfSteps) or False (ElseSteps).
    raw: the step object as written, including type-specific top-level keys (a Lambda step's
        FunctionArn and OutputParameters, a QualityCheck step's CheckType, ...).
    """

    name: str
    type: str
    arguments: Mapping[str, Any]
    depends_on: tuple[str, ...] = ()
    references: frozenset[str] = frozenset()
    property_files: Mapping[str, PropertyFile] = field(default_factory=dict)
    parent: str | None = None
    branch: bool | None = None
    if_steps: tuple[str, ...] = ()
    else_steps: tuple[str, ...] = ()
    display_name: str | None = None
    description: str | None = None
    cache: CachePolicy | None = None
    """None: the step runs every time."""
    retry_policies: tuple[RetryPolicy, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict)

    @property
    def upstream(self) -> frozenset[str]:
        """Every step that must succeed before this one starts."""
        deps = set(self.depends_on) | self.references
        if self.parent is not None:
            deps.add(self.parent)
        return frozenset(deps)

    @property
    def conditions(self) -> list[Any]:
        """A Condition step's conditions (all must hold for IfSteps to run)."""
        return list(self.arguments.get("Conditions", []))

    def outcome(self, ctx: ResolveContext) -> bool:
        """Evaluate a Condition step: True chooses IfSteps. Raises `ExpressionError`."""
        if self.type != "Condition":
            raise TypeError(f"step '{self.name}' is a {self.type} step, not a Condition step")
        return evaluate_conditions(self.conditions, ctx)

    def error_message(self, ctx: ResolveContext) -> str:
        """A Fail step's resolved ErrorMessage (the execution's FailureReason). Raises `ExpressionError`."""
        if self.type != "Fail":
            raise TypeError(f"step '{self.name}' is a {self.type} step, not a Fail step")
        return stringify(resolve(self.arguments.get("ErrorMessage", ""), ctx))


@dataclass(frozen=True)
class PipelineDefinition:
    """A validated pipeline definition.

    parameters: by name, in definition order.
    steps: every step by name, nested branch steps included, in definition order (a Condition
        step is followed by its IfSteps, then its ElseSteps).
    order: the step names in a topological order.
    experiment_config: PipelineExperimentConfig as written (None when absent).
    """

    parameters: Mapping[str, Parameter]
    steps: Mapping[str, Step]
    order: tuple[str, ...]
    experiment_config: Mapping[str, Any] | None = None

    @property
    def property_files(self) -> dict[str, dict[str, PropertyFile]]:
        """Declared property files: step name -> file name -> PropertyFile."""
        return {name: dict(step.property_files) for name, step in self.steps.items() if step.property_files}

    def resolve_parameters(
        self, overrides: Iterable[Mapping[str, Any]] | Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """Typed values of all parameters for one execution: defaults, then the overrides.

        `overrides` is StartPipelineExecution's ``PipelineParameters`` list
        (``[{"Name": "X", "Value": "1.5"}]``) or a plain name -> value mapping. Raises
        `DefinitionError` for an unknown or repeated name, a value that does not convert to the
        parameter's type or is not in its EnumValues, or a parameter without default left unset.
        """
        given: dict[str, Any] = {}
        for name, value in _override_items(overrides):
            if name in given:
                raise DefinitionError(f"Parameter '{name}' is given more than once")
            if name not in self.parameters:
                declared = ", ".join(self.parameters) or "none"
                raise DefinitionError(
                    f"Parameter '{name}' is not defined in the pipeline definition (declared: {declared})"
                )
            given[name] = value
        values: dict[str, Any] = {}
        for name, parameter in self.parameters.items():
            if name in given:
                values[name] = parameter.convert(given[name])
            elif parameter.has_default:
                values[name] = parameter.default
            else:
                raise DefinitionError(f"Parameter '{name}' has no default value, so a value must be given")
        return values

    def plan(
        self,
        statuses: Mapping[str, str],
        outcomes: Mapping[str, bool] | None = None,
        stop_requested: bool = False,
    ) -> Progress:
        """What to do next, given each started step's status and each Condition's outcome.

        See `pipeline_schedule.plan` for the rules.
        """
        return plan(self.steps, self.order, statuses, outcomes or {}, stop_requested)

    def context(
        self,
        parameters: Mapping[str, Any],
        execution: Mapping[str, Any] | None = None,
        step_properties: Mapping[str, Mapping[str, Any]] | None = None,
        read_json: Callable[[str], Any] | None = None,
        now: Callable[[], Any] | None = None,
    ) -> ResolveContext:
        """A ResolveContext for this definition (its property files and experiment config filled in)."""
        execution = dict(execution or {})
        base = ResolveContext(
            parameters=parameters,
            execution=execution,
            step_properties=step_properties or {},
            property_files=self.property_files,
            read_json=read_json,
            now=now,
        )
        experiment: dict[str, Any] = {}
        for key, value in (self.experiment_config or {}).items():
            try:
                experiment[key] = resolve(value, base)
            except ExpressionError:
                continue  # left out: reading it reports that it is not set
        return ResolveContext(
            parameters=base.parameters,
            execution=base.execution,
            step_properties=base.step_properties,
            property_files=base.property_files,
            read_json=read_json,
            now=now,
            experiment_config=experiment,
        )


def _override_items(
    overrides: Iterable[Mapping[str, Any]] | Mapping[str, Any] | None,
) -> list[tuple[str, Any]]:
    if overrides is None:
        return []
    if isinstance(overrides, Mapping):
        return list(overrides.items())
    items = []
    for index, entry in enumerate(overrides):
        if not isinstance(entry, Mapping) or not isinstance(entry.get("Name"), str) or "Value" not in entry:
            raise DefinitionError(f"PipelineParameters[{index}] must be an object with 'Name' and 'Value'")
        items.append((entry["Name"], entry["Value"]))
    return items


# --------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _check_bounds(doc: Any) -> None:
    """Refuse documents deeper or larger than any real definition, before anything recurses into them."""
    stack: list[tuple[Any, int]] = [(doc, 1)]
    nodes = 0
    while stack:
        value, depth = stack.pop()
        nodes += 1
        if depth > MAX_DEPTH:
            raise DefinitionError(f"PipelineDefinition nests deeper than {MAX_DEPTH} levels")
        if nodes > MAX_NODES:
            raise DefinitionError(f"PipelineDefinition has more than {MAX_NODES} values")
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)
        elif isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**63:
            raise DefinitionError(f"PipelineDefinition has an integer outside the 64-bit range: {str(value)[:40]}...")


def parse_definition(text: str | bytes) -> PipelineDefinition:
    """Parse and validate a pipeline definition; raise `DefinitionError` if AWS would refuse it."""
    try:
        doc = json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise DefinitionError(f"PipelineDefinition nests deeper than {MAX_DEPTH} levels") from None
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError, and integers past Python's digit limit
        raise DefinitionError(f"PipelineDefinition is not valid JSON: {exc}") from None
    _check_bounds(doc)
    if not isinstance(doc, dict):
        raise DefinitionError(f"PipelineDefinition must be a JSON object, got {type(doc).__name__}")
    version = doc.get("Version")
    if version != SCHEMA_VERSION:
        raise DefinitionError(f"PipelineDefinition Version must be '{SCHEMA_VERSION}', got {version!r}")
    metadata = doc.get("Metadata") or {}
    if not isinstance(metadata, dict):
        raise DefinitionError("PipelineDefinition Metadata must be an object")

    parameters = _parse_parameters(doc.get("Parameters"))

    raw_steps = doc.get("Steps")
    if not isinstance(raw_steps, list) or not raw_steps:
        raise DefinitionError("PipelineDefinition Steps must be a non-empty list of steps")
    collected: dict[str, Step] = {}
    refs: dict[str, list[Reference]] = {}
    for index, raw in enumerate(raw_steps):
        _parse_step(raw, f"Steps[{index}]", None, None, collected, refs)
        if len(collected) > MAX_STEPS:
            raise DefinitionError(f"PipelineDefinition has more than {MAX_STEPS} steps")

    experiment = doc.get("PipelineExperimentConfig")
    experiment_refs: list[Reference] = []
    if experiment is not None:
        if not isinstance(experiment, dict):
            raise DefinitionError("PipelineExperimentConfig must be an object")
        experiment_refs = check_expressions(experiment, "PipelineExperimentConfig")
        for ref in experiment_refs:
            if ref.kind not in ("parameter", "execution"):
                raise DefinitionError(f"{ref.where}: may only use parameters and execution variables")

    steps = _link(collected, refs, parameters)
    _check_refs(experiment_refs, parameters, steps)
    try:
        order = topological_order(steps)
    except ValueError as exc:
        raise DefinitionError(
            f"PipelineDefinition has a dependency cycle: {exc} (each step depends on the next)"
        ) from None
    for name, step in steps.items():  # last: the pipeline's own structure is the more useful error
        check_step_arguments(step.type, step.arguments, f"Step '{name}'")
    return PipelineDefinition(
        parameters=MappingProxyType(parameters),
        steps=MappingProxyType(steps),
        order=order,
        experiment_config=experiment,
    )


def _parse_parameters(raw: Any) -> dict[str, Parameter]:
    if raw is None:
        return {}
    if not isinstance(raw, list):
        raise DefinitionError("PipelineDefinition Parameters must be a list")
    if len(raw) > MAX_PARAMETERS:
        raise DefinitionError(f"PipelineDefinition has more than {MAX_PARAMETERS} parameters")
    parameters: dict[str, Parameter] = {}
    for index, entry in enumerate(raw):
        where = f"Parameters[{index}]"
        if not isinstance(entry, dict):
            raise DefinitionError(f"{where} must be an object")
        name = entry.get("Name")
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise DefinitionError(f"{where}: Name must match [A-Za-z0-9-_]{{1,64}}, got {name!r}")
        where = f"Parameter '{name}'"
        unknown = set(entry) - {"Name", "Type", "DefaultValue", "EnumValues", "Description"}
        if unknown:
            raise DefinitionError(f"{where} has unknown keys {sorted(unknown)}")
        if name in parameters:
            raise DefinitionError(f"{where} is declared more than once")
        kind = entry.get("Type", "String")
        if kind not in PARAMETER_TYPES:
            raise DefinitionError(f"{where}: Type must be one of {', '.join(PARAMETER_TYPES)}, got {kind!r}")
        enum_values = entry.get("EnumValues")
        if enum_values is not None:
            if kind != "String":
                raise DefinitionError(f"{where}: EnumValues are only allowed for String parameters")
            if (
                not isinstance(enum_values, list)
                or not enum_values
                or not all(isinstance(v, str) for v in enum_values)
            ):
                raise DefinitionError(f"{where}: EnumValues must be a non-empty list of strings")
            enum_values = tuple(enum_values)
        default = entry.get("DefaultValue")
        has_default = default is not None
        if has_default:
            default = _typed_default(where, kind, default)
            if enum_values is not None and default not in enum_values:
                raise DefinitionError(f"{where}: DefaultValue {default!r} is not one of its EnumValues")
        parameters[name] = Parameter(name, kind, default, has_default, enum_values)
    return parameters


def _finite(value: int | float) -> bool:
    """Whether a JSON number is a finite double (a huge integer literal is not)."""
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False


def _typed_default(where: str, kind: str, value: Any) -> Any:
    """DefaultValue must already have the JSON type of the parameter type (no strings for numbers)."""
    ok = {
        "String": isinstance(value, str),
        "Integer": isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63,
        "Float": isinstance(value, int | float) and not isinstance(value, bool) and _finite(value),
        "Boolean": isinstance(value, bool),
    }[kind]
    if not ok:
        raise DefinitionError(f"{where}: DefaultValue {value!r} is not a valid {kind}")
    return float(value) if kind == "Float" else value


def _parse_step(
    raw: Any,
    where: str,
    parent: str | None,
    branch: bool | None,
    collected: dict[str, Step],
    refs: dict[str, list[Reference]],
) -> str:
    """Validate one step object, add it (and its nested branch steps) to `collected`."""
    if not isinstance(raw, dict):
        raise DefinitionError(f"{where} must be an object, got {type(raw).__name__}")
    name = raw.get("Name")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise DefinitionError(f"{where}: Name must match [A-Za-z0-9-_]{{1,64}}, got {name!r}")
    where = f"Step '{name}'"
    if name in collected:
        raise DefinitionError(f"{where}: step names must be unique, '{name}' is used more than once")
    kind = raw.get("Type")
    if not isinstance(kind, str) or kind not in STEP_TYPES:
        shown = repr(kind) if isinstance(kind, str) else f"of JSON type {type(kind).__name__}"
        raise DefinitionError(f"{where}: unknown step Type {shown[:80]}; valid: {', '.join(sorted(STEP_TYPES))}")
    arguments = raw.get("Arguments", {})
    if not isinstance(arguments, dict):
        raise DefinitionError(f"{where}: Arguments must be an object")
    depends_on = raw.get("DependsOn")
    depends_on = [] if depends_on is None else depends_on
    if not isinstance(depends_on, list) or not all(isinstance(d, str) for d in depends_on):
        raise DefinitionError(f"{where}: DependsOn must be a list of step names")
    for key in ("DisplayName", "Description"):
        if raw.get(key) is not None and not isinstance(raw[key], str):
            raise DefinitionError(f"{where}: {key} must be a string")
    try:
        cache = parse_cache_config(kind, raw.get("CacheConfig"))
        retry_policies = parse_retry_policies(kind, raw.get("RetryPolicies"))
    except PolicyError as e:
        raise DefinitionError(f"{where}: {e}") from None
    property_files = _parse_property_files(raw.get("PropertyFiles"), arguments, where)

    step_refs: list[Reference] = []
    if_names: list[str] = []
    else_names: list[str] = []
    own_arguments: dict[str, Any] = arguments
    if kind == "Condition":
        unknown = set(arguments) - {"Conditions", "IfSteps", "ElseSteps"}
        if unknown:
            raise DefinitionError(f"{where}: Condition Arguments has unknown keys {sorted(unknown)}")
        conditions = arguments.get("Conditions")
        if not isinstance(conditions, list):
            raise DefinitionError(f"{where}: Condition step needs an Arguments.Conditions list")
        for index, cond in enumerate(conditions):
            step_refs += check_condition(cond, f"{where} Arguments.Conditions[{index}]")
        own_arguments = {"Conditions": conditions}
    elif kind == "ForEach":
        # The body steps run per item inside the ForEach step; they are not pipeline steps.
        step_refs += check_expressions(
            {k: v for k, v in arguments.items() if k != "ForEachBody"}, f"{where} Arguments"
        )
    else:
        if kind == "Fail":
            message = arguments.get("ErrorMessage", "")
            if isinstance(message, dict | list) and not is_expression(message):
                raise DefinitionError(f"{where}: Arguments.ErrorMessage must be a string or an expression")
        step_refs += check_expressions(arguments, f"{where} Arguments")
    extras = {k: v for k, v in raw.items() if k not in _STEP_KEYS}
    step_refs += check_expressions(extras, where)

    collected[name] = Step(
        name=name,
        type=kind,
        arguments=own_arguments,
        depends_on=tuple(depends_on),
        property_files=MappingProxyType(property_files),
        parent=parent,
        branch=branch,
        display_name=raw.get("DisplayName"),
        description=raw.get("Description"),
        cache=cache,
        retry_policies=retry_policies,
        raw=raw,
    )
    refs[name] = step_refs

    if kind == "Condition":
        for key, chosen, names in (("IfSteps", True, if_names), ("ElseSteps", False, else_names)):
            nested = arguments.get(key)
            nested = [] if nested is None else nested
            if not isinstance(nested, list):
                raise DefinitionError(f"{where}: Arguments.{key} must be a list of steps")
            for index, child in enumerate(nested):
                names.append(
                    _parse_step(child, f"{where} Arguments.{key}[{index}]", name, chosen, collected, refs)
                )
        collected[name] = replace(collected[name], if_steps=tuple(if_names), else_steps=tuple(else_names))
    return name


def _parse_property_files(raw: Any, arguments: Mapping[str, Any], where: str) -> dict[str, PropertyFile]:
    if raw is None:
        return {}
    if not isinstance(raw, list):
        raise DefinitionError(f"{where}: PropertyFiles must be a list")
    outputs = _literal_output_names(arguments)
    files: dict[str, PropertyFile] = {}
    for index, entry in enumerate(raw):
        fields = ("PropertyFileName", "OutputName", "FilePath")
        if not isinstance(entry, dict) or not all(isinstance(entry.get(f), str) and entry[f] for f in fields):
            raise DefinitionError(
                f"{where}: PropertyFiles[{index}] must have string PropertyFileName, OutputName and FilePath"
            )
        name = entry["PropertyFileName"]
        if name in files:
            raise DefinitionError(f"{where}: property file '{name}' is declared more than once")
        if outputs is not None and entry["OutputName"] not in outputs:
            raise DefinitionError(
                f"{where}: property file '{name}' names OutputName '{entry['OutputName']}', "
                f"which is not one of the step's ProcessingOutputConfig outputs {sorted(outputs)}"
            )
        files[name] = PropertyFile(name, entry["OutputName"], entry["FilePath"])
    return files


def _literal_output_names(arguments: Mapping[str, Any]) -> set[str] | None:
    """The step's processing output names when they are all literal; None when unknown."""
    config = arguments.get("ProcessingOutputConfig")
    outputs = config.get("Outputs") if isinstance(config, dict) else None
    if not isinstance(outputs, list):
        return None
    names = [o.get("OutputName") if isinstance(o, dict) else None for o in outputs]
    return {n for n in names if isinstance(n, str)} if all(isinstance(n, str) for n in names) else None


def _link(
    collected: dict[str, Step], refs: dict[str, list[Reference]], parameters: Mapping[str, Parameter]
) -> dict[str, Step]:
    """Check every name a step uses exists, and record the steps each step reads from."""
    linked: dict[str, Step] = {}
    for name, step in collected.items():
        for dep in step.depends_on:
            if dep not in collected:
                raise DefinitionError(f"Step '{name}': DependsOn names step '{dep}', which does not exist")
        read = _check_refs(refs[name], parameters, collected)
        linked[name] = replace(step, references=frozenset(read))
    return linked


def _check_refs(
    refs: list[Reference], parameters: Mapping[str, Parameter], steps: Mapping[str, Step]
) -> set[str]:
    """Validate references; return the names of the steps they read."""
    read: set[str] = set()
    for ref in refs:
        if ref.kind == "parameter" and ref.name not in parameters:
            raise DefinitionError(f"{ref.where}: parameter '{ref.name}' is not declared in Parameters")
        if ref.kind == "step":
            if ref.name is None or ref.name not in steps:
                raise DefinitionError(
                    f"{ref.where}: 'Steps.{ref.name}.{ref.path}' names a step that does not exist"
                )
            read.add(ref.name)
        if ref.kind == "property_file":
            if ref.name is None:
                owners = [s for s, step in steps.items() if ref.path in step.property_files]
                if len(owners) != 1:
                    raise DefinitionError(
                        f"{ref.where}: property file '{ref.path}' must be declared by exactly one step, "
                        f"found {len(owners)}"
                    )
                read.add(owners[0])
                continue
            if ref.name not in steps:
                raise DefinitionError(
                    f"{ref.where}: property file of step '{ref.name}', which does not exist"
                )
            if ref.path not in steps[ref.name].property_files:
                declared = sorted(steps[ref.name].property_files) or "none"
                raise DefinitionError(
                    f"{ref.where}: step '{ref.name}' declares no property file '{ref.path}' "
                    f"(declared: {declared})"
                )
            read.add(str(ref.name))
    return read
