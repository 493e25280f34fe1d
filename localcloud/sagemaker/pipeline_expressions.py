"""Expressions and conditions of a SageMaker Pipelines definition: validation and evaluation.

A definition is plain JSON in which a few one-key objects are *expressions* that SageMaker
evaluates at run time, just before a step starts:

* ``{"Get": "Parameters.X"}``: the execution's value of parameter ``X`` (typed);
* ``{"Get": "Execution.PipelineExecutionId"}`` (and the other execution variables);
* ``{"Get": "Steps.S.<path>"}``: a property of the finished step ``S``: a path into its
  Describe* response, e.g. ``ProcessingOutputConfig.Outputs['train'].S3Output.S3Uri``, where
  ``['train']`` on a list picks the item whose ``*Name`` field (OutputName, ChannelName,
  MetricName, ...) is ``train``, on a map it is a key, and ``[0]`` is a list index;
* ``{"Get": "PipelineExperimentConfig.ExperimentName" | "...TrialName"}``;
* ``{"Std:Join": {"On": sep, "Values": [...]}}``: the values as strings, joined;
* ``{"Std:JsonGet": {"PropertyFile": {"Get": "Steps.S.PropertyFiles.P"}, "Path": "a.b[0]"}}``
  (or ``"S3Uri": <expr>`` instead of ``PropertyFile``): a value read from a JSON file.

This module is pure: it never touches S3 or the clock itself. Whatever needs I/O (reading a
property file, the current time) comes in through `ResolveContext` callbacks, so the engine
owns the I/O and these rules stay testable in isolation.

Two error types, for the two moments AWS reports problems:
`DefinitionError` (a ValidationException from CreatePipeline / StartPipelineExecution) and
`ExpressionError` (raised while a step's inputs are evaluated: the step fails with its text).
"""

from __future__ import annotations

import contextlib
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "EXECUTION_VARIABLES",
    "DefinitionError",
    "ExpressionError",
    "PropertyFile",
    "Reference",
    "ResolveContext",
    "check_condition",
    "check_expressions",
    "evaluate_condition",
    "evaluate_conditions",
    "is_expression",
    "parse_property_path",
    "property_file_uri",
    "resolve",
    "stringify",
]


class DefinitionError(ValueError):
    """A definition or a start request AWS would refuse; the message is the ValidationException text."""


class ExpressionError(ValueError):
    """An expression that cannot be evaluated at run time; the message becomes the step's FailureReason."""


EXECUTION_VARIABLES = frozenset(
    {
        "PipelineName",
        "PipelineArn",
        "PipelineExecutionId",
        "PipelineExecutionArn",
        "StartDateTime",
        "CurrentDateTime",
        "TrainingJobName",
        "ProcessingJobName",
    }
)
"""Names valid after ``Execution.``; the SDK's ExecutionVariables emits exactly these."""

EXPERIMENT_CONFIG_VARIABLES = frozenset({"ExperimentName", "TrialName"})

_FUNCTIONS = ("Get", "Std:Join", "Std:JsonGet")

# Roots of ForEach-step expressions (SDK v3). Accepted at parse time so such definitions load; the
# engine does not run ForEach steps, so evaluating one is an error.
_FOREACH_ROOTS = ("ForEach", "IterationOutput")


# --------------------------------------------------------------------------------------------
# Property paths: "A.B['x'][0].C" (Get) and JsonPath-like "$.a.b[0]['c']" (JsonGet)
# --------------------------------------------------------------------------------------------

Token = tuple[Literal["key", "index", "pick"], Any]
"""One step of a path: ("key", name) after a dot, ("index", n) for [n], ("pick", s) for ['s']."""

_SEGMENT = re.compile(r"""[^.\[\]'"]+""")
_BRACKET = re.compile(r"""\[(?:(-?\d+)|'([^']*)'|"([^"]*)")\]""")


