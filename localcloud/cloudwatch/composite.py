"""Composite alarms' rules: `ALARM("a") AND NOT OK(b) OR (TRUE)`, parsed and evaluated.

The grammar CloudWatch documents: the functions ALARM, OK and INSUFFICIENT_DATA of an alarm
name or ARN (quoted or not), the constants TRUE and FALSE, the operators AND, OR and NOT (NOT
binds tightest, then AND, then OR) and parentheses. A rule that is true puts the composite
alarm in ALARM, otherwise OK. Parsing is a small recursive descent over tokens; nothing is
executed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["RuleError", "children", "evaluate_rule"]

_TOKEN = re.compile(r'\s*(?:(?P<paren>[()])|(?P<state>ALARM|OK|INSUFFICIENT_DATA)\s*\(\s*(?:"(?P<quoted>[^"]+)"|'
                    r"(?P<bare>[^()\s\"]+))\s*\)|(?P<word>AND|OR|NOT|TRUE|FALSE))")


class RuleError(ValueError):
    """The rule is not valid; the message says where."""


@dataclass(frozen=True)
class _Token:
    kind: str
    value: str
    alarm: str = ""


def _tokens(rule: str) -> list[_Token]:
    found, at = [], 0
    while at < len(rule):
        if not rule[at:].strip():
            break
        match = _TOKEN.match(rule, at)
        if match is None:
            raise RuleError(f"AlarmRule: cannot read {rule[at:at + 30].strip()!r}")
        if match.group("paren"):
            found.append(_Token("paren", match.group("paren")))
        elif match.group("state"):
            found.append(_Token("state", match.group("state"), match.group("quoted") or match.group("bare")))
        else:
            found.append(_Token("word", match.group("word")))
        at = match.end()
    if not found:
        raise RuleError("AlarmRule is empty")
    return found


def _name(alarm: str) -> str:
    """An alarm named by ARN or by name -> its name."""
    return alarm.split(":alarm:", 1)[1] if ":alarm:" in alarm else alarm


def children(rule: str) -> set[str]:
    """The names of the alarms a rule reads."""
    return {_name(t.alarm) for t in _tokens(rule) if t.kind == "state"}


def evaluate_rule(rule: str, state_of: Callable[[str], str | None]) -> bool:
    """Whether the rule holds, given each child's state (None: no such alarm, which reads as no match)."""
    tokens = _tokens(rule)
    position = 0

    def peek() -> _Token | None:
        return tokens[position] if position < len(tokens) else None

    def take() -> _Token:
        nonlocal position
        if position >= len(tokens):
            raise RuleError("AlarmRule ends too early")
        position += 1
        return tokens[position - 1]

    def either() -> bool:
        value = both()
        while (token := peek()) is not None and token.value == "OR":
            take()
            value = both() or value
        return value

    def both() -> bool:
        value = negated()
        while (token := peek()) is not None and token.value == "AND":
            take()
            value = negated() and value
        return value

    def negated() -> bool:
        token = peek()
        if token is not None and token.value == "NOT":
            take()
            return not negated()
        return atom()

    def atom() -> bool:
        token = take()
        if token.kind == "state":
            return state_of(_name(token.alarm)) == token.value
        if token.value in ("TRUE", "FALSE"):
            return token.value == "TRUE"
        if token.value == "(":
            value = either()
            if take().value != ")":
                raise RuleError("AlarmRule: a parenthesis is not closed")
            return value
        raise RuleError(f"AlarmRule: unexpected {token.value}")

    value = either()
    if position != len(tokens):
        raise RuleError(f"AlarmRule: unexpected {tokens[position].value} after a complete rule")
    return value
