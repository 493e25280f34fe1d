"""What the console may change, through the AWS API: a model version's approval, a pipeline execution
started, stopped or retried. Bad input is refused with a sentence (ActionError), before AWS sees it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sagestack import registry
from sagestack.views.execution_detail import EXECUTION_ID

COMMENT_LIMIT = 1024
"""ApprovalDescription's limit in SageMaker's API."""


class ActionError(ValueError):
    """A request the console refuses, with the sentence shown on the page."""


@dataclass
class Actions:
    client: Callable[[str], Any]
    pipeline: str
    group: str

    @property
    def _sm(self) -> Any:
        return self.client("sagemaker")

    def decide(self, version: str, status: str, comment: str) -> str:
        """Set version `version`'s approval to `status`, with `comment`; its ARN."""
        if not version.isdigit():
            raise ActionError("approve or reject a model version by its number")
        if len(comment) > COMMENT_LIMIT:
            raise ActionError(f"a comment has at most {COMMENT_LIMIT} characters")
        found = [p["ModelPackageArn"] for p in registry.packages(self._sm, self.group)
                 if str(p.get("ModelPackageVersion")) == version]
        if not found:
            raise ActionError(f"model package group {self.group} has no version {version}")
        kwargs = {"ModelPackageArn": found[0], "ModelApprovalStatus": status}
        if comment:
            kwargs["ApprovalDescription"] = comment
        self._sm.update_model_package(**kwargs)
        return str(found[0])

    def start(self, values: dict[str, str]) -> str:
        """Start an execution with the pipeline's declared parameters set to `values` (others: defaults); its id."""
        described = self._sm.describe_pipeline(PipelineName=self.pipeline)
        declared = {p["Name"]: p for p in json.loads(described.get("PipelineDefinition") or "{}").get(
            "Parameters") or []}
        unknown = sorted(set(values) - set(declared))
        if unknown:
            raise ActionError(f"pipeline {self.pipeline} has no parameter {', '.join(unknown)}")
        changed = [{"Name": name, "Value": value} for name, value in values.items()
                   if value != str(declared[name].get("DefaultValue", ""))]
        for item in changed:
            kind = declared[item["Name"]].get("Type", "String")
            try:
                {"Integer": int, "Float": float}.get(kind, str)(item["Value"])
            except ValueError:
                raise ActionError(f"parameter {item['Name']} is a {kind}, not {item['Value']!r}") from None
        started = self._sm.start_pipeline_execution(
            PipelineName=self.pipeline, PipelineParameters=changed,
            PipelineExecutionDescription="started from sagestack console")
        return str(started["PipelineExecutionArn"]).rsplit("/", 1)[-1]

    def _arn(self, execution: str) -> str:
        if not EXECUTION_ID.fullmatch(execution):
            raise ActionError(f"{execution!r} is not a pipeline execution id")
        arn = self._sm.describe_pipeline(PipelineName=self.pipeline)["PipelineArn"]
        return f"{arn}/execution/{execution}"

    def stop(self, execution: str) -> None:
        self._sm.stop_pipeline_execution(PipelineExecutionArn=self._arn(execution))

    def retry(self, execution: str) -> None:
        self._sm.retry_pipeline_execution(PipelineExecutionArn=self._arn(execution))