def parse_property_path(path: str) -> list[Token]:
    """Split a property path into tokens; raise `ValueError` (with the position) if malformed.

    A leading ``$`` (JsonPath root) is accepted and ignored, so JsonGet paths written either as
    ``a.b`` or ``$.a.b`` work.
    """
    if not isinstance(path, str) or not path.strip():
        raise ValueError("the path is empty")
    tokens: list[Token] = []
    pos = 0
    if path.startswith("$"):
        pos = 1
        if path[pos : pos + 1] == ".":
            pos += 1
        if pos >= len(path):
            return tokens
    expect_name = not path.startswith("[", pos)
    while pos < len(path):
        if expect_name:
            match = _SEGMENT.match(path, pos)
            if not match:
                raise ValueError(f"expected a name at position {pos} of '{path}'")
            tokens.append(("key", match.group(0)))
            pos = match.end()
        while pos < len(path) and path[pos] == "[":
            match = _BRACKET.match(path, pos)
            if not match:
                raise ValueError(f"malformed [...] at position {pos} of '{path}'")
            number, single, double = match.groups()
            if number is not None:
                tokens.append(("index", int(number)))
            else:
                tokens.append(("pick", single if single is not None else double))
            pos = match.end()
        if pos < len(path):
            if path[pos] != ".":
                raise ValueError(f"unexpected '{path[pos]}' at position {pos} of '{path}'")
            pos += 1
            if pos >= len(path):
                raise ValueError(f"'{path}' ends with '.'")
            expect_name = True
    return tokens


def _describe(tokens: list[Token]) -> str:
    out = ""
    for kind, value in tokens:
        if kind == "key":
            out += ("." if out else "") + value
        elif kind == "index":
            out += f"[{value}]"
        else:
            out += f"['{value}']"
    return out


def _pick(items: list[Any], name: str) -> Any:
    """The list item whose ``*Name`` field equals `name` (how AWS addresses Outputs, channels...)."""
    for item in items:
        if isinstance(item, Mapping) and any(
            key.endswith("Name") and value == name for key, value in item.items()
        ):
            return item
    return _MISSING


_MISSING = object()


def _walk(value: Any, tokens: list[Token], what: str) -> Any:
    """Follow `tokens` into `value`; `what` names the root in error messages."""
    for depth, (kind, key) in enumerate(tokens):
        # A property that is a JSON document held as a string (e.g. a JobStep's JobConfigDocument)
        # can be descended into: SageMaker parses it lazily.
        if isinstance(value, str) and value[:1] in ("{", "["):
            with contextlib.suppress(json.JSONDecodeError):
                value = json.loads(value)
        found: Any = _MISSING
        if kind == "index":
            if isinstance(value, list) and -len(value) <= key < len(value):
                found = value[key]
        elif isinstance(value, Mapping):
            found = value.get(key, _MISSING)
        elif isinstance(value, list) and kind == "pick":
            found = _pick(value, key)
        if found is _MISSING:
            so_far = _describe(tokens[: depth + 1])
            raise ExpressionError(f"{what} has no property '{so_far}' ({_shape(value)} there)")
        value = found
    return value


def _shape(value: Any) -> str:
    if isinstance(value, Mapping):
        keys = sorted(str(k) for k in value)
        shown = ", ".join(keys[:12]) + (", ..." if len(keys) > 12 else "")
        return f"an object with keys [{shown}]"
    if isinstance(value, list):
        names = [
            str(v)
            for item in value
            if isinstance(item, Mapping)
            for k, v in item.items()
            if k.endswith("Name")
        ]
        if names:
            return f"a list of {len(value)} items named {names[:12]}"
        return f"a list of {len(value)} items"
    return f"the {type(value).__name__} value {value!r}"


# --------------------------------------------------------------------------------------------
# Parse-time checking: syntax, and what each expression refers to
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PropertyFile:
    """A JSON file a step promises to write into one of its processing outputs."""

    name: str
    output_name: str
    file_path: str


