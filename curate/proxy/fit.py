"""Fit the proxy model and measure how well it agrees with the teacher.

Candidates are scikit-learn's: ridge (linear in the embedding, the FineWeb-Edu recipe), logistic for
a binary teacher, and HistGradientBoosting (non-linear in the heuristics columns). ``auto`` keeps the
one with the best cross-validated rank agreement (Spearman; AUROC for a binary teacher). The
teacher's scale is kept: a ``rank`` target is learned as a quantile and mapped back through the
teacher's own quantiles, so ``<column>_proxy`` and the teacher can share one ``_best`` column.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import rankdata, spearmanr
from sklearn.base import clone
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, RidgeCV
from sklearn.metrics import make_scorer, r2_score, roc_auc_score
from sklearn.model_selection import KFold, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from curate.errors import UserError

TOP_K = (0.1, 0.25, 0.5)


def is_binary(y: np.ndarray) -> bool:
    return len(y) > 0 and set(np.unique(y).tolist()) <= {0.0, 1.0}


def candidates(binary: bool, seed: int) -> dict[str, object]:
    """Untrained models by name; linear ones see imputed, standardized features."""
    if binary:
        return {"logistic": make_pipeline(SimpleImputer(), StandardScaler(), LogisticRegression(C=0.1, max_iter=2000)),
                "hgb": HistGradientBoostingClassifier(max_iter=200, learning_rate=0.05, random_state=seed)}
    return {"ridge": make_pipeline(SimpleImputer(), StandardScaler(), RidgeCV(alphas=np.logspace(-1, 5, 13))),
            "hgb": HistGradientBoostingRegressor(max_iter=200, learning_rate=0.05, random_state=seed)}


class Target:
    """The teacher's values <-> what the model learns (``rank``, ``log`` or ``raw``)."""

    def __init__(self, kind: str, y: np.ndarray):
        if kind == "log" and (y <= 0).any():
            raise UserError("target 'log' needs a teacher column above 0; use 'rank' or 'raw'")
        self.kind, self.sorted = kind, np.sort(y)

    def forward(self, y: np.ndarray) -> np.ndarray:
        if self.kind == "rank":
            return (rankdata(y) - 0.5) / len(y)
        return np.log(y) if self.kind == "log" else y

    def back(self, z: np.ndarray) -> np.ndarray:
        if self.kind == "rank":
            return np.quantile(self.sorted, np.clip(z, 0.0, 1.0))
        return np.exp(z) if self.kind == "log" else z


def _spearman(y: np.ndarray, p: np.ndarray) -> float:
    return float(spearmanr(y, p).statistic) if np.ptp(p) > 0 and np.ptp(y) > 0 else 0.0


@dataclass
class Fitted:
    """A fitted proxy: the model, how it maps back to the teacher's scale, its fold models."""

    name: str
    model: object
    target: Target | None  # None for a binary teacher (the proxy is P(teacher = 1))
    folds: list[object]
    cv: dict[str, float]

    def predict(self, x: np.ndarray) -> np.ndarray:
        if self.target is None:
            return self.model.predict_proba(x)[:, 1]
        return self.target.back(self.model.predict(x))

    def spread(self, x: np.ndarray) -> np.ndarray:
        """Disagreement of the fold models on each row: the uncertainty active sampling uses."""
        if self.target is None:
            return -np.abs(self.predict(x) - 0.5)
        return np.std([f.predict(x) for f in self.folds], axis=0)


def fit(x: np.ndarray, y: np.ndarray, model: str, target: str, seed: int, folds: int = 5) -> Fitted:
    """Cross-validate the candidates (or only ``model``), refit the best on all of ``x``.

    One OpenMP thread: a few thousand teacher rows gain nothing from more, and HistGradientBoosting's
    spinning threads were 24x slower on a busy 2-core machine (37 s against 1.5 s for one fit).
    """
    with threadpool_limits(limits=1, user_api="openmp"):
        return _fit(x, y, model, target, seed, folds)


def _fit(x: np.ndarray, y: np.ndarray, model: str, target: str, seed: int, folds: int) -> Fitted:
    binary = is_binary(y)
    pool = candidates(binary, seed)
    if model != "auto" and model not in pool:
        kind = "binary" if binary else "continuous"
        raise UserError(f"model {model!r} does not fit a {kind} teacher; use one of auto, {', '.join(pool)}")
    chosen = pool if model == "auto" else {model: pool[model]}
    tgt = None if binary else Target(target, y)
    z = y.astype(int) if binary else tgt.forward(y)
    scorer = "roc_auc" if binary else make_scorer(_spearman)
    splits = KFold(min(folds, len(y)), shuffle=True, random_state=seed)
    cv, fold_models = {}, {}
    for name, est in chosen.items():
        res = cross_validate(est, x, z, cv=splits, scoring=scorer, return_estimator=True)
        cv[name], fold_models[name] = float(np.mean(res["test_score"])), res["estimator"]
    best = max(cv, key=cv.get)
    return Fitted(best, clone(pool[best]).fit(x, z), tgt, fold_models[best], cv)


def refit(fitted: Fitted, x: np.ndarray, y: np.ndarray, target: str) -> Fitted:
    """The same kind of model fitted on more rows (no new cross-validation): the applied model."""
    tgt = None if fitted.target is None else Target(target, y)
    z = y.astype(int) if tgt is None else tgt.forward(y)
    with threadpool_limits(limits=1, user_api="openmp"):
        model = clone(fitted.model).fit(x, z)
    return Fitted(fitted.name, model, tgt, fitted.folds, fitted.cv)


def top_k_overlap(teacher: np.ndarray, proxy: np.ndarray, frac: float, better: str = "high") -> float:
    """Of the teacher's top ``frac`` rows, the share that is also in the proxy's top ``frac``."""
    k = max(1, round(frac * len(teacher)))
    sign = -1.0 if better == "high" else 1.0
    top_t = set(np.argsort(sign * teacher, kind="stable")[:k].tolist())
    top_p = set(np.argsort(sign * proxy, kind="stable")[:k].tolist())
    return len(top_t & top_p) / k


def spearman_interval(rho: float, n: int) -> tuple[float, float]:
    """The 95% interval of a Spearman correlation from ``n`` rows (Fisher z, with the Bonett-Wright
    variance 1.06 / (n - 3)); (-1, 1) when too few rows to say anything."""
    if n <= 3 or not np.isfinite(rho):
        return (-1.0, 1.0)
    z, half = np.arctanh(np.clip(rho, -0.999999, 0.999999)), 1.96 * np.sqrt(1.06 / (n - 3))
    return (float(np.tanh(z - half)), float(np.tanh(z + half)))


def agreement(teacher: np.ndarray, proxy: np.ndarray, better: str) -> dict[str, float]:
    """Spearman with its 95% interval, R² (AUROC for a binary teacher) and top-k overlap on held-out rows."""
    out: dict[str, Any] = {"rows": int(len(teacher)), "spearman": _spearman(teacher, proxy)}
    out["spearman_ci"] = list(spearman_interval(out["spearman"], len(teacher)))  # a list, as JSON reads it back
    if is_binary(teacher):
        out["auroc"] = float(roc_auc_score(teacher, proxy)) if len(set(teacher.tolist())) == 2 else float("nan")
    else:
        out["r2"] = float(r2_score(teacher, proxy))
    for frac in TOP_K:
        out[f"top{round(frac * 100)}"] = top_k_overlap(teacher, proxy, frac, better)
    return out
