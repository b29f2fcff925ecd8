"""``atypical``: how far out in the run's own distribution a row's most unusual score lies.

The detector learns the damage it was shown; a kind of damage nobody planted looks clean to it unless it
moves some score the planted kinds also move. What new damage does do is push some score into a tail
the run's clean rows rarely reach (escaped newlines: the escape rate; switching language mid-answer:
the share of non-ASCII characters). ``atypical`` scores that without labels: per continuous feature the
detector learned from, the two-sided tail probability of the row's value among the run's rows the
detector calls clean, and the row's smallest one, as ``-log10`` (2 = a value only 1 row in 100 is as far
out). It is a rank term, not a filter: every dataset has clean rows with one extreme score, and a rank
only orders what the budget takes.

Measured (benchmarks/bench_generalization.py, RESULTS.md "generalization"): adding ``-atypical: 0.5`` to
the ``quality`` rank took the share kept of variants the detector never saw (leave one variant out) from
0.65 to 0.50 of random's, mean over eight domains, with the audit kinds' share unchanged; measuring
against the rows called clean rather than all rows was checked on runs it was not picked on.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

ATYPICAL = "atypical"  # column name
FLOOR = 1e-6  # tail probabilities below this count as this (a cap of 6 on the score)


def atypicality(frame: pd.DataFrame, columns: list[str], reference: np.ndarray | None = None) -> np.ndarray:
    """``-log10`` of each row's smallest two-sided tail probability over ``columns`` (those with more than
    two distinct values: flags have no tail), against the ``reference`` rows' values (a boolean mask;
    default every row). A null value adds nothing.

    The detector step passes the rows it calls clean as the reference, so the damage it already sees does
    not widen what counts as usual: a value is atypical when the run's clean-looking rows rarely reach it.
    """
    out = np.zeros(len(frame))
    for name in columns:
        values = pd.to_numeric(frame[name], errors="coerce").astype(float).to_numpy()
        usual = values if reference is None else values[reference]
        usual = np.sort(usual[~np.isnan(usual)])
        if len(np.unique(usual)) <= 2:
            continue
        n = len(usual)
        below = np.searchsorted(usual, values, side="right") / n  # share of the reference at or below
        above = (n - np.searchsorted(usual, values, side="left")) / n  # at or above
        tail = np.clip(2 * np.minimum(below, above), max(FLOOR, 1 / n), 1)
        out = np.maximum(out, np.where(np.isnan(values), 0.0, -np.log10(tail)))
    return out