@dataclass(frozen=True)
class Reference:
    """Something an expression reads; the definition checks each exists and orders steps by them.

    kind "parameter": `name` is the parameter; "execution": an execution variable;
    "experiment": a PipelineExperimentConfig field; "step": `name` is the step and `path` the
    property path; "property_file": `name` is the step and `path` the property file name, or
    `name` is None when the file was named alone (``"PropertyFile": "P"``) and the definition
    must find the step that declares it; "foreach": a ForEach-step variable (not evaluated).
    """

    kind: Literal["parameter", "execution", "experiment", "step", "property_file", "foreach"]
    name: str | None
    path: str = ""
    where: str = ""


def is_expression(value: Any) -> bool:
    """Whether `value` is an expression object (a one-key dict naming a function)."""
    if not isinstance(value, Mapping) or len(value) != 1:
        return False
    (key,) = value
    return key in _FUNCTIONS or (isinstance(key, str) and key.startswith("Std:"))


def check_expressions(value: Any, where: str) -> list[Reference]:
    """Validate every expression inside `value` (any JSON) and return what they refer to.

    `where` locates `value` in the definition (e.g. ``step 'Train' Arguments``) and prefixes each
    error message, so a DefinitionError says which step and field is wrong.
    """
    refs: list[Reference] = []
    _check(value, where, refs)
    return refs


def _check(value: Any, where: str, refs: list[Reference]) -> None:
    if isinstance(value, Mapping):
        if "Get" in value and len(value) > 1:
            raise DefinitionError(f"{where}: a 'Get' object must have no other keys, found {sorted(value)}")
        if is_expression(value):
            _check_function(value, where, refs)
            return
        for key, item in value.items():
            _check(item, f"{where}.{key}", refs)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check(item, f"{where}[{index}]", refs)


def _check_function(expr: Mapping[str, Any], where: str, refs: list[Reference]) -> None:
    (name,) = expr
    body = expr[name]
    if name == "Get":
        refs.append(_check_get(body, where))
    elif name == "Std:Join":
        if not isinstance(body, Mapping):
            raise DefinitionError(f"{where}: Std:Join takes an object with 'On' and 'Values'")
        unknown = set(body) - {"On", "Values"}
        if unknown:
            raise DefinitionError(f"{where}: Std:Join has unknown keys {sorted(unknown)}")
        if not isinstance(body.get("On", ""), str):
            raise DefinitionError(f"{where}: Std:Join 'On' must be a string")
        values = body.get("Values")
        if not isinstance(values, list):
            raise DefinitionError(f"{where}: Std:Join 'Values' must be a list")
        for index, item in enumerate(values):
            _check(item, f"{where}.Std:Join.Values[{index}]", refs)
    elif name == "Std:JsonGet":
        _check_json_get(body, where, refs)
    else:
        raise DefinitionError(f"{where}: unknown function '{name}'; supported: {', '.join(_FUNCTIONS)}")


def _check_get(target: Any, where: str) -> Reference:
    if not isinstance(target, str) or "." not in target:
        raise DefinitionError(
            f"{where}: 'Get' must be a string like 'Parameters.X', 'Execution.X' or 'Steps.S.<path>', "
            f"got {target!r}"
        )
    root, rest = target.split(".", 1)
    if root == "Parameters":
        return Reference("parameter", rest, where=where)
    if root == "Execution":
        if rest not in EXECUTION_VARIABLES:
            raise DefinitionError(
                f"{where}: unknown execution variable '{rest}'; "
                f"valid: {', '.join(sorted(EXECUTION_VARIABLES))}"
            )
        return Reference("execution", rest, where=where)
    if root == "PipelineExperimentConfig":
        if rest not in EXPERIMENT_CONFIG_VARIABLES:
            raise DefinitionError(
                f"{where}: unknown PipelineExperimentConfig property '{rest}'; "
                "valid: ExperimentName, TrialName"
            )
        return Reference("experiment", rest, where=where)
    if root in _FOREACH_ROOTS:
        return Reference("foreach", rest, where=where)
    if root == "Steps":
        step, _, path = rest.partition(".")
        if not step or not path:
            raise DefinitionError(f"{where}: '{target}' needs a step name and a property path")
        if path.startswith("PropertyFiles."):
            file_name = path[len("PropertyFiles.") :]
            raise DefinitionError(
                f"{where}: property file '{file_name}' of step '{step}' can only be read with Std:JsonGet"
            )
        try:
            parse_property_path(path)
        except ValueError as exc:
            raise DefinitionError(f"{where}: invalid property path in '{target}': {exc}") from None
        return Reference("step", step, path, where=where)
    raise DefinitionError(
        f"{where}: 'Get' of '{target}': the root must be Parameters, Execution, Steps "
        "or PipelineExperimentConfig"
    )


