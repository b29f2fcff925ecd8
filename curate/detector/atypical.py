"""``atypical``: how far out in the run's own distribution a row's most unusual score lies.

The detector learns the damage it was shown; a kind of damage nobody planted looks clean to it unless it
moves some score the planted kinds also move. What new damage does do is push some score into a tail
the run's clean rows rarely reach (markup residue: its markup rate; a cut at a clean boundary: the answer's
length against the question's). ``atypical`` scores that without labels: per continuous feature the
detector learned from, the two-sided tail probability of the row's value among the run's rows, and the
row's smallest one, as ``-log10`` (2 = a value only 1 row in 100 is as far out). It is a rank term, not a
filter: every dataset has clean rows with one extreme score, and a rank only orders what the budget takes.

Measured (benchmarks/bench_generalization.py, RESULTS.md "generalization"): adding ``-atypical: 0.5`` to
the ``quality`` rank lowered the share kept of variants the detector never saw (leave-one-variant-out)
on every domain measured, and left the audit kinds' share unchanged.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

ATYPICAL = "atypical"  # column name
FLOOR = 1e-6  # tail probabilities below this count as this (a cap of 6 on the score)


def atypicality(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """``-log10`` of each row's smallest two-sided tail probability over ``columns`` (those with more than
    two distinct values: flags have no tail), against ``frame``'s own rows. A null value adds nothing."""
    out = np.zeros(len(frame))
    for name in columns:
        values = pd.to_numeric(frame[name], errors="coerce").astype(float)
        if values.nunique() <= 2:
            continue
        below = values.rank(pct=True)  # share of rows at or below (ties share their mean rank)
        tail = 2 * np.minimum(below, 1 - below + 1 / len(values))
        out = np.maximum(out, -np.log10(np.clip(tail, FLOOR, 1)).fillna(0).to_numpy())
    return out
