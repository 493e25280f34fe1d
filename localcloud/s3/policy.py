"""Bucket policy decisions for a request: which statements apply, and whether one denies or allows.

moto evaluates bucket policies but treats a statement whose condition it cannot check as a Deny,
whatever its effect. CDK gives every bucket `enforce_ssl`'s statement, "deny s3:* when
aws:SecureTransport is false", so under moto such a bucket refuses every object write. Here a
statement applies only if its conditions hold for the request, as on AWS.

The request context localcloud knows: `aws:SecureTransport` is true (localcloud serves loopback
only, so a request never crosses a network; counting it as secure keeps SSL-only buckets usable).
A condition on any other key does not hold, so a statement depending on one does not apply: for
an emulator that enforces no identity policies, failing open on context it does not have is the
useful choice. Like moto, only statements for every principal (`*`) are considered.
"""

from __future__ import annotations

import json
import re
from enum import Enum
from typing import Any

__all__ = ["CONTEXT", "Decision", "decide"]

CONTEXT = {"aws:securetransport": "true"}


class Decision(Enum):
    ALLOW = "allow"
    DENY = "deny"
    NONE = "none"


def _matches(patterns: Any, value: str) -> bool:
    for pattern in patterns if isinstance(patterns, list) else [patterns]:
        if isinstance(pattern, str) and re.fullmatch(re.escape(pattern).replace(r"\*", ".*").replace(r"\?", "."),
                                                     value, re.IGNORECASE if pattern.startswith("s3:") else 0):
            return True
    return False


def _for_everyone(principal: Any) -> bool:
    return principal == "*" or (isinstance(principal, dict) and principal.get("AWS") in ("*", ["*"]))


def _condition_holds(operator: str, tests: Any) -> bool:
    if not isinstance(tests, dict):
        return False
    base = operator.removesuffix("IfExists")
    for key, expected in tests.items():
        actual = CONTEXT.get(str(key).lower())
        if actual is None:
            if operator.endswith("IfExists"):
                continue
            return False
        wanted = [str(v).lower() for v in (expected if isinstance(expected, list) else [expected])]
        if base in ("Bool", "StringEquals", "StringEqualsIgnoreCase"):
            held = actual.lower() in wanted
        elif base in ("StringNotEquals", "StringNotEqualsIgnoreCase"):
            held = actual.lower() not in wanted
        elif base == "StringLike":
            held = any(_matches(w, actual.lower()) for w in wanted)
        elif base == "StringNotLike":
            held = not any(_matches(w, actual.lower()) for w in wanted)
        else:
            return False
        if not held:
            return False
    return True


def decide(policy_text: str | bytes, action: str, resource: str) -> Decision:
    """Deny if an applicable statement denies, else allow if one allows, else no decision."""
    try:
        document = json.loads(policy_text)
    except (ValueError, TypeError):
        return Decision.NONE
    statements = document.get("Statement", []) if isinstance(document, dict) else []
    if isinstance(statements, dict):
        statements = [statements]
    allowed = False
    for statement in statements:
        if not isinstance(statement, dict) or not _for_everyone(statement.get("Principal")):
            continue
        if "Action" in statement and not _matches(statement["Action"], action):
            continue
        if "NotAction" in statement and _matches(statement["NotAction"], action):
            continue
        if "Resource" in statement and not _matches(statement["Resource"], resource):
            continue
        if "NotResource" in statement and _matches(statement["NotResource"], resource):
            continue
        conditions = statement.get("Condition") or {}
        if not all(_condition_holds(op, tests) for op, tests in conditions.items()):
            continue
        if statement.get("Effect") == "Deny":
            return Decision.DENY
        allowed = allowed or statement.get("Effect") == "Allow"
    return Decision.ALLOW if allowed else Decision.NONE
