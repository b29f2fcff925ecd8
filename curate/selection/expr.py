"""Safe filter expressions over score columns, e.g. ``reward > 0.5 and turns <= 8``.

Recipes come from files people share, so a filter must never run code: the text is parsed with
:mod:`ast` and only an allow-listed subset (comparisons, ``and``/``or``/``not``, arithmetic,
``in [...]`` and a few functions) is evaluated, vectorized over whole columns. Nulls follow SQL's
three-valued logic: a null never passes a comparison, and ``not`` of an unknown stays unknown.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from curate.errors import UserError

_CMP: dict[type, Callable[[Any, Any], Any]] = {
    ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
    ast.Eq: operator.eq, ast.NotEq: operator.ne,
}
_ARITH: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow,
}
FUNCTIONS = ("abs", "len", "log", "min", "max", "isnull", "notnull")
_CONSTANTS = (int, float, str, bool, type(None))
MAX_DEPTH = 50  # nesting of any node kind: deeper trees overflow the evaluator's recursion
MAX_SHOWN = 80  # characters of a filter echoed back in an error


def _show(text: str) -> str:
    """``text`` for an error message, cut short: a 10,000-character filter is not echoed back whole."""
    return repr(text if len(text) <= MAX_SHOWN else text[:MAX_SHOWN] + "...")


def _fail(expr: str, node: ast.AST | None, why: str) -> UserError:
    part = ast.get_source_segment(expr, node) if node is not None else None
    where = f" in {_show(part)}" if part and part != expr else ""
    return UserError(f"filter {_show(expr)}: {why}{where}")


@dataclass(frozen=True)
class Expr:
    """A parsed, validated filter; ``conjuncts`` are the top-level ``and`` parts, checked in order
    so a rejected row can name the first part it failed."""

    text: str
    tree: ast.Expression

    @cached_property
    def columns(self) -> list[str]:
        names = [n.id for n in ast.walk(self.tree) if isinstance(n, ast.Name)]
        called = {n.func.id for n in ast.walk(self.tree) if isinstance(n, ast.Call)}
        return sorted(set(names) - called)

    @property
    def conjuncts(self) -> list[tuple[str, ast.AST]]:
        body = self.tree.body
        parts = body.values if isinstance(body, ast.BoolOp) and isinstance(body.op, ast.And) else [body]
        return [(ast.get_source_segment(self.text, p) or self.text, p) for p in parts]

    def mask(self, df: pd.DataFrame) -> np.ndarray:
        """Rows that pass (nulls fail)."""
        return _truth(_Eval(self.text, df).cond(self.tree.body))

    def conjunct_passes(self, df: pd.DataFrame) -> list[tuple[str, np.ndarray]]:
        """Per top-level ``and`` part, in order: its text and the rows that pass it (nulls fail)."""
        ev = _Eval(self.text, df)
        return [(text, _truth(ev.cond(node))) for text, node in self.conjuncts]

    def first_failure(self, df: pd.DataFrame) -> pd.Series:
        """Per row: the text of the first conjunct it fails, or None when the row passes."""
        return first_failures(self.conjunct_passes(df), df.index)


def first_failures(passes: list[tuple[str, np.ndarray]], index: pd.Index) -> pd.Series:
    """Per row: the text of the first part in ``passes`` that the row fails, or None."""
    out = pd.Series([None] * len(index), index=index, dtype=object)
    open_ = np.ones(len(index), dtype=bool)
    for text, ok in passes:
        fails = ~ok & open_
        out[fails] = text
        open_ &= ~fails
    return out


def parse_filter(text: str) -> Expr:
    """Parse and validate ``text``; raises :class:`UserError` naming the offending part."""
    if not isinstance(text, str) or not text.strip():
        raise UserError(f"filter must be a non-empty expression string, got {text!r}")
    text = " ".join(text.split())  # YAML folded strings may carry newlines
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as e:
        hint = " (use == to compare)" if "=" in text and "==" not in text and "!=" not in text else ""
        col = f" at column {e.offset}" if e.offset else ""
        raise UserError(f"filter {_show(text)}: cannot parse{col}: {e.msg}{hint}") from None
    except (RecursionError, MemoryError, ValueError) as e:  # 5000 nested 'not', a 5000-digit number
        why = str(e) if isinstance(e, ValueError) else f"nested more than {MAX_DEPTH} levels deep"
        raise UserError(f"filter {_show(text)}: {why}") from None
    _check_depth(text, tree)
    for node in ast.walk(tree):
        _check_node(text, node)
    _fold(text, tree.body)
    return Expr(text, tree)


def _check_depth(text: str, tree: ast.AST) -> None:
    """Refuse trees nested deeper than :data:`MAX_DEPTH` (iteratively: the check itself must not overflow)."""
    stack = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise _fail(text, None, f"nested more than {MAX_DEPTH} levels deep; simplify it")
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))


def _fold(text: str, node: ast.AST) -> float | None:
    """The value of a constant-only arithmetic part (as a float), None where a column is involved;
    refuses a part that overflows or divides by zero now, so ``9 ** 9 ** 9`` cannot hang selection."""
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, int | float):
            return None
        try:
            return float(node.value)
        except OverflowError:
            raise _fail(text, node, "number too large") from None
    operands = [node.left, node.right] if isinstance(node, ast.BinOp) else [node.operand] \
        if isinstance(node, ast.UnaryOp) else list(ast.iter_child_nodes(node))
    values = [_fold(text, c) for c in operands]
    if not isinstance(node, ast.BinOp | ast.UnaryOp) or any(v is None for v in values) \
            or isinstance(node.op, ast.Not):
        return None
    try:
        if isinstance(node, ast.UnaryOp):
            value = -values[0] if isinstance(node.op, ast.USub) else values[0]
        else:
            value = _ARITH[type(node.op)](values[0], values[1])
    except OverflowError:
        raise _fail(text, node, "constant arithmetic is too large") from None
    except ZeroDivisionError:
        raise _fail(text, node, "constant arithmetic divides by zero") from None
    if not isinstance(value, float) or not np.isfinite(value):
        raise _fail(text, node, "constant arithmetic gives no finite number")
    return value


def _check_node(text: str, node: ast.AST) -> None:
    ok = (
        ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.USub, ast.UAdd,
        ast.BinOp, ast.Compare, ast.In, ast.NotIn, ast.Name, ast.Load, ast.List, ast.Tuple, ast.Set,
        *_CMP, *_ARITH,
    )
    if isinstance(node, ast.Attribute):
        raise _fail(text, node, "attribute access is not allowed")
    if isinstance(node, ast.Subscript):
        raise _fail(text, node, "indexing is not allowed")
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
            raise _fail(text, node, f"only these functions may be called: {', '.join(FUNCTIONS)}")
        if node.keywords:
            raise _fail(text, node, "keyword arguments are not allowed")
        return
    if isinstance(node, ast.Constant):
        if not isinstance(node.value, _CONSTANTS):
            raise _fail(text, node, f"constant of type {type(node.value).__name__} is not allowed")
        return
    if isinstance(node, ast.Name) and node.id.startswith("_"):
        raise _fail(text, node, "names starting with '_' are not allowed")
    if not isinstance(node, ok):
        raise _fail(text, node, f"{type(node).__name__} is not allowed in a filter")


def _truth(cond: pd.Series) -> np.ndarray:
    return cond.fillna(False).to_numpy(dtype=bool)


class _Eval:
    """Evaluates validated nodes to pandas Series (nullable 'boolean' for conditions)."""

    def __init__(self, text: str, df: pd.DataFrame):
        self.text, self.df = text, df

    def visit(self, node: ast.AST) -> Any:
        return getattr(self, f"_{type(node).__name__}")(node)

    # --- leaves ---------------------------------------------------------------------------
    def _Constant(self, node: ast.Constant) -> Any:
        """Numbers as floats: Python's exact integers would make ``9 ** 9 ** 9`` run for hours."""
        v = node.value
        return float(v) if isinstance(v, int) and not isinstance(v, bool) else v

    def _Name(self, node: ast.Name) -> pd.Series:
        if node.id not in self.df.columns:
            cols = ", ".join(map(str, self.df.columns))
            raise UserError(f"filter {_show(self.text)}: unknown column {node.id!r}; available: {cols}")
        s = self.df[node.id]
        if pd.api.types.is_bool_dtype(s.dtype):
            return s.astype("boolean")
        if s.dtype == object:
            non_null = s.dropna()
            if len(non_null) and non_null.map(lambda v: isinstance(v, bool | np.bool_)).all():
                return s.astype("boolean")
        return s

    def _seq(self, node: ast.List | ast.Tuple | ast.Set) -> list:
        vals = [self.visit(e) for e in node.elts]
        if any(isinstance(v, pd.Series) for v in vals):
            raise _fail(self.text, node, "a list after 'in' must hold constants, not columns")
        return vals

    _List = _Tuple = _Set = _seq

    # --- logic ----------------------------------------------------------------------------
    def cond(self, node: ast.AST) -> pd.Series:
        v = self.visit(node)
        if isinstance(v, pd.Series) and v.dtype == "boolean":
            return v
        if isinstance(v, pd.Series) and pd.api.types.is_numeric_dtype(v.dtype):
            return (v != 0).astype("boolean").mask(v.isna())
        raise _fail(self.text, node, "is not a true/false condition; compare it, e.g. 'x > 0'")

    def _BoolOp(self, node: ast.BoolOp) -> pd.Series:
        out = self.cond(node.values[0])
        for v in node.values[1:]:
            out = (out & self.cond(v)) if isinstance(node.op, ast.And) else (out | self.cond(v))
        return out

    def _UnaryOp(self, node: ast.UnaryOp) -> Any:
        if isinstance(node.op, ast.Not):
            return ~self.cond(node.operand)
        v = self._num(node.operand, node)
        return -v if isinstance(node.op, ast.USub) else v

    # --- arithmetic -----------------------------------------------------------------------
    def _num(self, child: ast.AST, parent: ast.AST) -> Any:
        v = self.visit(child)
        if isinstance(v, pd.Series):
            if v.dtype == "boolean" or pd.api.types.is_bool_dtype(v.dtype):
                return v.astype("Float64").astype(float)
            if not pd.api.types.is_numeric_dtype(v.dtype):
                raise _fail(self.text, parent, f"{ast.get_source_segment(self.text, child)!r} is not numeric")
            return v.astype(float)
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise _fail(self.text, parent, f"{v!r} is not a number")
        return v

    def _BinOp(self, node: ast.BinOp) -> Any:
        a, b = self._num(node.left, node), self._num(node.right, node)
        with np.errstate(all="ignore"):
            out = _ARITH[type(node.op)](a, b)
        if isinstance(out, pd.Series):
            out = out.replace([np.inf, -np.inf], np.nan)  # x/0 is unknown, not infinitely good
        return out

    def _Call(self, node: ast.Call) -> Any:
        name, args = node.func.id, node.args
        if name in ("isnull", "notnull", "len", "abs", "log") and len(args) != 1:
            raise _fail(self.text, node, f"{name}() takes one argument")
        if name in ("isnull", "notnull"):
            v = self.visit(args[0])
            if not isinstance(v, pd.Series):
                raise _fail(self.text, node, f"{name}() takes a column")
            return (v.isna() if name == "isnull" else v.notna()).astype("boolean")
        if name == "len":
            v = self.visit(args[0])
            if not isinstance(v, pd.Series):
                raise _fail(self.text, node, "len() takes a column")
            return v.map(lambda x: len(x) if x is not None and not _isna(x) else np.nan).astype(float)
        if name == "abs":
            return abs(self._num(args[0], node))
        if name == "log":
            with np.errstate(all="ignore"):
                v = np.log(self._num(args[0], node))
            return v.replace([np.inf, -np.inf], np.nan) if isinstance(v, pd.Series) else v
        if len(args) < 2:
            raise _fail(self.text, node, f"{name}() takes two or more arguments")
        vals = [self._num(a, node) for a in args]
        frame = pd.concat([pd.Series(v, index=self.df.index, dtype=float) for v in vals], axis=1)
        return frame.min(axis=1, skipna=False) if name == "min" else frame.max(axis=1, skipna=False)

    # --- comparisons ----------------------------------------------------------------------
    def _Compare(self, node: ast.Compare) -> pd.Series:
        out: pd.Series | None = None
        left = self.visit(node.left)
        for op, right_node in zip(node.ops, node.comparators):
            right = self.visit(right_node)
            part = self._compare(op, left, right, node)
            out = part if out is None else out & part
            left = right
        assert out is not None
        return out

    def _compare(self, op: ast.cmpop, left: Any, right: Any, node: ast.AST) -> pd.Series:
        if isinstance(op, ast.In | ast.NotIn):
            if not isinstance(left, pd.Series) or not isinstance(right, list):
                raise _fail(self.text, node, "use 'column in [\"a\", \"b\"]'")
            res = left.isin(right).astype("boolean").mask(left.isna())
            return ~res if isinstance(op, ast.NotIn) else res
        if not isinstance(left, pd.Series) and not isinstance(right, pd.Series):
            raise _fail(self.text, node, "compares two constants; name a column")
        if isinstance(left, list) or isinstance(right, list):
            raise _fail(self.text, node, "a list can only follow 'in' / 'not in'")
        null = _nulls(left, self.df.index) | _nulls(right, self.df.index)
        try:
            raw = _CMP[type(op)](_plain(left), _plain(right))
        except TypeError as e:
            raise _fail(self.text, node, f"cannot compare these values ({e})") from None
        return pd.Series(np.asarray(raw, dtype=bool), index=self.df.index).astype("boolean").mask(null)


def _isna(x: Any) -> bool:
    return isinstance(x, float) and np.isnan(x)


def _nulls(v: Any, index: pd.Index) -> pd.Series:
    if isinstance(v, pd.Series):
        return v.isna()
    return pd.Series(v is None, index=index)


def _plain(v: Any) -> Any:
    """Nullable dtypes to plain numpy so comparisons return bools (nulls are masked separately)."""
    if isinstance(v, pd.Series):
        if v.dtype == "boolean":
            return v.fillna(False).astype(bool)
        if pd.api.types.is_numeric_dtype(v.dtype):
            return v.astype(float)
        if v.isna().all():
            return pd.Series(np.nan, index=v.index)
        return v.astype(object).where(v.notna(), "")
    return v
