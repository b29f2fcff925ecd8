"""``select``: one subset from a scored conversation table, with a reason for every row.

Order of rules (the first that rejects a row is recorded): filter -> quota -> diversity -> budget.
Selected rows come back in selection order (best first). A row with a null rank column, or without an
embedding under ``diversity``, is never dropped for it: it ranks after every row that has the value, so
a budget is filled from complete rows first and from incomplete ones only when those run out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from curate.errors import UserError
from curate.inputs import Embeddings, embedding_rows
from curate.selection import baselines
from curate.selection.config import SubsetSpec, make_spec
from curate.selection.diversity import Limits, WalkResult, greedy, unit_rows
from curate.selection.expr import first_failures, parse_filter
from curate.selection.rank import combined_score, describe


@dataclass
class Selection:
    """One subset chosen from a table, with a reason for every row.

    Attributes:
        spec: the validated :class:`SubsetSpec`.
        selected: the chosen rows in selection order (best first), with ``reason``, ``rank`` (1-based)
            and ``score``.
        rejected: ``id``, ``row``, ``source`` and ``reason`` (the first rule that rejected it) of every
            other row.
        rules: per filter part, the rows it ``removed`` and those it ``alone`` keeps out.
    """

    spec: SubsetSpec
    selected: pd.DataFrame
    rejected: pd.DataFrame
    rules: dict[str, dict[str, int]] = field(default_factory=dict)  # filter part -> rows it removed

    @property
    def name(self) -> str:
        """The subset's name."""
        return self.spec.name

    @property
    def fill(self) -> dict[str, Any]:
        """How full the subset is: ``selected`` of ``budget`` rows (and tokens, when budgeted)."""
        b = self.spec.budget
        out: dict[str, Any] = {"selected": len(self.selected), "budget": b.rows if b else None}
        if b is not None and b.tokens is not None:
            tokens = pd.to_numeric(self.selected.get("tokens", pd.Series(dtype=float)), errors="coerce")
            out.update(tokens=int(tokens.fillna(0).sum()), budget_tokens=b.tokens)
        return out

    @property
    def counts(self) -> dict[str, Any]:
        """``input = selected + sum(rejected by rule)``; the rule is the reason up to ':'."""
        return {
            "input": len(self.selected) + len(self.rejected),
            "selected": len(self.selected),
            "rejected": rule_counts(self.rejected["reason"]),
        }

    def __len__(self) -> int:
        return len(self.selected)

    def __repr__(self) -> str:
        return f"Selection({self.name!r}, {self.counts})"


def select(
    data: pd.DataFrame | pa.Table,
    spec: SubsetSpec | dict[str, Any] | None = None,
    embeddings: Embeddings | None = None,
    progress: bool = True,
    **kwargs: Any,
) -> Selection:
    """Select one subset: filter -> order (rank or baseline) -> quotas, diversity, budget.

    Args:
        data: the scored rows, pandas or pyarrow, with ``id`` (``RunDir.pool()``: conversations and
            their scores).
        spec: a :class:`SubsetSpec`, a recipe entry as a dict, or None to give it as keywords.
        embeddings: ``(ids, matrix)`` (``curate.load_embeddings(run)``), needed only when ``diversity``
            is set.
        progress: show a progress bar.
        **kwargs: SubsetSpec fields set on top of ``spec``
            (``select(df, filter="reward > 0.5", rank={"reward": 1}, budget=1000)``).

    Returns:
        A :class:`Selection`: the chosen rows best first, every other row with the rule that rejected it.

    Raises:
        UserError: an unknown key or a bad value in the spec, ``data`` of another type or without
            ``id``, a filter, rank or quota column the table lacks (or a rank column that is not
            numeric), or ``diversity`` without embeddings.
    """
    spec = make_spec(spec, **kwargs)
    df = data.to_pandas() if isinstance(data, pa.Table) else data
    if not isinstance(df, pd.DataFrame):
        raise UserError(f"select: expected a pandas DataFrame or pyarrow Table, got {type(data).__name__}")
    if "id" not in df.columns:
        raise UserError(f"select: the table lacks the 'id' column; columns: {', '.join(map(str, df.columns))}")
    df = df.reset_index(drop=True)
    reasons = _Reasons(len(df))
    rules: dict[str, dict[str, int]] = {}
    if spec.filter:
        passes = parse_filter(spec.filter).conjunct_passes(df)
        rules = _rule_impact(passes)
        fails = first_failures(passes, df.index)
        hit = fails.notna().to_numpy()
        reasons.set_each(hit, fails[hit], "filter: {}")
    ranked = _order(df, spec, reasons)
    vectors = _unit_vectors(df["id"], embeddings, spec) if spec.diversity else None
    order = ranked.positions if vectors is None else _vectors_first(ranked.positions, vectors)
    need_tokens = spec.budget is not None and spec.budget.tokens is not None
    groups, limits, group_label = _limits(df, spec)
    walk = greedy(
        order, baselines.approx_tokens(df) if need_tokens else None, groups, limits, group_label,
        vectors=vectors, threshold=spec.diversity.threshold if spec.diversity else None,
        ids=df["id"].astype(str).tolist() if spec.diversity else None, progress=progress,
    )
    for p, why in walk.rejected.items():
        reasons.codes[p] = reasons.code(why)
    if walk.tail is not None:
        reasons.codes[order[walk.tail:]] = reasons.code("budget")
    out = _selection(df, spec, walk, ranked, reasons)
    out.rules = rules
    return out


