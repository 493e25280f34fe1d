"""Loading the user's inference program the way SageMaker's scikit-learn container does.

``SAGEMAKER_PROGRAM`` names a .py file in ``SAGEMAKER_SUBMIT_DIRECTORY``; it is imported as a
module named after the file (so pickles that reference it resolve), with the directory on
``sys.path`` (so it can import its siblings) and without running its ``__main__`` block (a training
script can double as the inference program). Hooks it does not define fall back to the framework
defaults. Every failure names the file and the hook, because the operator reads it as the
endpoint's FailureReason and has nothing else to go on.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from modelserver import default_handlers
from modelserver.errors import UserCodeError, short

log = logging.getLogger("modelserver")

HOOK_NAMES = ("model_fn", "input_fn", "predict_fn", "output_fn", "transform_fn", "execution_parameters_fn")
# A program with its own predict_fn may set this module attribute to True to promise that the
# prediction for a row depends on that row only, which makes micro-batching safe.
ROW_WISE_FLAG = "ROW_WISE_PREDICT"


@dataclass(frozen=True)
class Hooks:
    """The resolved hooks of one program; ``custom`` names those the user wrote."""

    origin: str
    model_fn: Callable[[str], Any]
    input_fn: Callable[[Any, str], Any]
    predict_fn: Callable[[Any, Any], Any]
    output_fn: Callable[[Any, str], Any]
    transform_fn: Callable[[Any, Any, str, str], Any] | None
    execution_parameters_fn: Callable[[], Any] | None
    custom: frozenset[str]
    row_wise_predict: bool

    def is_default(self, hook: str) -> bool:
        return hook not in self.custom


def program_path(submit_dir: str | Path, program: str) -> Path:
    """Where SAGEMAKER_PROGRAM lives; only local directories (the emulator downloads S3 code)."""
    if not program:
        raise UserCodeError("SAGEMAKER_PROGRAM is not set: name the inference script, e.g. inference.py")
    directory = str(submit_dir)
    if "://" in directory:
        raise UserCodeError(
            f"SAGEMAKER_SUBMIT_DIRECTORY={directory} is not a local directory; download and extract it first"
        )
    name = program if program.endswith(".py") else f"{program}.py"
    path = Path(directory) / name
    if not path.is_file():
        raise UserCodeError(f"SAGEMAKER_PROGRAM {program!r} not found: {path} does not exist")
    return path


def import_program(path: Path) -> ModuleType:
    """Import the program file as a module; raise UserCodeError naming the file on any failure."""
    name = path.stem
    existing = sys.modules.get(name)
    if existing is not None and getattr(existing, "__file__", None) != str(path):
        # The file's name is already taken (e.g. a program called json.py): keep both working.
        name = f"sagemaker_program_{name}"
    code_dir = str(path.parent)
    if code_dir not in sys.path:
        sys.path.insert(0, code_dir)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise UserCodeError(f"cannot import {path}: not a Python source file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException as exc:
        sys.modules.pop(name, None)
        if isinstance(exc, KeyboardInterrupt):
            raise
        traceback.print_exc()
        raise UserCodeError(f"importing {path} failed: {short(exc)}") from exc
    return module


def resolve_hooks(module: ModuleType, origin: str) -> Hooks:
    """The program's hooks, defaults for missing ones, and the container's consistency rules."""
    found: dict[str, Callable[..., Any]] = {}
    for hook in HOOK_NAMES:
        value = getattr(module, hook, None)
        if value is None:
            continue
        if not callable(value):
            raise UserCodeError(f"{origin}: {hook} is {type(value).__name__}, not a function")
        found[hook] = value
    if "model_fn" not in found:
        raise UserCodeError(
            f"{origin} defines no model_fn(model_dir): the scikit-learn container has no default model "
            "loader, so the program must load the model itself"
        )
    if "transform_fn" in found:
        clash = sorted({"input_fn", "predict_fn", "output_fn"} & found.keys())
        if clash:
            raise UserCodeError(
                f"{origin} defines transform_fn and {', '.join(clash)}: use transform_fn alone, "
                "or input_fn/predict_fn/output_fn without it"
            )
    row_wise = "predict_fn" not in found or getattr(module, ROW_WISE_FLAG, False) is True
    return Hooks(
        origin=origin,
        model_fn=found["model_fn"],
        input_fn=found.get("input_fn", default_handlers.default_input_fn),
        predict_fn=found.get("predict_fn", default_handlers.default_predict_fn),
        output_fn=found.get("output_fn", default_handlers.default_output_fn),
        transform_fn=found.get("transform_fn"),
        execution_parameters_fn=found.get("execution_parameters_fn"),
        custom=frozenset(found),
        row_wise_predict=row_wise and "transform_fn" not in found,
    )


def load_hooks(submit_dir: str | Path, program: str) -> Hooks:
    path = program_path(submit_dir, program)
    return resolve_hooks(import_program(path), str(path))


def load_model(hooks: Hooks, model_dir: str | Path) -> Any:
    """Call the program's model_fn; a failure names the file and hook and keeps the traceback."""
    directory = Path(model_dir)
    if not directory.is_dir():
        raise UserCodeError(f"model directory {directory} does not exist (set SM_MODEL_DIR or --model-dir)")
    try:
        model = hooks.model_fn(str(directory))
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        traceback.print_exc()
        raise UserCodeError(f"model_fn in {hooks.origin} failed: {short(exc)}") from exc
    if model is None:
        raise UserCodeError(f"model_fn in {hooks.origin} returned None; it must return the loaded model")
    log.info("model loaded by %s", hooks.origin)
    return model
