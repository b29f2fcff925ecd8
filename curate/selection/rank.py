"""Combine score columns on different scales into one ranking score.

A reward in [-10, 10], a perplexity in [1, 1000] and an IFD around 1 cannot be added raw: ``rank``
normalization maps each to its percentile in [0, 1] (robust to outliers), ``zscore`` to standard
units, ``none`` keeps the raw values. A ``-`` prefix on a column (or a negative weight) means lower
is better.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from curate.errors import UserError


def split_column(key: str) -> tuple[str, float]:
    """``"-ppl"`` -> ``("ppl", -1.0)``."""
    key = key.strip()
    return (key[1:].strip(), -1.0) if key.startswith("-") else (key.lstrip("+").strip(), 1.0)


def normalize(values: pd.Series, how: str) -> pd.Series:
    v = pd.to_numeric(values, errors="coerce").astype(float)
    if how == "rank":
        return v.rank(pct=True, method="average")
    if how == "zscore":
        std = v.std(ddof=0)
        return (v - v.mean()) / std if std and np.isfinite(std) else v * 0.0
    if how == "none":
        return v
    raise UserError(f"normalize: got {how!r}; allowed: rank, zscore, none")


def describe(rank: dict[str, float], how: str) -> str:
    """A short human label, e.g. ``0.7*rank(reward)+0.3*rank(-ppl)``."""
    fn = {"rank": "rank", "zscore": "z", "none": ""}[how]
    parts = []
    for key, w in rank.items():
        col, sign = split_column(key)
        name = f"{'-' if sign < 0 else ''}{col}"
        term = f"{fn}({name})" if fn else name
        parts.append(term if w == 1 else f"{w:g}*{term}")
    return "+".join(parts).replace("+-", "-")


def combined_score(df: pd.DataFrame, rank: dict[str, float], how: str) -> tuple[pd.Series, pd.Series]:
    """``(score, missing)``: the weighted sum of normalized columns (higher is better) and, per row,
    the first rank column that is null there (None when complete)."""
    score = pd.Series(0.0, index=df.index)
    missing = pd.Series([None] * len(df), index=df.index, dtype=object)
    for key, w in rank.items():
        col, sign = split_column(key)
        if col not in df.columns:
            raise UserError(f"rank: unknown column {col!r}; available: {', '.join(map(str, df.columns))}")
        raw = df[col]
        if not (pd.api.types.is_numeric_dtype(raw.dtype) or pd.api.types.is_bool_dtype(raw.dtype)):
            raise UserError(f"rank: column {col!r} is not numeric (dtype {raw.dtype})")
        raw = pd.to_numeric(raw, errors="coerce").astype(float)
        null = raw.isna()
        missing[null & missing.isna()] = col
        score = score + w * normalize(sign * raw, how).fillna(0.0)
    return score, missing
