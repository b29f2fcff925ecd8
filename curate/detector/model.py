"""The detector's classifier: which score columns it learns from, how it is fit, and how well it does
on damage it saw (out-of-fold) and on damage it did not (a family left out of training).

Originals and their corrupted copies share a cross-validation group, so no fold tests a copy whose
original it trained on. Probabilities are calibrated once, on the out-of-fold scores (Platt's sigmoid):
``junk_prob`` 0.5 means even odds on the planted mix, whatever the model. Fits run on one thread: on a
busy 2-core machine OpenMP's spinning threads made each fit ten times slower.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

# Columns that describe a conversation's shape rather than its answer (turn counts, totals over every
# turn, validity flags the run already acted on) or that are not comparable across rows: learning from
# them would learn how the planting code edits a conversation (a truncation drops the later turns).
STRUCTURE = frozenset({
    "row", "turns", "user_turns", "assistant_turns", "chars", "user_chars", "assistant_chars", "words", "tokens",
    "assistant_tokens", "role_order_ok", "ends_with_assistant", "ifd_turns", "lm_truncated",
})
SUFFIXES_LEFT_OUT = ("_error", "_proxy", "_best", "_teacher_scored")
# Columns counted in another with the rest of their family (texture's ``residue_marks`` counts mojibake
# with HTML, escapes and markup left open): learned apart, mojibake would be learned as its own kind and
# teach nothing about the others (RESULTS.md "generalization"). Left out only where the other is learned.
FOLDED = {"mojibake_rate": "residue_marks"}
# Measures whose direction is known by construction: more residue or repeated spans never makes a row
# less junky, a lower margin never makes it better. Held monotone, the trees cannot learn a quirk of the
# planted copies (junk at 3-5 marks, clean at 6) that would not hold on other damage (RESULTS.md).
MONOTONE = {"residue_marks": 1, "repeated_8gram_frac": 1, "qa_margin": -1}


def feature_columns(real: pd.DataFrame, copies: pd.DataFrame, column: str) -> list[str]:
    """Numeric or yes/no columns both frames hold with some values, minus shape columns, folded ones,
    errors, proxies and the detector's own ``column``."""
    out = []
    for c in real.columns:
        if c in STRUCTURE or c == column or c == "id" or c.endswith(SUFFIXES_LEFT_OUT) or c not in copies:
            continue
        if _numeric(real[c]) and _numeric(copies[c]):
            out.append(c)
    return sorted(c for c in out if FOLDED.get(c) not in out)


def _numeric(values: pd.Series) -> bool:
    """Numbers or yes/no with some values (a yes/no column with nulls comes as objects)."""
    present = values.dropna()
    if not len(present):
        return False
    if values.dtype.kind in "biuf":
        return True
    return values.dtype.kind == "O" and all(isinstance(v, (bool, int, float, np.bool_, np.number)) for v in present[:200])


def matrix(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """Float features, yes/no as 0/1, missing as NaN (the trees route it; the logistic model imputes)."""
    if not columns:
        return np.empty((len(frame), 0))
    return np.column_stack([pd.to_numeric(frame[c], errors="coerce").astype(float).to_numpy() for c in columns])


def _classifier(kind: str, seed: int, columns: list[str]) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression

    if kind == "boosting":  # slow rate, 30+ examples a leaf: learns less of each planted signature (RESULTS.md)
        return HistGradientBoostingClassifier(max_iter=150, learning_rate=0.04, max_leaf_nodes=15, min_samples_leaf=30,
                                              l2_regularization=1.0, random_state=seed,
                                              monotonic_cst=[MONOTONE.get(c, 0) for c in columns] or None)
    return LogisticRegression(C=0.5, max_iter=2000)


@dataclass
class Fitted:
    """A fitted classifier and, for the logistic model, the medians and scales it saw (NaN -> median,
    plus a was-missing indicator per column)."""

    model: Any
    center: np.ndarray | None = None
    scale: np.ndarray | None = None

    def raw(self, x: np.ndarray) -> np.ndarray:
        """The classifier's uncalibrated P(junk)."""
        from threadpoolctl import threadpool_limits

        with threadpool_limits(1):
            return self.model.predict_proba(self._prepare(x))[:, 1]

    def _prepare(self, x: np.ndarray) -> np.ndarray:
        if self.center is None:
            return x
        missing = np.isnan(x)
        filled = np.where(missing, self.center, x)
        return np.hstack([(filled - self.center) / self.scale, missing.astype(float)])


def fit(x: np.ndarray, y: np.ndarray, kind: str, seed: int, columns: list[str]) -> Fitted:
    """Fit the ``kind`` classifier (uncalibrated) on one thread; ``columns`` names the columns of ``x``."""
    from threadpoolctl import threadpool_limits

    fitted = Fitted(_classifier(kind, seed, columns))
    if kind == "logistic":
        with np.errstate(all="ignore"):
            fitted.center = np.nan_to_num(np.nanmedian(x, axis=0))
            fitted.scale = np.nan_to_num(np.nanstd(x, axis=0), nan=1.0)
        fitted.scale[fitted.scale == 0] = 1.0
    with threadpool_limits(1):
        fitted.model.fit(fitted._prepare(x), y)
    return fitted


def folds_of(groups: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """A fold number per example; examples of one group (an original and its copies) share a fold."""
    uniq = np.unique(groups)
    order = np.random.default_rng(seed).permutation(len(uniq))
    fold_of = dict(zip(uniq[order], np.arange(len(uniq)) % folds, strict=True))
    return np.array([fold_of[g] for g in groups])


def out_of_fold(x: np.ndarray, y: np.ndarray, fold: np.ndarray, kind: str, seed: int, columns: list[str],
                train_mask: np.ndarray | None = None) -> np.ndarray:
    """Uncalibrated P(junk) for every example from a model fit on the other folds (``train_mask`` rows only)."""
    raw = np.full(len(y), np.nan)
    keep = np.ones(len(y), bool) if train_mask is None else train_mask
    for k in np.unique(fold):
        train = (fold != k) & keep
        raw[fold == k] = fit(x[train], y[train], kind, seed, columns).raw(x[fold == k])
    return raw


class Calibration:
    """Platt's sigmoid from out-of-fold scores to probabilities at even odds: the classes weigh the same
    however many copies were planted, so 0.5 means "as much like the planted damage as like the data's
    own rows" (the fitted prior would move with the ``copies`` setting)."""

    def __init__(self, raw: np.ndarray, y: np.ndarray):
        from sklearn.linear_model import LogisticRegression

        y = np.asarray(y)
        balance = np.where(y == 1, (y == 0).sum() / max((y == 1).sum(), 1), 1.0)
        self._model = LogisticRegression(C=1e4).fit(_logit(raw), y, sample_weight=balance)
        self.a, self.b = float(self._model.coef_[0, 0]), float(self._model.intercept_[0])

    def __call__(self, raw: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-(self.a * _logit(raw)[:, 0] + self.b)))


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, float), 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p)).reshape(-1, 1)
