"""Uncertainty and length bias for pairwise win rates: percentile bootstrap CIs over prompts (scipy) and a
length-controlled win rate (a logistic regression on the length difference, AlpacaEval-LC style)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def bootstrap_ci(values: Sequence[float], confidence: float = 0.95, n_resamples: int = 2000,
                 seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean; degenerate samples (n < 2 or constant) give a point."""
    vals = np.asarray(values, dtype=float)
    if vals.size == 0:
        return float("nan"), float("nan")
    if vals.size < 2 or np.all(vals == vals[0]):
        return float(vals.mean()), float(vals.mean())
    from scipy.stats import bootstrap

    res = bootstrap((vals,), np.mean, confidence_level=confidence, n_resamples=n_resamples, method="percentile",
                    rng=np.random.default_rng(seed))
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def length_controlled_win_rate(scores: Sequence[float], len_a: Sequence[float], len_b: Sequence[float]) -> float:
    """The win rate predicted at equal answer lengths.

    Fits P(win) = sigmoid(b0 + b1 * tanh((len_a - len_b) / sd)) with ties as half a win and half a loss;
    returns sigmoid(b0). Judges (reward models most) favour longer answers; this removes the part of the
    win rate that the length difference explains. Falls back to the raw rate when there is nothing to fit.
    """
    s = np.asarray(scores, dtype=float)
    if s.size == 0:
        return float("nan")
    diff = np.asarray(len_a, dtype=float) - np.asarray(len_b, dtype=float)
    sd = diff.std()
    wins = float((s * 1.0).sum())
    if sd == 0 or wins == 0 or wins == s.size or s.size < 3:
        return float(s.mean())
    from sklearn.linear_model import LogisticRegression

    x = np.tanh(diff / sd).reshape(-1, 1)
    X = np.vstack([x, x])
    y = np.concatenate([np.ones_like(s), np.zeros_like(s)])
    w = np.concatenate([s, 1 - s])
    keep = w > 0
    model = LogisticRegression(C=1.0).fit(X[keep], y[keep], sample_weight=w[keep])
    return float(1 / (1 + np.exp(-model.intercept_[0])))
