"""How well a score separates planted rows from clean ones, whichever way it points.

``auroc`` is ``sklearn.metrics.roc_auc_score`` (ties count half) without NaN scores; ``separation``
turns it direction-aware: a score that is *low* on bad rows (end-of-answer probability) separates
as well as one that is high on them (perplexity).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score


def auroc(bad: np.ndarray, score: np.ndarray) -> float:
    """P(score of a bad row > score of a clean row), ties half; NaN scores are left out."""
    bad, score = np.asarray(bad, bool), np.asarray(score, float)
    ok = ~np.isnan(score)
    bad, score = bad[ok], score[ok]
    if bad.all() or not bad.any():
        return float("nan")
    return float(roc_auc_score(bad, score))


@dataclass(frozen=True)
class Separation:
    auroc: float  # >= 0.5: how well the score separates, in its better direction
    direction: str  # "high" (high = bad) or "low" (low = bad)
    precision: float  # share of bad rows among the top-k rows in that direction (k = number of bad rows)
    rows: int  # rows with a score


def precision_at_k(bad: np.ndarray, score: np.ndarray, direction: str, k: int | None = None) -> float:
    """Share of bad rows among the ``k`` rows ranked worst (default k = number of bad rows: at the planted
    rate); rows tied at the cut count in proportion, so a yes/no flag gets its expected precision."""
    bad, score = np.asarray(bad, bool), np.asarray(score, float)
    ok = ~np.isnan(score)
    bad, score = bad[ok], score[ok]
    k = int(bad.sum()) if k is None else k
    if k <= 0:
        return float("nan")
    worse = score if direction == "high" else -score
    cut = np.sort(worse)[::-1][min(k, len(worse)) - 1]
    above, tied = worse > cut, worse == cut
    return float((bad[above].sum() + (k - above.sum()) * bad[tied].mean()) / k)


def separation(bad: np.ndarray, score: np.ndarray, direction: str | None = None) -> Separation:
    """AUROC in the score's better direction (or the given one), with precision at the planted rate."""
    a = auroc(bad, score)
    if direction is None:
        direction = "low" if a < 0.5 else "high"
    value = 1 - a if direction == "low" else a
    rows = int((~np.isnan(np.asarray(score, float))).sum())
    return Separation(round(value, 4), direction, round(precision_at_k(bad, score, direction), 4), rows)


def survives(labels: pd.DataFrame, chosen: Collection[str]) -> np.ndarray:
    """Per row of ``labels`` (``id``, ``kind``, ``source_id``): is it in ``chosen`` with its damage intact?
    A near-duplicate copy is damage only together with its source: once dedup drops either, the other is
    the pair's one representative, a good row. A clean row in ``chosen`` is True too (mask by kind)."""
    inside = labels["id"].isin(chosen).to_numpy().copy()
    pair = (labels["kind"] == "near_dup").to_numpy()
    inside[pair] &= labels["source_id"][pair].isin(chosen).to_numpy()
    return inside