def _check_json_get(body: Any, where: str, refs: list[Reference]) -> None:
    if not isinstance(body, Mapping):
        raise DefinitionError(
            f"{where}: Std:JsonGet takes an object with 'PropertyFile' (or 'S3Uri') and 'Path'"
        )
    unknown = set(body) - {"PropertyFile", "S3Uri", "Path"}
    if unknown:
        raise DefinitionError(f"{where}: Std:JsonGet has unknown keys {sorted(unknown)}")
    if ("PropertyFile" in body) == ("S3Uri" in body):
        raise DefinitionError(f"{where}: Std:JsonGet needs exactly one of 'PropertyFile' and 'S3Uri'")
    path = body.get("Path")
    if not isinstance(path, str):
        raise DefinitionError(f"{where}: Std:JsonGet 'Path' must be a string, got {type(path).__name__}")
    try:
        parse_property_path(path)
    except ValueError as exc:
        raise DefinitionError(f"{where}: Std:JsonGet 'Path' is invalid: {exc}") from None
    if "S3Uri" in body:
        _check(body["S3Uri"], f"{where}.Std:JsonGet.S3Uri", refs)
        return
    source = body["PropertyFile"]
    if isinstance(source, str) and source:
        refs.append(Reference("property_file", None, source, where=where))
        return
    target = source.get("Get") if isinstance(source, Mapping) and len(source) == 1 else None
    match = (
        re.fullmatch(r"Steps\.([^.]+)\.PropertyFiles\.([^.]+)", target) if isinstance(target, str) else None
    )
    if not match:
        raise DefinitionError(
            f'{where}: Std:JsonGet \'PropertyFile\' must be {{"Get": "Steps.<step>.PropertyFiles.<name>"}} '
            f"or a property file name, got {source!r}"
        )
    refs.append(Reference("property_file", match.group(1), match.group(2), where=where))


_COMPARISONS = {
    "Equals",
    "NotEquals",
    "GreaterThan",
    "GreaterThanOrEqualTo",
    "LessThan",
    "LessThanOrEqualTo",
}
CONDITION_TYPES = frozenset(_COMPARISONS | {"In", "NotIn", "Not", "Or"})


def check_condition(cond: Any, where: str) -> list[Reference]:
    """Validate one condition object (recursively) and return the references of its operands."""
    if not isinstance(cond, Mapping):
        raise DefinitionError(f"{where}: a condition must be an object, got {type(cond).__name__}")
    kind = cond.get("Type")
    if kind not in CONDITION_TYPES:
        raise DefinitionError(
            f"{where}: unknown condition Type {kind!r}; valid: {', '.join(sorted(CONDITION_TYPES))}"
        )
    refs: list[Reference] = []
    if kind in _COMPARISONS:
        for side in ("LeftValue", "RightValue"):
            if side not in cond:
                raise DefinitionError(f"{where}: {kind} condition is missing '{side}'")
            _check_operand(cond[side], f"{where}.{side}", refs)
    elif kind in ("In", "NotIn"):
        query, values = _in_operands(cond, where)
        _check_operand(query, f"{where}.QueryValue", refs)
        for index, item in enumerate(values):
            _check_operand(item, f"{where}.Values[{index}]", refs)
    elif kind == "Not":
        inner = cond.get("Condition")
        if inner is None:
            raise DefinitionError(f"{where}: Not condition is missing 'Condition'")
        refs += check_condition(inner, f"{where}.Condition")
    else:  # Or
        items = cond.get("Conditions")
        if not isinstance(items, list) or not items:
            raise DefinitionError(f"{where}: Or condition needs a non-empty 'Conditions' list")
        for index, item in enumerate(items):
            refs += check_condition(item, f"{where}.Conditions[{index}]")
    return refs


