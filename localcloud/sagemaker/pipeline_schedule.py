"""Which pipeline steps may start now: the scheduling rules of a SageMaker pipeline execution.

Kept apart from the engine (threads, jobs, S3) so the rules are a pure function of "what has
happened so far" and can be tested exhaustively. The engine calls `plan` after every change of
a step's status, starts the steps in `Progress.ready`, and stops when `Progress.finished`.

Rules, as SageMaker applies them:

* a step starts once every step it depends on has Succeeded: its DependsOn list, every step
  its expressions read (``Get Steps.X...``, property files), and, for a step inside a
  Condition's IfSteps/ElseSteps, that Condition step;
* a branch step runs only if its Condition chose its branch; steps of the other branch, and
  every step downstream of them, never run (and AWS does not list them in the execution);
* independent steps run in parallel: `ready` lists all of them at once;
* once a step has Failed (a Fail step included) or been Stopped, or a stop was requested, no
  new step starts; running steps finish, and the execution ends Failed (or Stopped).
"""

from __future__ import annotations

import graphlib
import heapq
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

__all__ = ["Progress", "StepStatus", "plan", "topological_order"]


class StepStatus(StrEnum):
    """A step's status as ListPipelineExecutionSteps reports it."""

    STARTING = "Starting"
    EXECUTING = "Executing"
    STOPPING = "Stopping"
    STOPPED = "Stopped"
    FAILED = "Failed"
    SUCCEEDED = "Succeeded"


_IN_FLIGHT = frozenset({StepStatus.STARTING, StepStatus.EXECUTING, StepStatus.STOPPING})


class _Node(Protocol):
    """What scheduling needs to know of a step (`definition.Step` provides it)."""

    @property
    def upstream(self) -> frozenset[str]: ...

    @property
    def parent(self) -> str | None: ...

    @property
    def branch(self) -> bool | None: ...


@dataclass(frozen=True)
class Progress:
    """Where an execution stands, derived from its steps' statuses.

    ready: steps to start now, in definition order (empty once the execution is halting).
    running: steps Starting, Executing or Stopping.
    failed: steps that Failed (a Fail step counts).
    never_run: steps that will not run in this execution because a Condition chose the other
        branch (or because they depend on such a step); not listed by AWS, so not by us.
    finished: nothing is running and nothing more will start.
    status: the execution's PipelineExecutionStatus: Executing, Stopping, Succeeded, Failed or
        Stopped.
    """

    ready: tuple[str, ...]
    running: tuple[str, ...]
    failed: tuple[str, ...]
    never_run: frozenset[str]
    finished: bool
    status: str


def plan(
    steps: Mapping[str, _Node],
    order: Sequence[str],
    statuses: Mapping[str, str],
    outcomes: Mapping[str, bool],
    stop_requested: bool = False,
) -> Progress:
    """Decide what happens next in an execution.

    steps: every step of the definition by name, in definition order.
    order: the step names in a topological order (dependencies first).
    statuses: the status (a `StepStatus` or its string) of each step started so far; steps
        not started yet are absent.
    outcomes: the outcome of each Condition step that Succeeded (True: IfSteps were chosen).
    stop_requested: StopPipelineExecution was called.

    Raises `ValueError` for inconsistent input (an unknown step or status, a Condition step that
    Succeeded without an outcome while it has branch steps): that is an engine bug, not user error.
    """
    known = _statuses(steps, statuses)
    never: set[str] = set()
    for name in order:
        if name in known:
            continue
        node = steps[name]
        parent = node.parent
        if parent is not None:
            if parent in never:
                never.add(name)
                continue
            if known.get(parent) == StepStatus.SUCCEEDED:
                if parent not in outcomes:
                    raise ValueError(f"condition step '{parent}' succeeded but its outcome was not given")
                if bool(outcomes[parent]) != node.branch:
                    never.add(name)
                    continue
        if any(dep in never for dep in node.upstream):
            never.add(name)

    running = tuple(name for name in steps if known.get(name) in _IN_FLIGHT)
    failed = tuple(name for name in steps if known.get(name) == StepStatus.FAILED)
    stopped = any(status == StepStatus.STOPPED for status in known.values())
    halting = stop_requested or bool(failed) or stopped
    ready: tuple[str, ...] = ()
    if not halting:
        ready = tuple(
            name
            for name, node in steps.items()
            if name not in known
            and name not in never
            and all(known.get(dep) == StepStatus.SUCCEEDED for dep in node.upstream)
        )
    finished = not running and not ready
    if not finished:
        status = "Stopping" if stop_requested else "Executing"
    elif failed:
        status = "Failed"
    elif stop_requested or stopped:
        status = "Stopped"
    else:
        status = "Succeeded"
    return Progress(
        ready=ready,
        running=running,
        failed=failed,
        never_run=frozenset(never),
        finished=finished,
        status=status,
    )


def _statuses(steps: Mapping[str, _Node], statuses: Mapping[str, str]) -> dict[str, StepStatus]:
    known: dict[str, StepStatus] = {}
    for name, status in statuses.items():
        if name not in steps:
            raise ValueError(f"status given for unknown step '{name}'")
        try:
            known[name] = StepStatus(status)
        except ValueError:
            valid = ", ".join(s.value for s in StepStatus)
            raise ValueError(f"step '{name}' has unknown status {status!r}; valid: {valid}") from None
    return known


def topological_order(steps: Mapping[str, _Node]) -> tuple[str, ...]:
    """Step names with every step after all of its upstream steps; ties keep definition order.

    Raises `ValueError` naming one cycle if there is one, as "A -> B -> A" where each step
    depends on the next.
    """
    order_names = list(steps)
    position = {name: i for i, name in enumerate(order_names)}
    sorter = graphlib.TopologicalSorter({name: step.upstream for name, step in steps.items()})
    try:
        sorter.prepare()
    except graphlib.CycleError as e:
        cycle = list(reversed(e.args[1]))  # graphlib lists each step before the one depending on it
        start = min(range(len(cycle) - 1), key=lambda i: position[cycle[i]])
        raise ValueError(" -> ".join([*cycle[start:-1], *cycle[: start + 1]])) from None
    order: list[str] = []
    ready: list[int] = []  # a heap of positions: always take the earliest-defined ready step
    while sorter.is_active():
        for name in sorter.get_ready():
            heapq.heappush(ready, position[name])
        name = order_names[heapq.heappop(ready)]
        order.append(name)
        sorter.done(name)
    return tuple(order)
