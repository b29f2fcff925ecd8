"""Filter expressions: what they accept, how nulls behave, and how unsafe input is refused."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from curate.errors import UserError
from curate.selection.expr import parse_filter


@pytest.fixture
def df() -> pd.DataFrame:
    return pd.DataFrame({
        "id": ["a", "b", "c", "d"],
        "reward": [0.9, 0.2, np.nan, 0.7],
        "turns": [2, 10, 4, 6],
        "source": ["x", "y", "x", None],
        "truncated": [False, True, None, False],
        "chars": [100, 200, 0, 50],
        "assistant_chars": [60, 20, 0, 40],
    })


@pytest.mark.parametrize(("text", "expected"), [
    ("reward > 0.5 and turns <= 8", [True, False, False, True]),
    ("source in ['x', 'y']", [True, True, True, False]),
    ('source not in ["x"]', [False, True, False, False]),
    ("not truncated", [True, False, False, True]),
    ("reward < 0.5 or turns < 5", [True, True, True, False]),
    ("assistant_chars / chars > 0.3", [True, False, False, True]),
    ("0.5 < reward <= 0.9", [True, False, False, True]),
    ("-reward < -0.8", [True, False, False, False]),
    ("abs(reward - 0.5) > 0.25", [True, True, False, False]),
    ("isnull(reward)", [False, False, True, False]),
    ("max(reward, 0.8) == 0.8 and notnull(source)", [False, True, False, False]),
    ("source == 'x'", [True, False, True, False]),
    ("source != 'x'", [False, True, False, False]),
])
def test_expressions(df, text, expected):
    assert parse_filter(text).mask(df).tolist() == expected


def test_null_never_passes_a_comparison_even_negated(df):
    # reward is null in row c: neither 'reward > 0.5' nor 'not (reward > 0.5)' lets it through
    assert not parse_filter("reward > 0.5").mask(df)[2]
    assert not parse_filter("not (reward > 0.5)").mask(df)[2]
    assert not parse_filter("source != 'z'").mask(df)[3]


def test_first_failure_names_the_conjunct(df):
    fails = parse_filter("reward > 0.5 and turns <= 8").first_failure(df)
    assert fails.tolist() == [None, "reward > 0.5", "reward > 0.5", None]
    assert parse_filter("turns < 5 and reward > 0.5").first_failure(df).tolist() == [
        None, "turns < 5", "reward > 0.5", "turns < 5"]


@pytest.mark.parametrize(("text", "message"), [
    ("__import__('os').system('x')", "only these functions"),
    ("open('/etc/passwd')", "only these functions"),
    ("reward.real > 0", "attribute access"),
    ("source[0] == 'x'", "indexing"),
    ("(lambda: 1)()", "only these functions"),
    ("[x for x in turns]", "ListComp"),
    ("reward >", "cannot parse"),
    ("reward = 1", "use == to compare"),
    ("_secret > 1", "'_'"),
    ("reward > 0.5 if turns else 1", "IfExp"),
    ("abs(x=reward) > 1", "keyword"),
    ("", "non-empty"),
])
def test_unsafe_or_malformed_is_refused(text, message):
    with pytest.raises(UserError, match=message):
        parse_filter(text)


def test_unknown_column_lists_available(df):
    with pytest.raises(UserError, match=r"unknown column 'rewrd'; available: id, reward, turns"):
        parse_filter("rewrd > 0.5").mask(df)


@pytest.mark.parametrize(("text", "message"), [
    ("source", "not a true/false condition"),
    ("source > 1", "cannot compare"),
    ("1 > 2", "two constants"),
    ("source + 1 > 2", "not numeric"),
    ("turns in [reward]", "constants, not columns"),
])
def test_type_errors_are_user_errors(df, text, message):
    with pytest.raises(UserError, match=message):
        parse_filter(text).mask(df)


def test_numeric_column_as_condition_and_division_by_zero(df):
    assert parse_filter("turns").mask(df).tolist() == [True, True, True, True]
    # chars is 0 in row c: 0/0 is unknown, so the row fails rather than erroring
    assert parse_filter("assistant_chars / chars >= 0").mask(df).tolist() == [True, True, False, True]