def _check_operand(value: Any, where: str, refs: list[Reference]) -> None:
    if isinstance(value, Mapping) and not is_expression(value):
        raise DefinitionError(
            f"{where}: an operand must be a literal or an expression, got an object {value!r}"
        )
    if isinstance(value, list):
        raise DefinitionError(f"{where}: an operand must be a literal or an expression, got a list")
    _check(value, where, refs)


def _in_operands(cond: Mapping[str, Any], where: str) -> tuple[Any, list[Any]]:
    """In's operands: the SDK writes QueryValue/Values; the published schema says Value/In."""
    query_key = "QueryValue" if "QueryValue" in cond else "Value"
    values_key = "Values" if "Values" in cond else "In"
    if query_key not in cond:
        raise DefinitionError(f"{where}: {cond.get('Type')} condition is missing 'QueryValue'")
    values = cond.get(values_key)
    if not isinstance(values, list):
        raise DefinitionError(f"{where}: {cond.get('Type')} condition needs a 'Values' list")
    return cond[query_key], values


# --------------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResolveContext:
    """Everything an expression may read during one execution, supplied by the engine.

    parameters: the execution's typed parameter values (`PipelineDefinition.resolve_parameters`).
    execution: execution variables by name (``PipelineExecutionId``, ``PipelineExecutionArn``,
        ``PipelineName``, ``PipelineArn``, ``StartDateTime``; per step also ``TrainingJobName`` /
        ``ProcessingJobName``: the job name the engine gives that step).
    step_properties: for each *succeeded* step, its properties: the Describe* response of its
        job (DescribeTrainingJob, DescribeProcessingJob, DescribeTransformJob, DescribeModel,
        DescribeModelPackage for RegisterModel/Model steps...) as a dict; for a Condition step
        ``{"Outcome": bool}``; for Lambda/Callback steps ``{"OutputParameters": {name: value}}``
        (a map, as the SDK addresses ``OutputParameters['x']``).
    property_files: declared property files, step name -> file name -> PropertyFile
        (`PipelineDefinition.property_files`).
    read_json: loads and parses the JSON object at an ``s3://`` URI (property files and
        JsonGet's S3Uri form). Its exceptions become ExpressionErrors.
    now: returns ``Execution.CurrentDateTime``; without it the value in `execution` is used.
    experiment_config: resolved PipelineExperimentConfig (ExperimentName, TrialName).
    """

    parameters: Mapping[str, Any] = field(default_factory=dict)
    execution: Mapping[str, Any] = field(default_factory=dict)
    step_properties: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    property_files: Mapping[str, Mapping[str, PropertyFile]] = field(default_factory=dict)
    read_json: Callable[[str], Any] | None = None
    now: Callable[[], Any] | None = None
    experiment_config: Mapping[str, Any] = field(default_factory=dict)


def resolve(value: Any, ctx: ResolveContext) -> Any:
    """A copy of `value` (any JSON) with every expression replaced by its value.

    Raises `ExpressionError` when something cannot be evaluated (a missing property, an
    unreadable property file, ...), with a message fit for the step's FailureReason.
    """
    if isinstance(value, Mapping):
        if is_expression(value):
            return _evaluate(value, ctx)
        return {key: resolve(item, ctx) for key, item in value.items()}
    if isinstance(value, list):
        return [resolve(item, ctx) for item in value]
    return value


