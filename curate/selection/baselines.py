"""Orders for the honest baselines a curated subset must beat at equal size.

``random`` is seeded and independent of input row order (it permutes the sorted ids), so the same
seed picks the same rows from the same data however it was loaded; ``longest`` takes the longest
answers first (a strong, often-forgotten baseline: reward models favour long answers).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from curate.errors import UserError
from curate.schema import conversation_text, response_text


def random_order(ids: pd.Series, seed: int) -> np.ndarray:
    """Row positions in a seeded random order that depends only on the set of ids."""
    by_id = np.argsort(ids.astype(str).to_numpy(), kind="stable")
    perm = np.random.default_rng(seed).permutation(len(ids))
    return by_id[perm]


def _need_messages(df: pd.DataFrame, column: str) -> None:
    if "messages" not in df.columns:
        raise UserError(f"select: {column!r} is missing for some rows and there is no 'messages' column to "
                        "compute it from; score with 'heuristics' or pass the messages")


def assistant_chars(df: pd.DataFrame) -> pd.Series:
    """The heuristics column when scored, else computed from the messages."""
    have = pd.to_numeric(df.get("assistant_chars", pd.Series(np.nan, index=df.index)), errors="coerce")
    todo = have.isna()
    if todo.any():
        _need_messages(df, "assistant_chars")
        have = have.astype(float)
        have[todo] = df.loc[todo, "messages"].map(lambda m: len(response_text(list(m))))
    return have.astype(float)


def approx_tokens(df: pd.DataFrame) -> np.ndarray:
    """The ``tokens`` column when scored, else about 4 characters per token."""
    have = pd.to_numeric(df.get("tokens", pd.Series(np.nan, index=df.index)), errors="coerce").astype(float)
    todo = have.isna()
    if todo.any():
        _need_messages(df, "tokens")
        have[todo] = df.loc[todo, "messages"].map(lambda m: -(-len(conversation_text(list(m))) // 4))
    return have.astype(np.int64).to_numpy()


def longest_order(df: pd.DataFrame) -> tuple[np.ndarray, pd.Series]:
    lengths = assistant_chars(df)
    order = np.argsort(-lengths.to_numpy(), kind="stable")
    return order, lengths
