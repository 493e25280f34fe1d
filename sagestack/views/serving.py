"""The stack's endpoint (the console's endpoints page): variants and weights, the deployment in
progress, its traffic per minute and the requests it captured last.

Everything is read through the API: DescribeEndpoint for variants, the pending blue/green
deployment (its phase) and the deployment config (traffic routing, rollback alarms); CloudWatch
for the alarms' states and AWS/SageMaker's per-variant metrics; S3 for data capture, whose files
SageMaker writes under `<destination>/<endpoint>/<variant>/yyyy/mm/dd/hh/`, so the newest
requests are read from the current hour's folder (the one before when it is still empty) and
not by listing everything ever captured.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sagestack import registry
from sagestack.progress import deployment_line

CAPTURED = 10
"""Captured requests shown per variant (the newest)."""
WINDOW = timedelta(hours=3)
"""How far back the traffic charts look."""
METRICS = (("Invocations", "Sum"), ("Invocation5XXErrors", "Sum"), ("Invocation4XXErrors", "Sum"),
           ("ModelLatency", "Average"))


@dataclass
class Variant:
    name: str
    weight: float
    desired_weight: float | None
    instances: int | None
    status: str
    images: list[str]
    package: str = ""
    """The model package ARN the variant serves ("" for a model not made from a package)."""

    @property
    def version(self) -> str:
        return self.package.rsplit("/", 1)[-1] if self.package else ""


@dataclass
class Captured:
    when: str
    variant: str
    request: str
    response: str


@dataclass
class Traffic:
    variant: str
    metric: str
    times: list[datetime]
    values: list[float]


@dataclass
class EndpointView:
    name: str
    status: str
    config: str
    state: str
    """The CLI's line: the status and, while a deployment runs, its phase."""
    failure: str
    variants: list[Variant]
    deploying: str = ""
    """The new fleet's endpoint config while a blue/green deployment runs."""
    routing: str = ""
    """How the last deployment shifts traffic (all at once, a canary, linear steps)."""
    alarms: dict[str, str] = field(default_factory=dict)
    """The rollback alarms the deployment watches, with their states."""
    traffic: list[Traffic] = field(default_factory=list)
    captured: list[Captured] = field(default_factory=list)
    capture_uri: str = ""


def _routing(config: dict[str, Any]) -> str:
    policy = (config.get("BlueGreenUpdatePolicy") or {}).get("TrafficRoutingConfiguration") or {}
    kind = policy.get("Type")
    if not kind:
        return ""
    wait = policy.get("WaitIntervalInSeconds")
    step = policy.get("CanarySize") or policy.get("LinearStepSize") or {}
    size = f"{step.get('Value')} {str(step.get('Type', '')).lower().replace('_', ' ')}" if step else ""
    return ", ".join(p for p in (kind.replace("_", " ").lower(), size and f"step {size}",
                                 wait is not None and f"baking {wait} s") if p)