def stringify(value: Any) -> str:
    """The text SageMaker makes of a value inside Std:Join (and wherever the API wants a string).

    Strings stay as they are; integers print without a decimal point (an Integer parameter 5 is
    "5", never "5.0"); floats print in their shortest round-trip form ("0.1", "6.0"); booleans as
    JSON/Java print them ("true", "false"); null as "null"; objects and lists as compact JSON.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else json.dumps(value)
    if value is None:
        return "null"
    return json.dumps(value, separators=(",", ":"), sort_keys=False)


def _evaluate(expr: Mapping[str, Any], ctx: ResolveContext) -> Any:
    (name,) = expr
    body = expr[name]
    if name == "Get":
        return _evaluate_get(body, ctx)
    if name == "Std:Join":
        separator = body.get("On", "")
        return separator.join(stringify(resolve(item, ctx)) for item in body.get("Values", []))
    if name == "Std:JsonGet":
        return _evaluate_json_get(body, ctx)
    raise ExpressionError(f"unknown function '{name}'")


def _evaluate_get(target: str, ctx: ResolveContext) -> Any:
    root, _, rest = target.partition(".")
    if root == "Parameters":
        if rest not in ctx.parameters:
            raise ExpressionError(f"parameter '{rest}' has no value in this execution")
        return ctx.parameters[rest]
    if root == "Execution":
        if rest == "CurrentDateTime" and ctx.now is not None:
            return ctx.now()
        if rest not in ctx.execution:
            raise ExpressionError(f"execution variable '{rest}' is not available here")
        return ctx.execution[rest]
    if root == "PipelineExperimentConfig":
        if rest not in ctx.experiment_config:
            raise ExpressionError(f"PipelineExperimentConfig.{rest} is not set for this pipeline")
        return ctx.experiment_config[rest]
    if root == "Steps":
        step, _, path = rest.partition(".")
        return _walk(_properties_of(step, ctx), parse_property_path(path), f"step '{step}'")
    raise ExpressionError(f"'{target}' cannot be evaluated by this emulator")


def _properties_of(step: str, ctx: ResolveContext) -> Mapping[str, Any]:
    try:
        return ctx.step_properties[step]
    except KeyError:
        raise ExpressionError(
            f"step '{step}' has not succeeded in this execution, so its properties are unknown"
        ) from None


def property_file_uri(step_properties: Mapping[str, Any], file: PropertyFile, step: str = "step") -> str:
    """Where property file `file` lives: its processing output's S3Uri joined with its FilePath."""
    outputs = _walk(
        step_properties, [("key", "ProcessingOutputConfig"), ("key", "Outputs")], f"step '{step}'"
    )
    if isinstance(outputs, Mapping):
        output = outputs.get(file.output_name)
    else:
        output = _pick(outputs, file.output_name) if isinstance(outputs, list) else _MISSING
    if output is None or output is _MISSING:
        raise ExpressionError(
            f"property file '{file.name}' of step '{step}' names output '{file.output_name}', "
            "which the step does not have"
        )
    uri = _walk(
        output, [("key", "S3Output"), ("key", "S3Uri")], f"output '{file.output_name}' of step '{step}'"
    )
    if not isinstance(uri, str):
        raise ExpressionError(f"output '{file.output_name}' of step '{step}' has no S3 URI")
    return uri.rstrip("/") + "/" + file.file_path.lstrip("/")


def _find_property_file(name: str, ctx: ResolveContext) -> tuple[str, PropertyFile]:
    owners = [(step, files[name]) for step, files in ctx.property_files.items() if name in files]
    if len(owners) != 1:
        raise ExpressionError(
            f"property file '{name}' is declared by {len(owners)} steps, expected exactly one"
        )
    return owners[0]


