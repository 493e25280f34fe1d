"""The report's plots as plotly.js figures ({"data": [...], "layout": {...}}), built from a Snapshot.

Figures are plain JSON handed to plotly.js in the page (charts.js draws every one it finds), so
Python needs no plotting library at run time and the page stays interactive (hover, zoom).
Colours mean the same everywhere: an alarm state's colour, a baseline's grey, a window's blue.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sagestack.views import pipeline_graph as graph_view
from sagestack.views.collect import FeatureDistribution, Monitor, PipelineRun, Snapshot
from sagestack.views.serving import EndpointView

STATE_COLOURS = {"ALARM": "#d62728", "OK": "#2ca02c", "INSUFFICIENT_DATA": "#bcbd22"}
BASELINE, WINDOW, THRESHOLD = "#9e9e9e", "#1f77b4", "#d62728"
METRIC_COLOURS = {"rmse": "#1f77b4", "mae": "#ff7f0e", "mse": "#9467bd", "r2": "#2ca02c"}
Figure = dict[str, Any]


def _layout(title: str, **extra: Any) -> dict[str, Any]:
    return {"title": {"text": title, "font": {"size": 14}}, "margin": {"l": 56, "r": 16, "t": 40, "b": 40},
            "height": 300, "legend": {"orientation": "h", "y": -0.2}, "paper_bgcolor": "white",
            "plot_bgcolor": "white", "xaxis": {"gridcolor": "#eee"}, "yaxis": {"gridcolor": "#eee"}, **extra}


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def _time_axis(times: list[datetime], least: timedelta = timedelta(minutes=15)) -> dict[str, Any]:
    """A time axis at least `least` wide, ending a minute after the last point: a first point alone is
    not drawn as a sliver of a millisecond."""
    end = max(times) + timedelta(minutes=1)
    return {"type": "date", "gridcolor": "#eee", "range": [_iso(min(min(times), end - least)), _iso(end)]}


def run_metrics(runs: list[PipelineRun]) -> Figure | None:
    """Test metrics of each pipeline run that evaluated a model, oldest first, labelled with its version."""
    scored = [r for r in reversed(runs) if r.metrics]
    if not scored:
        return None
    labels = [f"{r.id[:12]}" + (f" (v{r.version})" if r.version is not None else " (not registered)") for r in scored]
    data = [{"type": "bar", "name": name, "x": labels, "y": [r.metrics.get(name) for r in scored],
             "marker": {"color": METRIC_COLOURS[name]}} for name in ("rmse", "mae") if any(name in r.metrics
                                                                                           for r in scored)]
    data.append({"type": "scatter", "mode": "lines+markers", "name": "r2", "x": labels,
                 "y": [r.metrics.get("r2") for r in scored], "yaxis": "y2", "marker": {"color": METRIC_COLOURS["r2"]}})
    return {"data": data, "layout": _layout("Test metrics per pipeline run", barmode="group",
                                            yaxis={"title": {"text": "minutes"}, "gridcolor": "#eee"},
                                            yaxis2={"title": {"text": "r2"}, "overlaying": "y", "side": "right",
                                                    "range": [0, 1]})}


def drift_series(monitor: Monitor) -> Figure | None:
    """Each feature's drift distance per monitoring run, and the drift alarm's threshold."""
    series = [s for s in monitor.series if s.values]
    if not series:
        return None
    data = [{"type": "scatter", "mode": "lines+markers", "name": s.name.removeprefix("feature_baseline_drift_"),
             "x": [_iso(t) for t in s.times], "y": s.values} for s in series]
    return {"data": data, "layout": _layout("Drift distance per feature (Model Monitor's metric)",
                                            shapes=_threshold(monitor.threshold),
                                            xaxis=_time_axis([t for s in series for t in s.times]),
                                            yaxis={"title": {"text": "distance"}, "gridcolor": "#eee",
                                                   "rangemode": "tozero"})}


def quality_series(monitor: Monitor) -> Figure | None:
    """rmse, mae (minutes) and r2 per model-quality run, and the decay alarm's rmse threshold."""
    series = [s for s in monitor.series if s.values and s.name in ("rmse", "mae", "r2")]
    if not series:
        return None
    data = [{"type": "scatter", "mode": "lines+markers", "name": s.name, "x": [_iso(t) for t in s.times],
             "y": s.values, "marker": {"color": METRIC_COLOURS[s.name]}, **({"yaxis": "y2"} if s.name == "r2" else {})}
            for s in series]
    return {"data": data, "layout": _layout("Model quality against ground truth", shapes=_threshold(monitor.threshold),
                                            xaxis=_time_axis([t for s in series for t in s.times]),
                                            yaxis={"title": {"text": "minutes"}, "gridcolor": "#eee",
                                                   "rangemode": "tozero"},
                                            yaxis2={"title": {"text": "r2"}, "overlaying": "y", "side": "right"})}


