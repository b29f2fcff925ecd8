"""curate/app/ratings.py: win rates with bootstrap CIs and Bradley-Terry ratings from votes."""

from __future__ import annotations

import numpy as np

from curate.app.ratings import bradley_terry, win_rates


def _votes(spec):
    return [{"variant_a": a, "variant_b": b, "outcome": o} for a, b, o, n in spec for _ in range(n)]


def test_win_rates_counts_and_ci():
    votes = _votes([("x", "y", "a", 6), ("y", "x", "a", 2), ("x", "y", "tie", 2)])
    df = win_rates(votes, n_boot=500).set_index("variant")
    x = df.loc["x"]
    assert (x.n, x.wins, x.losses, x.ties) == (10, 6, 2, 2)
    assert np.isclose(x.win_rate, 0.7) and np.isclose(df.loc["y"].win_rate, 0.3)
    assert x.ci_low < 0.7 < x.ci_high and x.ci_low >= 0 and x.ci_high <= 1
    assert list(df.index) == ["x", "y"]  # best first


def test_ci_narrows_with_more_votes():
    few = win_rates(_votes([("x", "y", "a", 3), ("x", "y", "b", 1)])).set_index("variant").loc["x"]
    many = win_rates(_votes([("x", "y", "a", 300), ("x", "y", "b", 100)])).set_index("variant").loc["x"]
    assert (many.ci_high - many.ci_low) < (few.ci_high - few.ci_low)


def test_bradley_terry_orders_variants():
    votes = _votes([("a", "b", "a", 8), ("a", "b", "b", 2), ("b", "c", "a", 8), ("b", "c", "b", 2),
                    ("a", "c", "a", 5)])
    df = bradley_terry(votes, n_boot=50)
    assert list(df.variant) == ["a", "b", "c"]
    assert np.isclose(df.rating.mean(), 1000.0)
    assert (df.ci_low <= df.rating + 1e-6).all() and (df.rating <= df.ci_high + 1e-6).all()


def test_one_sided_and_empty():
    df = bradley_terry(_votes([("a", "b", "a", 3)]), n_boot=10)
    assert df.iloc[0].variant == "a" and np.isfinite(df.rating).all() and df.iloc[0].rating > 1000
    ties = bradley_terry(_votes([("a", "b", "tie", 4)]), n_boot=0)
    assert np.allclose(ties.rating, 1000.0)
    assert win_rates([]).empty and bradley_terry([]).empty
