"""Human judgement as numbers: per-variant win rates with bootstrap confidence intervals, and
Bradley-Terry ratings on the Elo scale (fitted as a logistic regression, as Chatbot Arena does)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

# A tie (or "both bad") counts half a win for each side.
_SCORE_A = {"a": 1.0, "b": 0.0, "tie": 0.5, "both_bad": 0.5}


def _pairs(votes: Sequence[dict[str, Any]]) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    names = sorted({v["variant_a"] for v in votes} | {v["variant_b"] for v in votes})
    index = {n: i for i, n in enumerate(names)}
    a = np.array([index[v["variant_a"]] for v in votes], dtype=np.int64)
    b = np.array([index[v["variant_b"]] for v in votes], dtype=np.int64)
    s = np.array([_SCORE_A[v["outcome"]] for v in votes], dtype=np.float64)
    return names, a, b, s


def _rates(k: int, a: np.ndarray, b: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Win rate of each of ``k`` variants over the votes it appears in (NaN if none)."""
    won = np.bincount(a, weights=s, minlength=k) + np.bincount(b, weights=1 - s, minlength=k)
    n = np.bincount(a, minlength=k) + np.bincount(b, minlength=k)
    with np.errstate(invalid="ignore", divide="ignore"):
        return won / n


def win_rates(votes: Sequence[dict[str, Any]], n_boot: int = 1000, level: float = 0.95,
              seed: int = 0) -> pd.DataFrame:
    """One row per variant: votes, wins, losses, ties, win rate and its percentile bootstrap CI.

    The bootstrap resamples whole votes, so the interval reflects how few votes there are.
    """
    cols = ["variant", "n", "wins", "losses", "ties", "win_rate", "ci_low", "ci_high"]
    if not votes:
        return pd.DataFrame(columns=cols)
    names, a, b, s = _pairs(votes)
    k = len(names)
    rate = _rates(k, a, b, s)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(s), size=(n_boot, len(s)))
    boots = np.stack([_rates(k, a[i], b[i], s[i]) for i in idx])
    lo, hi = np.nanpercentile(boots, [100 * (1 - level) / 2, 100 * (1 + level) / 2], axis=0)
    rows = []
    for j, name in enumerate(names):
        as_a, as_b = a == j, b == j
        wins = int(np.sum(as_a & (s == 1)) + np.sum(as_b & (s == 0)))
        losses = int(np.sum(as_a & (s == 0)) + np.sum(as_b & (s == 1)))
        n = int(np.sum(as_a) + np.sum(as_b))
        rows.append([name, n, wins, losses, n - wins - losses, rate[j], lo[j], hi[j]])
    return pd.DataFrame(rows, columns=cols).sort_values("win_rate", ascending=False, ignore_index=True)


def _bt_fit(k: int, a: np.ndarray, b: np.ndarray, s: np.ndarray, c: float) -> np.ndarray:
    from sklearn.linear_model import LogisticRegression

    # Each vote is a row with +1 for A and -1 for B; a tie becomes half a win each way (sample weights).
    x = np.zeros((2 * len(s), k))
    rows = np.arange(len(s))
    x[rows, a] = 1.0
    x[rows, b] = -1.0
    x[len(s) + rows] = x[rows]
    y = np.r_[np.ones(len(s)), np.zeros(len(s))]
    w = np.r_[s, 1 - s]
    keep = w > 0
    if len(np.unique(y[keep])) < 2:  # one class only (every vote went the same way): mirror it
        x, y, w = np.r_[x, -x], np.r_[y, 1 - y], np.r_[w, w] * 0.5
        keep = w > 0
    model = LogisticRegression(fit_intercept=False, C=c, max_iter=1000)
    model.fit(x[keep], y[keep], sample_weight=w[keep])
    return model.coef_[0]


def bradley_terry(votes: Sequence[dict[str, Any]], scale: float = 400.0, base: float = 1000.0,
                  c: float = 1.0, n_boot: int = 200, seed: int = 0) -> pd.DataFrame:
    """Bradley-Terry ratings on the Elo scale (``base`` = average), with bootstrap 95% intervals.

    ``c`` is the inverse strength of an L2 prior that keeps ratings finite when one variant has won
    every vote so far; with many votes it hardly matters.
    """
    cols = ["variant", "rating", "ci_low", "ci_high", "n"]
    if not votes:
        return pd.DataFrame(columns=cols)
    names, a, b, s = _pairs(votes)
    k = len(names)
    to_elo = scale / math.log(10)

    def fit(i: np.ndarray) -> np.ndarray:
        coef = _bt_fit(k, a[i], b[i], s[i], c)
        return base + to_elo * (coef - coef.mean())

    point = fit(np.arange(len(s)))
    rng = np.random.default_rng(seed)
    boots = np.stack([fit(rng.integers(0, len(s), len(s))) for _ in range(n_boot)]) if n_boot else point[None]
    lo, hi = np.percentile(boots, [2.5, 97.5], axis=0)
    n = np.bincount(a, minlength=k) + np.bincount(b, minlength=k)
    df = pd.DataFrame({"variant": names, "rating": point, "ci_low": lo, "ci_high": hi, "n": n})
    return df.sort_values("rating", ascending=False, ignore_index=True)