def _evaluate_json_get(body: Mapping[str, Any], ctx: ResolveContext) -> Any:
    path = body["Path"]
    if "S3Uri" in body:
        uri = resolve(body["S3Uri"], ctx)
        if not isinstance(uri, str):
            raise ExpressionError(f"Std:JsonGet S3Uri must resolve to a string, got {uri!r}")
        what = f"JSON file {uri}"
    else:
        source = body["PropertyFile"]
        if isinstance(source, str):
            step, file = _find_property_file(source, ctx)
        else:
            step, _, rest = source["Get"][len("Steps.") :].partition(".")
            file_name = rest[len("PropertyFiles.") :]
            declared = ctx.property_files.get(step, {}).get(file_name)
            if declared is None:
                raise ExpressionError(f"step '{step}' declares no property file '{file_name}'")
            file = declared
        uri = property_file_uri(_properties_of(step, ctx), file, step)
        what = f"property file '{file.name}' of step '{step}' ({uri})"
    if ctx.read_json is None:
        raise ExpressionError(f"cannot read {what}: no reader configured")
    try:
        document = ctx.read_json(uri)
    except ExpressionError:
        raise
    except Exception as exc:
        raise ExpressionError(f"cannot read {what}: {exc}") from exc
    return _walk(document, parse_property_path(path), what)


def evaluate_conditions(conditions: list[Any], ctx: ResolveContext) -> bool:
    """A Condition step's outcome: all of its conditions hold (an empty list holds)."""
    return all(evaluate_condition(cond, ctx) for cond in conditions)


def evaluate_condition(cond: Mapping[str, Any], ctx: ResolveContext) -> bool:
    """Evaluate one condition object (already validated by `check_condition`).

    Numbers compare numerically, also when one side is a numeric string (a JsonGet may return
    "0.93"); two strings compare as strings; booleans only compare for equality (with booleans
    or "true"/"false"). Anything else raises `ExpressionError` naming the operands.
    """
    kind = cond["Type"]
    if kind in _COMPARISONS:
        left = resolve(cond["LeftValue"], ctx)
        right = resolve(cond["RightValue"], ctx)
        return _compare(kind, left, right)
    if kind in ("In", "NotIn"):
        query, values = _in_operands(cond, "condition")
        needle = resolve(query, ctx)
        found = any(_loosely_equal(needle, resolve(item, ctx)) for item in values)
        return found if kind == "In" else not found
    if kind == "Not":
        return not evaluate_condition(cond["Condition"], ctx)
    if kind == "Or":
        return any(evaluate_condition(item, ctx) for item in cond["Conditions"])
    raise ExpressionError(f"unknown condition type {kind!r}")


def _number(value: Any) -> float | int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def _boolean(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return None


def _comparable(left: Any, right: Any) -> tuple[Any, Any] | None:
    """Both operands in one comparable domain, or None when they cannot be compared."""
    if isinstance(left, bool) or isinstance(right, bool):
        a, b = _boolean(left), _boolean(right)
        return (a, b) if a is not None and b is not None else None
    if isinstance(left, str) and isinstance(right, str):
        return left, right
    x, y = _number(left), _number(right)
    if x is not None and y is not None:
        return x, y
    return None


def _compare(kind: str, left: Any, right: Any) -> bool:
    pair = _comparable(left, right)
    if pair is None:
        raise ExpressionError(f"{kind} cannot compare {_typed(left)} with {_typed(right)}")
    a, b = pair
    if kind == "Equals":
        return a == b
    if kind == "NotEquals":
        return a != b
    if isinstance(a, bool):
        raise ExpressionError(f"{kind} cannot order booleans ({_typed(left)}, {_typed(right)})")
    if kind == "GreaterThan":
        return a > b
    if kind == "GreaterThanOrEqualTo":
        return a >= b
    if kind == "LessThan":
        return a < b
    return a <= b


def _loosely_equal(left: Any, right: Any) -> bool:
    pair = _comparable(left, right)
    return pair is not None and pair[0] == pair[1]


def _typed(value: Any) -> str:
    return f"{type(value).__name__} {value!r}"
