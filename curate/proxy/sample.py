"""The teacher's sample: stratified by source and length bucket, deterministic and nested.

Each row's place in line is a hash of (seed, id), so the same pool and seed always give the same
rows whatever the input order, and a larger sample contains the smaller one (growing the sample
re-uses every teacher score already paid for). Rows are allocated to strata in proportion to their
size (largest remainder), so every source and length bucket is represented as in the pool.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from curate.errors import UserError


def sample_size(sample: int | float, pool: int) -> int:
    """Rows asked for: a count as is, a fraction of the pool rounded (at least one row)."""
    n = sample if isinstance(sample, int) else max(1, round(sample * pool))
    if n > pool:
        raise UserError(f"sample of {n} rows is larger than the pool of {pool} rows; use at most {pool} "
                        f"or a fraction below 1")
    return n


def hash_order(ids: pd.Series, seed: int) -> np.ndarray:
    """A deterministic pseudo-random uint64 per id: its place in line for the sample."""
    salt = str(seed).encode()
    return np.array([int.from_bytes(hashlib.blake2b(salt + i.encode(), digest_size=8).digest(), "little")
                     for i in ids], dtype=np.uint64)


def strata(frame: pd.DataFrame, by: list[str], length_buckets: int) -> pd.Series:
    """Stratum label per row: its source and/or length bucket ('' when not stratified)."""
    label = pd.Series([""] * len(frame), index=frame.index, dtype=object)
    if "source" in by and "source" in frame.columns:
        label = label + frame["source"].fillna("<none>").astype(str)
    if "length" in by and length_buckets > 1:
        if "tokens" not in frame.columns:
            raise UserError("stratifying by length needs the heuristics 'tokens' column")
        ranks = frame["tokens"].rank(method="average", na_option="bottom") - 1  # ties share a bucket
        bucket = (ranks * length_buckets // max(len(frame), 1)).astype(int)
        label = label + "|len" + bucket.astype(str)
    return label


def allocate(sizes: pd.Series, n: int) -> pd.Series:
    """Rows per stratum, proportional to its size, summing to ``n`` (largest remainder)."""
    exact = sizes * n / sizes.sum()
    alloc = np.floor(exact).astype(int)
    short = n - int(alloc.sum())
    if short:
        order = (exact - alloc).sort_values(ascending=False, kind="stable").index[:short]
        alloc[order] += 1
    return alloc


def draw(frame: pd.DataFrame, n: int, by: list[str], length_buckets: int, seed: int) -> list[str]:
    """``n`` ids of ``frame`` (columns ``id``, optional ``source``, ``tokens``), stratified."""
    frame = frame.assign(_stratum=strata(frame, by, length_buckets).to_numpy(),
                         _order=hash_order(frame["id"], seed))
    alloc = allocate(frame.groupby("_stratum").size(), n)
    frame = frame.sort_values("_order", kind="stable")
    rank = frame.groupby("_stratum").cumcount()
    return frame.loc[rank.to_numpy() < frame["_stratum"].map(alloc).to_numpy(), "id"].tolist()