def pairwise_matrix(votes: Sequence[dict[str, Any]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(win share, vote count) of every row variant against every column variant, from both sides of each
    vote; a tie or "both bad" counts half. Cells of pairs that never met are NaN / 0."""
    names, a, b, s = _pairs(votes) if votes else ([], np.array([], int), np.array([], int), np.array([]))
    k = len(names)
    won, n = np.zeros((k, k)), np.zeros((k, k), dtype=np.int64)
    np.add.at(won, (a, b), s)
    np.add.at(won, (b, a), 1 - s)
    np.add.at(n, (a, b), 1)
    np.add.at(n, (b, a), 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(n > 0, won / np.maximum(n, 1), np.nan)
    return pd.DataFrame(share, index=names, columns=names), pd.DataFrame(n, index=names, columns=names)


# A win rate's 95% interval is about +-1.96 * sqrt(p(1-p)/n) = +-0.98/sqrt(n) near 0.5: narrower than +-0.15
# (enough to tell 0.5 from 0.65) takes n >= 43. Below about 40 votes a rate is shown as provisional.
PROVISIONAL_VOTES = 40


def never_met(votes: Sequence[dict[str, Any]], names: Sequence[str]) -> list[tuple[str, str]]:
    """Pairs of ``names`` with no vote between them: their order comes only through other variants."""
    _, count = pairwise_matrix(votes)
    out = []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            if a not in count.index or b not in count.index or count.loc[a, b] == 0:
                out.append((a, b))
    return out


def pair_weights(names: Sequence[str], votes: Sequence[dict[str, Any]],
                 mode: str = "adaptive") -> dict[tuple[str, str], float]:
    """How likely each pair is to be drawn for the next battle.

    "uniform": every pair alike. "adaptive" (as Chatbot Arena samples): each pair in proportion to how
    much one more vote narrows its interval, 1/sqrt(n) - 1/sqrt(n + 1) for n votes so far (1 for a pair
    that never met), times the vote's variance p(1 - p) (a lopsided pair is settled sooner), and a
    quarter of that when the two variants' win-rate intervals no longer overlap. No pair drops below
    2% of the largest weight, so every pair keeps being checked.
    """
    pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1:]]
    if mode == "uniform" or not votes:
        return dict.fromkeys(pairs, 1.0)
    share, count = pairwise_matrix(votes)
    wr = win_rates(votes, n_boot=200).set_index("variant")
    out = {}
    for a, b in pairs:
        n = int(count.loc[a, b]) if a in count.index and b in count.index else 0
        if n == 0:
            out[(a, b)] = 1.0
            continue
        p = (float(share.loc[a, b]) * n + 1) / (n + 2)  # smoothed: 0 or 1 after one vote is not settled
        w = (1 / math.sqrt(n) - 1 / math.sqrt(n + 1)) * 4 * p * (1 - p)
        apart = wr.loc[a, "ci_low"] > wr.loc[b, "ci_high"] or wr.loc[b, "ci_low"] > wr.loc[a, "ci_high"]
        out[(a, b)] = w * (0.25 if apart else 1.0)
    top = max(out.values())
    return {k: max(v, 0.02 * top) for k, v in out.items()}


def pick_pair(names: Sequence[str], votes: Sequence[dict[str, Any]], rng: Any,
              mode: str = "adaptive") -> tuple[str, str]:
    """Two variants for the next battle (``pair_weights``), in random order (A/B position is random)."""
    weights = pair_weights(names, votes, mode)
    pairs = list(weights)
    a, b = rng.choices(pairs, weights=[weights[p] for p in pairs])[0]
    return (a, b) if rng.random() < 0.5 else (b, a)


def voter_agreement(votes: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """Per voter: votes, decisive votes (not a tie or 'both bad'), and how often a decisive vote agrees
    with the other voters' majority on the same pair (leave-one-out; pairs nobody else decided are
    skipped). A voter far below the others is voting at random or against the grain."""
    cols = ["voter", "votes", "decisive", "compared", "agreement"]
    named = [v for v in votes if v.get("voter")]
    if not named:
        return pd.DataFrame(columns=cols)
    tally: dict[tuple[str, str, str], float] = {}  # (voter, winner, loser) -> decisive votes
    for v in named:
        if v["outcome"] in ("a", "b"):
            win, lose = (v["variant_a"], v["variant_b"]) if v["outcome"] == "a" else (v["variant_b"], v["variant_a"])
            tally[(v["voter"], win, lose)] = tally.get((v["voter"], win, lose), 0) + 1
    rows = []
    for voter in sorted({v["voter"] for v in named}):
        mine = [k for k in tally if k[0] == voter]
        agree = compared = 0.0
        for _, win, lose in mine:
            others_for = sum(n for (w, x, y), n in tally.items() if w != voter and (x, y) == (win, lose))
            others_against = sum(n for (w, x, y), n in tally.items() if w != voter and (x, y) == (lose, win))
            if others_for == others_against:
                continue
            n = tally[(voter, win, lose)]
            compared += n
            agree += n if others_for > others_against else 0
        total = sum(1 for v in named if v["voter"] == voter)
        decisive = sum(tally[k] for k in mine)
        rows.append([voter, total, int(decisive), int(compared), agree / compared if compared else float("nan")])
    return pd.DataFrame(rows, columns=cols)
