"""`python -m pipelines --print-definition`: the taxi pipeline's definition JSON on stdout.

Why: humans read it, CI diffs it (same sources + same options = same bytes, so any change
in a pull request shows up as a definition diff), and scripts pipe it into
`aws sagemaker create-pipeline --pipeline-definition file:///dev/stdin`. Nothing is
uploaded and no AWS call is made; SDK log lines go to stderr.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import warnings

from pipelines.code_bundle import build_code_bundle
from pipelines.config import PipelineConfig
from pipelines.definition import definition_json

EXAMPLE_ROLE = "arn:aws:iam::123456789012:role/SageMakerExecution"
EXAMPLE_BUCKET = "sagestack-artifacts"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m pipelines", description=__doc__.splitlines()[0])
    parser.add_argument("--print-definition", action="store_true", help="print the definition JSON")
    parser.add_argument("--print-code-keys", action="store_true", help="print the code bundle's S3 keys by role")
    parser.add_argument("--role-arn", default=EXAMPLE_ROLE)
    parser.add_argument("--bucket", default=EXAMPLE_BUCKET)
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--pipeline-name", default=PipelineConfig.pipeline_name)
    parser.add_argument("--prefix", default=PipelineConfig.prefix)
    parser.add_argument("--model-package-group-name", default=PipelineConfig.model_package_group_name)
    parser.add_argument("--image-uri", default="", help="default: the sklearn 1.9-0 framework image of the region")
    parser.add_argument("--rmse-threshold", type=float, default=PipelineConfig.rmse_threshold)
    parser.add_argument("--indent", type=int, default=2, help="0 prints the exact compact bytes deployed")
    args = parser.parse_args(argv)
    if not (args.print_definition or args.print_code_keys):
        parser.error("nothing to do: give --print-definition and/or --print-code-keys")
    return args


class _SdkChatter(logging.Filter):
    """Drops the SDK's info/warning lines about what it leaves out of a definition (we mean it)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.name.startswith("sagemaker") or record.levelno >= logging.ERROR


def quiet_sdk() -> None:
    """stderr shows warnings and errors, but not the SDK's notes on building a definition."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(logging.WARNING)
    handler.addFilter(_SdkChatter())
    logging.basicConfig(handlers=[handler], level=logging.WARNING, force=True)
    warnings.filterwarnings("ignore", message="Running within a PipelineSession")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        config = PipelineConfig(
            role_arn=args.role_arn,
            bucket=args.bucket,
            region=args.region,
            pipeline_name=args.pipeline_name,
            prefix=args.prefix,
            model_package_group_name=args.model_package_group_name,
            image_uri=args.image_uri,
            rmse_threshold=args.rmse_threshold,
        )
        bundle = build_code_bundle(config.bucket, config.code_prefix)
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.print_code_keys:
        print(json.dumps({role: bundle.uri(role) for role in bundle.roles}, indent=2))
    if args.print_definition:
        text = definition_json(config, bundle)
        print(json.dumps(json.loads(text), indent=args.indent, sort_keys=True) if args.indent else text)
    return 0


if __name__ == "__main__":
    quiet_sdk()  # only as a program: a library caller keeps its own logging set-up
    sys.exit(main())
