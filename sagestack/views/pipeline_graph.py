"""A pipeline's definition as a graph, coloured by an execution's step statuses (the console's pipeline view).

The definition is SageMaker's JSON (`DescribePipeline`'s PipelineDefinition): steps, each with its
Arguments and DependsOn, Condition steps holding their branches in IfSteps and ElseSteps. A step
depends on another when it names it in DependsOn or reads one of its properties
(`{"Get": "Steps.Train.ModelArtifacts..."}`, as the SDK writes references); a Condition step leads
to each step of its branches, labelled "if" or "else". Steps are laid out in columns by their
longest path from a step without dependencies, so the flow reads left to right, and drawn as a
plotly.js figure: edges as lines, steps as markers in their status's colour.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

STATUS_COLOURS = {"Succeeded": "#2ca02c", "Failed": "#d62728", "Executing": "#1f77b4", "Starting": "#1f77b4",
                  "Stopping": "#ff7f0e", "Stopped": "#ff7f0e"}
NOT_RUN = "#c7c7c7"
_REFERENCE = re.compile(r"^Steps\.([A-Za-z0-9-]+)\.")


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    kind: str
    """"depends" (DependsOn or a property reference), "if" or "else" (a Condition step's branch)."""


@dataclass
class Graph:
    steps: dict[str, str] = field(default_factory=dict)
    """Step name -> its type, in definition order."""
    edges: list[Edge] = field(default_factory=list)


def _references(value: Any) -> set[str]:
    """The steps whose properties `value` reads ({"Get": "Steps.<name>. ..."}), at any depth."""
    found: set[str] = set()
    if isinstance(value, dict):
        target = value.get("Get")
        if isinstance(target, str) and (match := _REFERENCE.match(target)):
            found.add(match.group(1))
        for item in value.values():
            found |= _references(item)
    elif isinstance(value, list):
        for item in value:
            found |= _references(item)
    return found


def parse(definition: dict[str, Any]) -> Graph:
    """The graph of a pipeline definition (nested branch steps included)."""
    graph = Graph()
    pending: list[dict[str, Any]] = list(definition.get("Steps") or [])
    while pending:
        step = pending.pop(0)
        name, arguments = str(step.get("Name")), step.get("Arguments") or {}
        graph.steps[name] = str(step.get("Type", "?"))
        for dependency in step.get("DependsOn") or []:
            graph.edges.append(Edge(str(dependency), name, "depends"))
        branches = (("if", arguments.get("IfSteps") or []), ("else", arguments.get("ElseSteps") or [])) \
            if step.get("Type") == "Condition" else ()
        for kind, branch in branches:
            for inner in branch:
                graph.edges.append(Edge(name, str(inner.get("Name")), kind))
                pending.append(inner)
        readable = {k: v for k, v in arguments.items() if k not in ("IfSteps", "ElseSteps")}
        for source in sorted(_references(readable) - {name}):
            graph.edges.append(Edge(source, name, "depends"))
    known = set(graph.steps)
    graph.edges = [e for e in dict.fromkeys(graph.edges) if e.source in known and e.target in known]
    return graph


def columns(graph: Graph) -> dict[str, int]:
    """Each step's column: the length of the longest path reaching it (cycles, which SageMaker refuses, stop)."""
    column = {name: 0 for name in graph.steps}
    for _ in range(len(graph.steps)):
        changed = False
        for edge in graph.edges:
            if column[edge.target] < column[edge.source] + 1:
                column[edge.target] = column[edge.source] + 1
                changed = True
        if not changed:
            break
    return column


def figure(graph: Graph, statuses: dict[str, str], title: str) -> dict[str, Any]:
    """The graph as a plotly.js figure; `statuses` maps a step to its status in the execution shown."""
    column = columns(graph)
    rows: dict[int, int] = {}
    where: dict[str, tuple[int, int]] = {}
    for name in graph.steps:
        row = rows.get(column[name], 0)
        rows[column[name]] = row + 1
        where[name] = (column[name], -row)
    data: list[dict[str, Any]] = []
    for kind, dash in (("depends", "solid"), ("if", "dot"), ("else", "dash")):
        xs: list[float | None] = []
        ys: list[float | None] = []
        for edge in (e for e in graph.edges if e.kind == kind):
            (x0, y0), (x1, y1) = where[edge.source], where[edge.target]
            xs += [x0, x1, None]
            ys += [y0, y1, None]
        if xs:
            data.append({"type": "scatter", "mode": "lines", "name": kind, "x": xs, "y": ys, "hoverinfo": "skip",
                         "line": {"color": "#888", "dash": dash}})
    names = list(graph.steps)
    data.append({"type": "scatter", "mode": "markers+text", "name": "steps", "x": [where[n][0] for n in names],
                 "y": [where[n][1] for n in names], "text": names, "textposition": "top center",
                 "customdata": [statuses.get(n, "not run") for n in names],
                 "hovertemplate": "%{text}: %{customdata}<extra></extra>",
                 "marker": {"size": 22, "line": {"color": "#333", "width": 1},
                            "color": [STATUS_COLOURS.get(statuses.get(n, ""), NOT_RUN) for n in names]}})
    deepest, widest = max(rows.values(), default=1), max(column.values(), default=0)
    axis = {"visible": False, "zeroline": False, "fixedrange": True}
    # room around the outer steps for their names (drawn above them) and the markers themselves
    return {"data": data, "layout": {"title": {"text": title, "font": {"size": 14}}, "showlegend": False,
                                     "height": 140 + 80 * deepest,
                                     "xaxis": {**axis, "range": [-0.4, widest + 0.4]},
                                     "yaxis": {**axis, "range": [-(deepest - 1) - 0.4, 0.6]},
                                     "margin": {"l": 24, "r": 24, "t": 48, "b": 24},
                                     "paper_bgcolor": "white", "plot_bgcolor": "white"}}
