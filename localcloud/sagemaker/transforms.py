"""Batch transform jobs that really run: the model's serving container over S3 objects.

Like SageMaker, a transform job starts the model's container, sends each input object (or
its records, split by line and batched up to MaxPayloadInMB) to `POST /invocations`, and
writes what comes back to `<S3OutputPath>/<input key relative to the prefix>.out`.
"""

from __future__ import annotations

import http.client
import threading
from dataclasses import dataclass
from typing import Any

from localcloud import aws, settings
from localcloud.sagemaker.endpoints import DeployError, EndpointFleet, VariantServer


class TransformError(Exception):
    """The job fails with this message as its FailureReason."""


class TransformStopped(Exception):
    pass


@dataclass(frozen=True)
class Options:
    content_type: str
    accept: str
    split_lines: bool
    multi_record: bool
    max_payload: int
    assemble_lines: bool

    @classmethod
    def of(cls, request: dict[str, Any]) -> Options:
        unsupported = {k: v for k, v in (request.get("DataProcessing") or {}).items()
                       if v not in (None, "", "$", "None")}
        if unsupported:
            raise TransformError(f"ClientError: DataProcessing {unsupported} is not supported by localcloud")
        source = (request.get("TransformInput") or {}).get("DataSource", {}).get("S3DataSource", {})
        if source.get("S3DataType", "S3Prefix") != "S3Prefix":
            raise TransformError(f"ClientError: S3DataType {source.get('S3DataType')} is not supported by "
                                 f"localcloud; use S3Prefix")
        if (request.get("TransformInput") or {}).get("CompressionType", "None") not in ("None", None):
            raise TransformError("ClientError: compressed transform input is not supported by localcloud")
        inputs, outputs = request["TransformInput"], request["TransformOutput"]
        return cls(
            content_type=inputs.get("ContentType") or "application/octet-stream",
            accept=outputs.get("Accept") or "",
            split_lines=inputs.get("SplitType", "None") == "Line",
            multi_record=request.get("BatchStrategy") == "MultiRecord",
            max_payload=int(request.get("MaxPayloadInMB") or 6) * 1024 * 1024,
            assemble_lines=outputs.get("AssembleWith", "None") == "Line",
        )


def run_transform(fleet: EndpointFleet, name: str, request: dict[str, Any], stop: threading.Event) -> None:
    """Run one transform job to its end; raises TransformError, TransformStopped or DeployError."""
    options = Options.of(request)
    region = fleet.backend.region_name
    server = fleet.start_server(request["ModelName"], settings.resource_dir("transforms", name),
                                "/aws/sagemaker/TransformJobs", name, f"Transform job {name}",
                                request.get("Environment"))
    try:
        fleet.wait_ready(server)
        s3 = aws.client("s3", region)
        prefix_uri = request["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"]
        bucket, _, prefix = prefix_uri.removeprefix("s3://").partition("/")
        out_bucket, _, out_prefix = request["TransformOutput"]["S3OutputPath"].removeprefix("s3://").partition("/")
        keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
                for o in page.get("Contents", []) if not o["Key"].endswith("/")]
        if not keys:
            raise TransformError(f"ClientError: no input objects under {prefix_uri}")
        base = prefix if prefix.endswith("/") or prefix == "" else prefix.rsplit("/", 1)[0] + "/"
        for key in keys:
            if stop.is_set():
                raise TransformStopped()
            body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            answers = [_invoke(server, payload, options, key) for payload in _payloads(body, options)]
            joined = b"\n".join(a.rstrip(b"\n") for a in answers) + b"\n" if options.assemble_lines \
                else b"".join(answers)
            relative = key[len(base):] if key.startswith(base) else key.rsplit("/", 1)[-1]
            s3.put_object(Bucket=out_bucket, Key="/".join(p for p in (out_prefix.rstrip("/"), relative + ".out") if p),
                          Body=joined)
    finally:
        fleet.stop_server(server)


def _payloads(body: bytes, options: Options) -> list[bytes]:
    """The requests one object becomes: whole, one per line, or lines batched up to MaxPayloadInMB."""
    if not options.split_lines:
        return [body]
    records = [line for line in body.splitlines() if line.strip()]
    if not options.multi_record:
        return records
    payloads: list[bytes] = []
    current: list[bytes] = []
    size = 0
    for record in records:
        if current and size + len(record) + 1 > options.max_payload:
            payloads.append(b"\n".join(current))
            current, size = [], 0
        current.append(record)
        size += len(record) + 1
    if current:
        payloads.append(b"\n".join(current))
    return payloads


def _invoke(server: VariantServer, payload: bytes, options: Options, key: str) -> bytes:
    if len(payload) > options.max_payload:
        raise TransformError(f"ClientError: a record of {key} is {len(payload)} bytes, over MaxPayloadInMB")
    headers = {"Content-Type": options.content_type}
    if options.accept:
        headers["Accept"] = options.accept
    conn = http.client.HTTPConnection(server.host, server.port, timeout=65)
    try:
        conn.request("POST", "/invocations", body=payload, headers=headers)
        response = conn.getresponse()
        data = response.read()
    except OSError as e:
        raise TransformError(f"AlgorithmError: the model server did not answer for {key}: {e}") from None
    finally:
        conn.close()
    if response.status != 200:
        raise TransformError(f"ClientError: the model answered {response.status} for {key}: "
                             f"{data.decode('utf-8', 'replace')[:500]}")
    return data


__all__ = ["DeployError", "TransformError", "TransformStopped", "run_transform"]
