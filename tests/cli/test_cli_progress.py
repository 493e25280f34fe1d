"""The line-by-line progress log (used when output is not a terminal)."""

from __future__ import annotations

import io

from rich.console import Console

from sagestack.progress import _ChangeLog


def test_a_finished_step_does_not_make_the_execution_look_finished() -> None:
    out = io.StringIO()
    log = _ChangeLog(Console(file=out, width=200))
    log.update({"PipelineExecutionStatus": "Executing"},
               [{"StepName": "Baseline", "StepStatus": "Succeeded"}, {"StepName": "Train", "StepStatus": "Executing"}])
    log.update({"PipelineExecutionStatus": "Executing"},
               [{"StepName": "Baseline", "StepStatus": "Succeeded"}, {"StepName": "Train", "StepStatus": "Succeeded"}])
    log.update({"PipelineExecutionStatus": "Succeeded"}, [])
    lines = [line.split("  ", 1)[1] for line in out.getvalue().splitlines()]
    assert lines == ["execution Executing", "Baseline: Succeeded", "Train: Executing", "Train: Succeeded",
                     "execution Succeeded"]