def _threshold(value: float | None) -> list[dict[str, Any]]:
    if value is None:
        return []
    return [{"type": "line", "xref": "paper", "x0": 0, "x1": 1, "y0": value, "y1": value,
             "line": {"color": THRESHOLD, "dash": "dash", "width": 1.5}}]


def distribution(feature: FeatureDistribution) -> Figure:
    """A feature's histogram in the baseline and in the last monitored window, as shares of each."""

    def bars(name: str, buckets: list[Any], colour: str) -> dict[str, Any]:
        return {"type": "bar", "name": name, "x": [(b.lower + b.upper) / 2 for b in buckets],
                "width": [b.upper - b.lower for b in buckets], "y": [b.share for b in buckets],
                "marker": {"color": colour, "opacity": 0.55},
                "hovertemplate": "%{x:.3g}: %{y:.1%}<extra>" + name + "</extra>"}

    distance = "" if feature.distance is None else f" (drift {feature.distance:.3g})"
    return {"data": [bars("baseline", feature.baseline, BASELINE), bars("last window", feature.window, WINDOW)],
            "layout": _layout(f"{feature.name}{distance}", barmode="overlay", height=220,
                              margin={"l": 44, "r": 8, "t": 32, "b": 28}, showlegend=False,
                              yaxis={"tickformat": ".0%", "gridcolor": "#eee"})}


def alarm_timeline(snapshot: Snapshot) -> Figure | None:
    """Every state change of the stack's alarms: one row per alarm, a marker per change, coloured by state."""
    if not snapshot.timeline:
        return None
    names = sorted({c.alarm for c in snapshot.timeline})
    data = []
    for state, colour in STATE_COLOURS.items():
        changes = [c for c in snapshot.timeline if c.new == state]
        if changes:
            data.append({"type": "scatter", "mode": "markers", "name": state, "x": [_iso(c.when) for c in changes],
                         "y": [c.alarm for c in changes], "text": [c.reason[:200] for c in changes],
                         "hovertemplate": "%{y}<br>%{x}<br>%{text}<extra>" + state + "</extra>",
                         "marker": {"color": colour, "size": 12, "symbol": "square"}})
    return {"data": data, "layout": _layout("Alarm state changes", height=120 + 34 * len(names),
                                            margin={"l": 260, "r": 16, "t": 40, "b": 40},
                                            yaxis={"categoryorder": "array", "categoryarray": names,
                                                   "gridcolor": "#eee"})}


def pipeline_graph(snapshot: Snapshot) -> Figure | None:
    """The pipeline's definition as a graph, its steps coloured by the statuses of the execution shown."""
    if not snapshot.definition.get("Steps"):
        return None
    shown = snapshot.execution
    title = f"{snapshot.pipeline}: run {shown.id}, {shown.status}" if shown else snapshot.pipeline
    return graph_view.figure(graph_view.parse(snapshot.definition), shown.statuses if shown else {}, title)


def endpoint_traffic(view: EndpointView | None, metrics: tuple[str, ...], title: str, unit: str) -> Figure | None:
    """Per variant, `metrics` per minute (AWS/SageMaker), one line each."""
    if view is None:
        return None
    series = [t for t in view.traffic if t.metric in metrics and any(t.values)]  # no line of zeros
    if not series:
        return None
    data = [{"type": "scatter", "mode": "lines+markers", "name": f"{t.variant} {t.metric}",
             "x": [_iso(x) for x in t.times], "y": t.values} for t in series]
    return {"data": data, "layout": _layout(title, xaxis=_time_axis([x for t in series for x in t.times]),
                                            yaxis={"title": {"text": unit}, "gridcolor": "#eee",
                                                   "rangemode": "tozero"})}


def figures(snapshot: Snapshot) -> dict[str, Figure]:
    """Every figure of the report by the id of the element it is drawn into (absent: nothing to plot)."""
    found: dict[str, Figure | None] = {"run-metrics": run_metrics(snapshot.runs),
                                       "pipeline-graph": pipeline_graph(snapshot),
                                       "endpoint-invocations": endpoint_traffic(
                                           snapshot.serving, ("Invocations", "Invocation4XXErrors",
                                                              "Invocation5XXErrors"),
                                           "Invocations and errors per minute", "requests"),
                                       "endpoint-latency": endpoint_traffic(
                                           snapshot.serving, ("ModelLatency",), "Model latency (average per minute)",
                                           "microseconds"),
                                       "alarm-timeline": alarm_timeline(snapshot)}
    for n, monitor in enumerate(snapshot.monitors):
        if monitor.kind == "ModelQuality":
            found[f"monitor-{n}-series"] = quality_series(monitor)
        else:
            found[f"monitor-{n}-series"] = drift_series(monitor)
            for k, feature in enumerate(monitor.features):
                found[f"monitor-{n}-feature-{k}"] = distribution(feature)
    return {key: figure for key, figure in found.items() if figure is not None}
