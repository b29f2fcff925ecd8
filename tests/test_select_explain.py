"""A short subset never comes back silently: the fill, the one-line warning, and `--explain`."""

import json
import logging

import numpy as np
import pandas as pd
from helpers import recipe

from curate.cli import main as cli
from curate.pipeline import run
from curate.selection import explain, select, shortfall


def _df(n: int = 100) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    return pd.DataFrame({
        "id": [f"r{i:03d}" for i in range(n)], "row": np.arange(n),
        "messages": [[{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"a{i}"}] for i in range(n)],
        "reward": rng.normal(size=n), "ends_ok": np.arange(n) % 4 == 0, "turns": np.where(np.arange(n) < 10, 9, 2),
    })


def test_filter_parts_count_rows_removed_and_removed_alone():
    df = _df()
    sel = select(df, filter="ends_ok and turns <= 8", rank="reward", budget=50)
    ends = ~df["ends_ok"]
    turns = df["turns"] > 8
    assert sel.rules == {"ends_ok": {"removed": int(ends.sum()), "alone": int((ends & ~turns).sum())},
                         "turns <= 8": {"removed": int(turns.sum()), "alone": int((turns & ~ends).sum())}}
    assert sel.fill == {"selected": len(sel.selected), "budget": 50}


def test_a_short_subset_warns_in_one_line_naming_the_rules():
    sel = select(_df(), filter="ends_ok and turns <= 8", rank="reward", budget=50)
    msg = shortfall(sel, "runs/x")
    assert msg is not None and "\n" not in msg
    assert msg.startswith(f"subset 'subset' filled {len(sel.selected)} of 50 rows (")
    assert "filter: ends_ok removed 75 (" in msg and "by it alone" in msg
    assert msg.endswith("See `curate select runs/x --explain subset`")


def test_no_warning_when_full_or_when_the_pool_is_the_limit():
    df = _df()
    assert shortfall(select(df, rank="reward", budget=50)) is None  # filled
    assert shortfall(select(df, rank="reward", budget=500)) is None  # no rule removed anything: pool too small
    assert shortfall(select(df, filter="ends_ok", rank="reward", budget=26)) is None  # 25 of 26 is >= 95%


def test_explain_lists_each_rule_with_examples():
    df = _df()
    sel = select(df, filter="ends_ok and turns <= 8", rank="reward", budget=50)
    rules = explain(sel, df, examples=2)
    assert [r["rule"] for r in rules] == ["filter: ends_ok", "filter: turns <= 8"]
    first = rules[0]["examples"][0]
    assert set(first) == {"id", "question", "answer"} and first["answer"] == f"a{int(first['id'][1:])}"


def test_run_warns_records_fill_and_explains(dirty_jsonl, tmp_path, caplog, capsys):
    r = recipe(dirty_jsonl, tmp_path / "run")
    r["subsets"] = [{"name": "tight", "filter": "assistant_chars > 10000", "rank": {"assistant_chars": 1.0},
                     "budget": 10}]
    with caplog.at_level(logging.WARNING, logger="curate.pipeline"):
        run(r, progress=False)
    warned = [rec.getMessage() for rec in caplog.records if rec.levelno == logging.WARNING]
    assert len(warned) == 1 and warned[0].startswith("subset 'tight' filled 0 of 10 rows (0%)")
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["fill"] == {"tight": {"selected": 0, "budget": 10}}
    assert cli(["select", str(tmp_path / "run"), "--explain", "tight"]) == 0
    out = capsys.readouterr().out
    assert "subset 'tight': 0 of 10 rows selected" in out and "filter: assistant_chars > 10000: removed" in out
    assert cli(["select", str(tmp_path / "run"), "--explain", "nope"]) == 2
    assert "no subset 'nope'" in capsys.readouterr().err