def read(client: Any, name: str) -> EndpointView:
    sagemaker, cloudwatch = client("sagemaker"), client("cloudwatch")
    described = sagemaker.describe_endpoint(EndpointName=name)
    variants = [Variant(name=str(v.get("VariantName")), weight=float(v.get("CurrentWeight") or 0),
                        desired_weight=v.get("DesiredWeight"), instances=v.get("CurrentInstanceCount"),
                        status=", ".join(str(s.get("Status")) for s in v.get("VariantStatus") or []) or "serving",
                        images=[str(i.get("SpecifiedImage") or i.get("ResolvedImage") or "")
                                for i in v.get("DeployedImages") or []])
                for v in described.get("ProductionVariants") or []]
    packages = registry.served_packages(sagemaker, described["EndpointConfigName"]) \
        if described.get("EndpointConfigName") else {}
    for variant in variants:
        variant.package = packages.get(variant.name, "")
    deployment = described.get("LastDeploymentConfig") or {}
    view = EndpointView(name=name, status=str(described["EndpointStatus"]),
                        config=str(described.get("EndpointConfigName") or ""), state=deployment_line(described),
                        failure=str(described.get("FailureReason") or ""), variants=variants,
                        deploying=str((described.get("PendingDeploymentSummary") or {}).get("EndpointConfigName")
                                      or ""), routing=_routing(deployment))
    alarms = [a["AlarmName"] for a in (deployment.get("AutoRollbackConfiguration") or {}).get("Alarms") or []]
    if alarms:
        found = cloudwatch.describe_alarms(AlarmNames=alarms)
        states = {a["AlarmName"]: a["StateValue"] for a in found["MetricAlarms"] + found["CompositeAlarms"]}
        view.alarms = {a: states.get(a, "missing") for a in alarms}
    view.traffic = _traffic(cloudwatch, name, [v.name for v in variants])
    capture = described.get("DataCaptureConfig") or {}
    if capture.get("EnableCapture") and capture.get("DestinationS3Uri"):
        view.capture_uri = str(capture["DestinationS3Uri"]).rstrip("/")
        view.captured = _captured(client("s3"), view.capture_uri, name, [v.name for v in variants])
    return view


def _traffic(cloudwatch: Any, endpoint: str, variants: list[str]) -> list[Traffic]:
    """Each variant's metrics per minute over the last WINDOW (one GetMetricData call)."""
    if not variants:
        return []
    queries, labels = [], []
    for v, variant in enumerate(variants):
        for m, (metric, stat) in enumerate(METRICS):
            queries.append({"Id": f"v{v}m{m}", "ReturnData": True, "MetricStat": {
                "Metric": {"Namespace": "AWS/SageMaker", "MetricName": metric, "Dimensions": [
                    {"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": variant}]},
                "Period": 60, "Stat": stat}})
            labels.append((variant, metric))
    now = datetime.now(UTC)
    answer = cloudwatch.get_metric_data(MetricDataQueries=queries, StartTime=now - WINDOW,
                                        EndTime=now + timedelta(minutes=1), ScanBy="TimestampAscending")
    found = {r["Id"]: r for r in answer["MetricDataResults"]}
    series = []
    for query, (variant, metric) in zip(queries, labels, strict=True):
        result = found.get(query["Id"]) or {}
        series.append(Traffic(variant, metric, list(result.get("Timestamps") or []),
                              [float(x) for x in result.get("Values") or []]))
    return series


def _payload(part: dict[str, Any]) -> str:
    data = str(part.get("data") or "")
    return f"({part.get('encoding')}, {len(data)} characters)" if part.get("encoding") == "BASE64" else data


def _captured(s3: Any, uri: str, endpoint: str, variants: list[str]) -> list[Captured]:
    """The newest captured requests of each variant: the newest files of the current (else last) hour."""
    bucket, _, base = uri.removeprefix("s3://").partition("/")
    now = datetime.now(UTC)
    found: list[Captured] = []
    for variant in variants:
        for hour in (now, now - timedelta(hours=1)):
            prefix = "/".join(p for p in (base.strip("/"), endpoint, variant, f"{hour:%Y/%m/%d/%H}") if p) + "/"
            keys = sorted(o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(
                Bucket=bucket, Prefix=prefix) for o in page.get("Contents") or [])
            if keys:
                break
        lines: list[str] = []
        for key in reversed(keys):
            body = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8", "replace")
            lines = body.splitlines() + lines
            if len(lines) >= CAPTURED:
                break
        for line in lines[-CAPTURED:]:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            data = record.get("captureData") or {}
            found.append(Captured(str((record.get("eventMetadata") or {}).get("inferenceTime", "")), variant,
                                  _payload(data.get("endpointInput") or {}), _payload(data.get("endpointOutput")
                                                                                      or {})))
    return sorted(found, key=lambda c: c.when, reverse=True)
