"""Deploys a model package the moment it is approved, through the stack that owns the endpoint.

The stack's EventBridge rule sends each "SageMaker Model Package State Change" event of its
model package group with ModelApprovalStatus Approved here. Which package the endpoint serves is
the stack's parameter, so deploying is a stack update with the package (and its digest and
baselines) as parameters and everything else as it was: CloudFormation then moves the endpoint
to the new model with the endpoint's own DeploymentConfig (a canary, bakes, rollback alarms),
and a rolled-back deployment rolls the stack back to the package still served.

The package deployed is the latest Approved one of the group, and only if the stack is not
already serving it: approving an older version again, or a burst of approvals, never moves the
endpoint backwards. Each invocation prints one JSON line saying what it did and why, which
`sagestack model approve` reads to follow the deployment.

Environment: STACK_NAME; PACKAGE_PARAMETER, DIGEST_PARAMETER, STATISTICS_PARAMETER,
CONSTRAINTS_PARAMETER, QUALITY_PARAMETER (the stack's parameter names); CLOUDFORMATION_ROLE_ARN
(optional: the role CloudFormation updates the stack with).
"""

from __future__ import annotations

import json
import os
from typing import Any

import boto3
from release import ReleaseError, baselines, model_digest


def _say(**fields: Any) -> dict[str, Any]:
    print(json.dumps(fields, sort_keys=True), flush=True)
    return fields


def _latest_approved(sagemaker: Any, group: str) -> str | None:
    listed = sagemaker.list_model_packages(ModelPackageGroupName=group, ModelApprovalStatus="Approved",
                                           SortBy="CreationTime", SortOrder="Descending", MaxResults=1)
    summaries = listed.get("ModelPackageSummaryList") or []
    return summaries[0]["ModelPackageArn"] if summaries else None


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    env = os.environ
    detail = event.get("detail") or {}
    arn, group = detail.get("ModelPackageArn"), detail.get("ModelPackageGroupName")
    if not arn or not group:
        return _say(outcome="ignored", reason="not a model package state change event")
    sagemaker, cloudformation = boto3.client("sagemaker"), boto3.client("cloudformation")
    package = sagemaker.describe_model_package(ModelPackageName=arn)
    if package.get("ModelApprovalStatus") != "Approved":
        return _say(package=arn, outcome="skipped", reason=f"it is {package.get('ModelApprovalStatus')} now")
    latest = _latest_approved(sagemaker, group)
    if latest != arn:
        return _say(package=arn, outcome="skipped", reason=f"a newer version is approved ({latest})")
    try:
        digest = model_digest(package)
        if digest is None:
            raise ReleaseError(f"model package {arn} records no model sha256")
    except ReleaseError as e:
        return _say(package=arn, outcome="refused", reason=str(e))
    stack = cloudformation.describe_stacks(StackName=env["STACK_NAME"])["Stacks"][0]
    current = {p["ParameterKey"]: p.get("ParameterValue", "") for p in stack.get("Parameters") or []}
    if current.get(env["PACKAGE_PARAMETER"]) == arn:
        return _say(package=arn, outcome="skipped", reason=f"stack {stack['StackName']} already serves it")
    found = baselines(package)
    wanted = {env["PACKAGE_PARAMETER"]: arn, env["DIGEST_PARAMETER"]: digest,
              env["STATISTICS_PARAMETER"]: found["statistics"], env["CONSTRAINTS_PARAMETER"]: found["constraints"],
              env["QUALITY_PARAMETER"]: found["quality"]}
    parameters = [{"ParameterKey": key, "ParameterValue": wanted[key]} if key in wanted
                  else {"ParameterKey": key, "UsePreviousValue": True} for key in current]
    update: dict[str, Any] = {"StackName": stack["StackName"], "UsePreviousTemplate": True, "Parameters": parameters,
                              "Capabilities": stack.get("Capabilities") or []}
    if env.get("CLOUDFORMATION_ROLE_ARN"):
        update["RoleARN"] = env["CLOUDFORMATION_ROLE_ARN"]
    cloudformation.update_stack(**update)  # a busy stack refuses: the error is this invocation's, in its log
    return _say(package=arn, outcome="deploying", stack=stack["StackName"],
                reason=f"stack {stack['StackName']} is updating its endpoint to it, guarded by its deployment config")
