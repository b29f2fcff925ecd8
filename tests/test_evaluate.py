"""Evaluation on tiny models: answers, held-out loss on an untouched split, win rates with CIs."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import make_run

from curate.errors import UserError
from curate.train.config import EvaluateConfig
from curate.train.evaluate import evaluate_run, pairwise
from curate.train.prompt_set import load_prompts
from curate.train.stats import bootstrap_ci, length_controlled_win_rate

PROMPTS = [{"id": "p1", "prompt": "Say hello."}, {"id": "p2", "prompt": "Count to three."},
           {"id": "p3", "prompt": "Name a colour."}]


def test_bootstrap_ci_covers_the_mean():
    vals = np.r_[np.ones(30), np.zeros(20)]
    lo, hi = bootstrap_ci(vals)
    assert lo < 0.6 < hi and lo > 0.4 and hi < 0.8
    assert bootstrap_ci([1.0, 1.0]) == (1.0, 1.0)


def test_length_controlled_removes_length_bias():
    rng = np.random.default_rng(0)
    la = rng.integers(10, 200, 60)
    lb = np.full(60, 100)
    wins = (la > lb).astype(float)  # the judge only likes longer answers
    raw = wins.mean()
    lc = length_controlled_win_rate(wins, la, lb)
    assert abs(lc - 0.5) < abs(raw - 0.5) + 0.05
    assert length_controlled_win_rate([1, 0, 1], [5, 5, 5], [5, 5, 5]) == pytest.approx(2 / 3)


class _PositionBiased:
    name = "always-first"

    def prefer(self, prompt, a, b):
        return 0.9


def test_both_orders_cancel_position_bias():
    prompts = load_prompts(PROMPTS)
    answers = {(p["id"], v): {"answer": f"{v} says hi", "tokens": 3} for p in prompts for v in ("x", "base")}
    row = pairwise(_PositionBiased(), prompts, answers, "x", "base")
    assert row["ties"] == 3 and row["win_rate"] == 0.5


def test_prompt_formats_and_errors(tmp_path):
    f = tmp_path / "p.jsonl"
    f.write_text('{"question_id": 81, "turns": ["Plan a trip.", "Shorter."]}\n{"instruction": "Add", "input": "2+2"}\n'
                 '{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "ref"}]}\n')
    ps = load_prompts(f)
    assert [p["id"] for p in ps] == ["81", "1", "2"]
    assert ps[0]["messages"][0]["content"] == "Plan a trip." and ps[1]["messages"][0]["content"] == "Add\n\n2+2"
    assert ps[2]["messages"] == [{"role": "user", "content": "hi"}]
    assert len(load_prompts()) >= 20  # the shipped set
    with pytest.raises(UserError, match="not found"):
        load_prompts(tmp_path / "none.jsonl")
    with pytest.raises(UserError, match="needs"):
        load_prompts([{"question": "?"}])
    with pytest.raises(UserError, match="duplicate"):
        load_prompts([{"id": 1, "prompt": "a"}, {"id": 1, "prompt": "b"}])


def test_a_malformed_prompt_line_is_named(tmp_path):
    f = tmp_path / "p.jsonl"
    f.write_text('{"prompt": "fine"}\n\n{"prompt": "cut\n')
    with pytest.raises(UserError, match=r"p\.jsonl line 3: not valid JSON"):
        load_prompts(f)
    f.write_text('{"prompt": "fine"}\n[1, 2]\n')
    with pytest.raises(UserError, match=r"p\.jsonl line 2: a prompt is a JSON object or string, got list"):
        load_prompts(f)
    (tmp_path / "p.json").write_text('{"prompt": "not a list"}')
    with pytest.raises(UserError, match="holds a list"):
        load_prompts(tmp_path / "p.json")


def test_evaluate_settings_are_checked_before_any_work(tmp_path):
    with pytest.raises(UserError, match="bad evaluation settings.*n_prompts"):
        evaluate_run(tmp_path, n_prompts=0)
    with pytest.raises(UserError, match="bad evaluation settings.*min_p"):
        evaluate_run(tmp_path, EvaluateConfig(), min_p=1.0)
    assert EvaluateConfig(max_new_tokens=6, seed=3).sampling.max_new_tokens == 6


def test_evaluate_run_win_rates_with_cis(tmp_path, tiny_lm_dir, tiny_reward_dir):
    from curate.train.matrix import train_run

    run = make_run(tmp_path, {"quality": 6, "random": 6}, pool=5)
    with pytest.raises(UserError, match="no trained variants"):
        evaluate_run(run, judge=f"reward:{tiny_reward_dir}", prompts=PROMPTS)
    train_run(run, model=str(tiny_lm_dir), max_steps=1, max_length=96)
    res = evaluate_run(run, judge=f"reward:{tiny_reward_dir}", prompts=PROMPTS, max_new_tokens=6, heldout_rows=4,
                       device="cpu")
    ev = run / "eval"
    rows = [json.loads(x) for x in (ev / "answers.jsonl").read_text().splitlines()]
    assert len(rows) == 9 and {r["variant"] for r in rows} == {"base", "quality", "random"}
    assert all(set(r) >= {"prompt_id", "prompt", "variant", "answer", "tokens", "seconds"} for r in rows)
    wr = json.loads((ev / "winrates.json").read_text())
    assert {(r["variant"], r["opponent"]) for r in wr} == {("quality", "base"), ("random", "base"),
                                                          ("quality", "random")}
    for r in wr:
        assert r["n"] == 3 and r["wins"] + r["losses"] + r["ties"] == 3
        assert r["ci_low"] <= r["win_rate"] <= r["ci_high"] and 0 <= r["lc_win_rate"] <= 1
        assert r["judge"].startswith("reward:") and r["mean_tokens"] > 0
    held = json.loads((ev / "heldout.json").read_text())
    assert held["rows"] == 4 and held["excluded_as_training"] == 12
    assert {x["variant"] for x in held["losses"]} == {"base", "quality", "random"}
    ids = set(json.loads((ev / "heldout_ids.json").read_text())["ids"])
    import pyarrow.parquet as pq

    trained = set(pq.read_table(run / "subsets" / "quality" / "data.parquet").column("id").to_pylist())
    assert ids and not ids & trained
    for f in ("results.md", "winrates.png"):
        assert (ev / f).exists()
    assert res["answers"] == 9
    # answers are reused when nothing changed: the same settings given as a config object
    before = (ev / "answers.jsonl").read_text()
    evaluate_run(run, EvaluateConfig(max_new_tokens=6, heldout_rows=4, device="cpu"),
                 judge=f"reward:{tiny_reward_dir}", prompts=PROMPTS)
    assert (ev / "answers.jsonl").read_text() == before


def test_lm_judge_gives_a_probability(tiny_lm_dir):
    from curate.train.judge import make_judge

    judge = make_judge(str(tiny_lm_dir))
    assert judge.name.startswith("lm:")
    p = judge.prefer([{"role": "user", "content": "hi"}], "hello there", "go away")
    assert 0.0 < p < 1.0
