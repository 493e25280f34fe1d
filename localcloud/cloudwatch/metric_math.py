"""Metric math for alarms: the expressions an alarm's `Metrics` query list can return.

Each metric query is a time series (period start -> value); an expression combines them
period by period. Supported: numbers, query ids, + - * / ^ and parentheses, comparison
operators (1 or 0), and the functions alarms use most: ABS, CEIL, FLOOR, MIN/MAX/SUM/AVG of
several series or an array of them (`MAX([m1, m2])`, per period), FILL(series, value),
IF(condition, a, b). Parsed with Python's
`ast` and evaluated by walking the tree: nothing is ever executed.
"""

from __future__ import annotations

import ast
import math
import operator
import re
from collections.abc import Callable

__all__ = ["MetricMathError", "evaluate_expression"]

Series = dict[float, float]
Value = Series | float


class MetricMathError(ValueError):
    """The expression cannot be evaluated; the message says why."""


_BINARY: dict[type, Callable[[float, float], float]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.Pow: operator.pow,
}
_COMPARE: dict[type, Callable[[float, float], bool]] = {
    ast.Gt: operator.gt, ast.GtE: operator.ge, ast.Lt: operator.lt, ast.LtE: operator.le, ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
}
_ID = re.compile(r"[a-z][A-Za-z0-9_]*")


def _average(values: tuple[float, ...]) -> float:
    return math.fsum(values) / len(values)


_UNARY: dict[str, Callable[[float], float]] = {
    "ABS": abs, "CEIL": lambda a: float(math.ceil(a)), "FLOOR": lambda a: float(math.floor(a))}
_REDUCERS: dict[str, Callable[[tuple[float, ...]], float]] = {
    "MIN": min, "MAX": max, "SUM": math.fsum, "AVG": _average}


def _combine(args: list[Value], fn: Callable[..., float | None]) -> Value:
    """Apply `fn` per period across series (periods present in all of them) and scalars."""
    series = [a for a in args if isinstance(a, dict)]
    if not series:
        result = fn(*args)
        return math.nan if result is None else result
    keys = set.intersection(*(set(s) for s in series))
    out: Series = {}
    for key in sorted(keys):
        value = fn(*(a[key] if isinstance(a, dict) else a for a in args))
        if value is not None and math.isfinite(value):
            out[key] = value
    return out


def _divide(a: float, b: float) -> float | None:
    return a / b if b else None


class _Evaluator:
    def __init__(self, expressions: dict[str, str], inputs: dict[str, Series]):
        self.expressions, self.inputs = expressions, inputs
        self.resolving: set[str] = set()
        self.periods = sorted(set().union(*inputs.values())) if inputs else []

    def series(self, query_id: str) -> Value:
        if query_id in self.inputs:
            return self.inputs[query_id]
        if query_id not in self.expressions:
            raise MetricMathError(f"the expression names {query_id}, which is not a query of this alarm")
        if query_id in self.resolving:
            raise MetricMathError(f"the expression of {query_id} refers to itself")
        self.resolving.add(query_id)
        try:
            tree = ast.parse(self.expressions[query_id].replace("^", "**"), mode="eval")
        except SyntaxError as e:
            raise MetricMathError(f"{query_id}: {self.expressions[query_id]!r} is not a valid expression") from e
        value = self.node(tree.body)
        self.resolving.discard(query_id)
        return value

    def node(self, node: ast.AST) -> Value:
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
            return float(node.value)
        if isinstance(node, ast.Name) and _ID.fullmatch(node.id):
            return self.series(node.id)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return _combine([self.node(node.operand)], lambda a: -a)
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            op = _divide if isinstance(node.op, ast.Div) else _BINARY[type(node.op)]
            return _combine([self.node(node.left), self.node(node.right)], op)
        if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in _COMPARE:
            compare = _COMPARE[type(node.ops[0])]
            return _combine([self.node(node.left), self.node(node.comparators[0])],
                            lambda a, b: 1.0 if compare(a, b) else 0.0)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            args: list[Value] = []
            for arg in node.args:  # MAX([m1, m2]): an array of series is its members
                if isinstance(arg, ast.List):
                    args.extend(self.node(a) for a in arg.elts)
                else:
                    args.append(self.node(arg))
            return self.call(node.func.id, args)
        raise MetricMathError(f"unsupported metric math: {ast.unparse(node)}")

    def call(self, name: str, args: list[Value]) -> Value:
        if name in _UNARY and len(args) == 1:
            return _combine(args, _UNARY[name])
        if name in _REDUCERS and args:
            reduce = _REDUCERS[name]
            return _combine(args, lambda *v: reduce(v))
        if name == "FILL" and len(args) == 2 and isinstance(args[0], dict) and not isinstance(args[1], dict):
            filled = dict(args[0])
            for period in self.periods:
                filled.setdefault(period, args[1])
            return filled
        if name == "IF" and len(args) == 3:
            return _combine(args, lambda c, a, b: a if c else b)
        raise MetricMathError(f"unsupported metric math function {name} with {len(args)} argument(s)")


def evaluate_expression(query_id: str, expressions: dict[str, str], inputs: dict[str, Series]) -> Series:
    """The per-period values of query `query_id` (an expression over `inputs` and other expressions)."""
    value = _Evaluator(expressions, inputs).series(query_id)
    if not isinstance(value, dict):
        raise MetricMathError(f"the expression of {query_id} is a constant, not a time series")
    return value
