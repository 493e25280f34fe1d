"""The job scripts ship to SageMaker as single files: only allowed imports, nothing package-relative."""

from __future__ import annotations

import ast
import sys

import pytest
from training_helpers import SCRIPTS

ALLOWED = {"numpy", "pandas", "sklearn", "joblib", "pyarrow"}
JOB_FILES = ["datagen.py", "preprocess.py", "train.py", "evaluate.py", "baseline.py"]


def imported_modules(tree: ast.AST) -> list[tuple[str, int]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, 0) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append((node.module or "", node.level))
    return found


@pytest.mark.parametrize("name", JOB_FILES)
def test_script_imports_only_the_stdlib_and_the_framework(name: str) -> None:
    tree = ast.parse((SCRIPTS / name).read_text(), filename=name)
    modules = imported_modules(tree)
    assert modules, "expected imports"
    for module, level in modules:
        assert level == 0, f"{name}: relative import of {module!r}"
        top = module.split(".")[0]
        assert top in sys.stdlib_module_names or top in ALLOWED, f"{name}: imports {module!r}"


@pytest.mark.parametrize("name", JOB_FILES)
def test_script_runs_as_a_plain_file(name: str) -> None:
    tree = ast.parse((SCRIPTS / name).read_text(), filename=name)
    guards = [
        node
        for node in tree.body
        if isinstance(node, ast.If)
        and "__name__" in ast.unparse(node.test)
        and "__main__" in ast.unparse(node.test)
    ]
    assert len(guards) == 1, f"{name} needs one `if __name__ == '__main__':` entry point"