def _rule_impact(passes: list[tuple[str, np.ndarray]]) -> dict[str, dict[str, int]]:
    """Per filter part: ``removed`` (rows it fails, whatever else they fail) and ``alone`` (rows that fail
    it and pass every other part: the rows it alone keeps out, which look clean to the rest)."""
    if not passes:
        return {}
    failed = np.stack([~ok for _, ok in passes])
    only_one = failed.sum(axis=0) == 1
    return {text: {"removed": int(f.sum()), "alone": int((f & only_one).sum())}
            for (text, _), f in zip(passes, failed, strict=True)}


@dataclass
class _Ranked:
    """Candidate positions best first, every row's score, how they were ordered, and per row the first
    rank column that is null there (None when complete, or without ``rank``)."""

    positions: np.ndarray
    score: pd.Series
    label: str
    missing: pd.Series | None = None


def _vectors_first(order: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """``order`` with the rows that have no embedding moved to the end (their order kept): diversity
    cannot check them, so they only fill what the checked rows leave."""
    has = ~np.isnan(vectors[order]).any(axis=1)
    return np.concatenate([order[has], order[~has]])


def _order(df: pd.DataFrame, spec: SubsetSpec, reasons: _Reasons) -> _Ranked:
    """By ``rank`` (rows missing a ranked column last), or by a baseline; rows already rejected are left
    out of the positions."""
    score, missing = pd.Series(np.nan, index=df.index), None
    if spec.rank:
        score, missing = combined_score(df, spec.rank, spec.normalize)
        # complete rows first (best first), then rows with a null rank column by what they have
        order = np.lexsort((-score.to_numpy(), missing.notna().to_numpy()))
        label = describe(spec.rank, spec.normalize)
    elif spec.baseline == "random":
        order, label = baselines.random_order(df["id"], spec.seed), f"random (seed {spec.seed})"
    elif spec.baseline == "longest":
        order, score = baselines.longest_order(df)
        label = "longest: assistant_chars"
    else:
        order, label = np.arange(len(df)), ("full" if spec.baseline == "full" else "passed filter")
    return _Ranked(order[reasons.open[order]], score, label, missing)


def _selection(df: pd.DataFrame, spec: SubsetSpec, walk: WalkResult, ranked: _Ranked,
               reasons: _Reasons) -> Selection:
    """The chosen rows in walk order with their reason, rank and score; every other row with why."""
    chosen = np.asarray(walk.selected, dtype=np.int64)
    selected = df.iloc[chosen].copy()
    score = ranked.score
    null = ranked.missing.to_numpy() if ranked.missing is not None else np.full(len(df), None)
    selected["reason"] = [_why(spec, ranked.label, score.iat[p], walk.max_cos.get(p), null[p]) for p in chosen]
    selected["rank"] = np.arange(1, len(chosen) + 1)
    selected["score"] = score.to_numpy()[chosen] if len(chosen) else []
    rej = np.flatnonzero(~reasons.open)
    cols = [c for c in ("id", "row", "source") if c in df.columns]
    rejected = df.iloc[rej][cols].copy()
    rejected["reason"] = pd.Categorical.from_codes(reasons.codes[rej], categories=reasons.texts)
    assert len(selected) + len(rejected) == len(df), "every row is either selected or rejected"
    return Selection(spec, selected.reset_index(drop=True), rejected.reset_index(drop=True))


class _Reasons:
    """Per-row rejection reasons as int32 codes into the distinct texts: a 1.75M-row table costs
    7 MB, not a Python string and a dict slot per row. Code -1: not rejected (yet)."""

    def __init__(self, n: int):
        self.codes = np.full(n, -1, np.int32)
        self.texts: list[str] = []
        self._index: dict[str, int] = {}

    @property
    def open(self) -> np.ndarray:
        return self.codes < 0

    def code(self, text: str) -> int:
        if text not in self._index:
            self._index[text] = len(self.texts)
            self.texts.append(text)
        return self._index[text]

    def set_each(self, mask: np.ndarray, values: pd.Series, template: str) -> None:
        """Rows in ``mask`` get ``template`` filled with their value (one format per distinct value)."""
        inverse, uniques = pd.factorize(values.to_numpy(dtype=object))
        mapping = np.array([self.code(template.format(u)) for u in uniques], np.int32)
        self.codes[mask] = mapping[inverse]


def rule_counts(reasons: pd.Series) -> dict[str, int]:
    """Rows per rejecting rule (the reason up to ':'), counted over the distinct reasons."""
    out: dict[str, int] = {}
    for reason, k in reasons.value_counts().items():
        if k:
            rule = str(reason).split(":", 1)[0]
            out[rule] = out.get(rule, 0) + int(k)
    return dict(sorted(out.items()))


def _why(spec: SubsetSpec, label: str, score: float, max_cos: float | None, null: str | None = None) -> str:
    if spec.rank:
        why = f"top-k by {label}={score:.3g}"
        if null is not None:
            why += f" (ranked last: {null} is null)"
    elif spec.baseline == "longest":
        why = f"longest: assistant_chars={int(score)}"
    else:
        why = label
    if spec.diversity is not None and max_cos is not None:
        near = ("no embedding, taken after the rows with one" if np.isnan(max_cos)
                else "first" if not np.isfinite(max_cos) else f"max cos {max_cos:.2f}")
        why += f"; diverse ({near} < {spec.diversity.threshold:g})"
    return why


def _limits(df: pd.DataFrame, spec: SubsetSpec) -> tuple[list[str] | None, Limits, str]:
    b = spec.budget
    limits = Limits(rows=b.rows if b else None, tokens=b.tokens if b else None)
    q = spec.quotas
    if q is None:
        return None, limits, "source"
    if q.column not in df.columns:
        raise UserError(f"quotas.column: unknown column {q.column!r}; available: {', '.join(map(str, df.columns))}")
    groups = df[q.column].astype(str).tolist()
    if q.max is not None:
        limits.group_rows = dict(q.max)
        return groups, limits, q.column
    assert q.mix is not None
    limits.strict_groups = True
    if limits.rows is not None:
        limits.group_rows = _largest_remainder(q.mix, limits.rows)
    if limits.tokens is not None:
        limits.group_tokens = {g: int(math.floor(f * limits.tokens)) for g, f in q.mix.items()}
    return groups, limits, q.column


def _largest_remainder(mix: dict[str, float], total: int) -> dict[str, int]:
    """Integer row targets per group that sum exactly to ``total`` (Hamilton's method)."""
    raw = {g: f * total for g, f in mix.items()}
    out = {g: int(math.floor(v)) for g, v in raw.items()}
    left = total - sum(out.values())
    for g in sorted(raw, key=lambda g: (raw[g] - out[g], g), reverse=True)[:left]:
        out[g] += 1
    return out


def _unit_vectors(ids: pd.Series, embeddings: Embeddings | None, spec: SubsetSpec) -> np.ndarray:
    """Unit vectors aligned with the rows; NaN rows where a row has no embedding."""
    if embeddings is None:
        raise UserError(
            f"subset {spec.name!r}: 'diversity' needs embeddings; pass embeddings=(ids, matrix) "
            "(curate.load_embeddings(run)) or score with the 'embedding' scorer"
        )
    where = embedding_rows(embeddings, ids)
    matrix = np.asarray(embeddings[1])
    out = np.full((len(ids), matrix.shape[1]), np.nan, dtype=np.float32)
    ok = where >= 0
    out[ok] = unit_rows(matrix[where[ok]])
    return out
