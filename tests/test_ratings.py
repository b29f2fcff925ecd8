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


def test_adaptive_pairing_favours_pairs_with_few_votes():
    import random

    from curate.app.ratings import never_met, pair_weights, pick_pair

    votes = _votes([("a", "b", "a", 30), ("a", "c", "b", 30)])  # b vs c never met
    names = ["a", "b", "c"]
    assert never_met(votes, names) == [("b", "c")]
    w = pair_weights(names, votes)
    assert w[("b", "c")] > 10 * w[("a", "b")] and w[("b", "c")] > 10 * w[("a", "c")]
    assert min(w.values()) >= 0.02 * max(w.values())  # no pair starves
    assert set(pair_weights(names, votes, "uniform").values()) == {1.0}
    rng = random.Random(0)
    drawn = [frozenset(pick_pair(names, votes, rng)) for _ in range(200)]
    assert drawn.count(frozenset("bc")) > 150  # the unmeasured pair comes first
    uniform = [frozenset(pick_pair(names, votes, rng, "uniform")) for _ in range(300)]
    assert 60 < uniform.count(frozenset("bc")) < 140


def test_voter_agreement_leave_one_out():
    from curate.app.ratings import voter_agreement

    votes = [{"variant_a": "a", "variant_b": "b", "outcome": o, "voter": v}
             for v, o in [("ann", "a"), ("bob", "a"), ("cat", "a"), ("eve", "b"), ("eve", "tie")]]
    agree = voter_agreement(votes).set_index("voter")
    assert agree.loc["ann", "agreement"] == 1.0  # the others: 2 for a (bob, cat), 1 for b (eve)
    assert agree.loc["eve", "votes"] == 2 and agree.loc["eve", "decisive"] == 1
    assert agree.loc["eve", "agreement"] == 0.0  # the others: 3 for a
    assert voter_agreement([{"variant_a": "a", "variant_b": "b", "outcome": "a"}]).empty  # anonymous votes
