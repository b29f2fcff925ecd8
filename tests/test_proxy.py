"""Distilled proxies on synthetic data: no model loads, seconds in all."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from scipy.stats import spearmanr

import curate
from curate.errors import UserError
from curate.proxy import ProxyConfig, distill, parse_proxy
from curate.proxy.fit import top_k_overlap
from curate.proxy.report import html_section
from curate.proxy.sample import draw, strata
from curate.rundir import RunDir

N, DIM = 400, 16


def _messages(i: int, rng: np.random.Generator) -> list[dict]:
    words = " ".join(f"w{int(x)}" for x in rng.integers(0, 50, size=5 + (i % 40) * 3))
    return [{"role": "user", "content": f"question {i}?"}, {"role": "assistant", "content": f"{words}."}]


@pytest.fixture
def run(tmp_path):
    """A run dir: conversations (two sources), a stored embedding key and a teacher column that is
    a known linear function of the embedding plus a little noise."""
    rng = np.random.default_rng(0)
    ids = [f"id{i:04d}" for i in range(N)]
    RunDir(tmp_path).write_conversations(pa.table({
        "id": ids, "messages": [_messages(i, rng) for i in range(N)],
        "source": ["a" if i % 4 else "b" for i in range(N)]}))
    emb = rng.normal(size=(N, DIM)).astype(np.float16)
    weights = rng.normal(size=DIM)
    truth = emb.astype(np.float64) @ weights + rng.normal(scale=0.05, size=N)
    store = RunDir(tmp_path).score_store()
    store.append("synth-emb", pa.table({"id": ids, "embedding": pa.array(list(emb), pa.list_(pa.float16()))}))
    store.write_meta("synth-emb", {"name": "synth", "columns": ["embedding"]})
    store.append("teach-1", pa.table({"id": ids, "quality": truth}))
    store.write_meta("teach-1", {"name": "teach", "columns": ["quality"]})
    return tmp_path, pd.Series(truth, index=ids)


def _cfg(**kw):
    return {"column": "quality", "features": ["synth-emb"], "sample": 200, "model": "ridge", "target": "raw", **kw}


def test_recovers_a_linear_score(run):
    path, truth = run
    result = distill(path, _cfg(), progress=False)
    got = curate.scores(path, [result.key]).set_index("id")
    assert spearmanr(got["quality_proxy"], truth.reindex(got.index)).statistic > 0.95
    assert result.agreement["spearman"] > 0.95 and result.agreement["top25"] > 0.8
    sampled = got["quality_teacher_scored"]
    assert sampled.sum() == 200  # _best is the teacher's value there, the proxy's elsewhere
    assert np.allclose(got.loc[sampled, "quality_best"], truth[got.index[sampled]])
    assert np.allclose(got.loc[~sampled, "quality_best"], got.loc[~sampled, "quality_proxy"])
    meta = RunDir(path).score_store().meta(result.key)
    assert meta["teacher_key"] == "teach-1" and meta["agreement"]["rows"] == result.agreement["rows"]
    assert (path / "scores" / result.key / "calibration.png").stat().st_size > 1000
    assert "quality_proxy" in result.table() and "spearman" in result.table()
    section = html_section(path)
    assert "Distilled proxies" in section and "quality_proxy" in section and "data:image/png;base64," in section


def test_sample_is_stratified_and_deterministic():
    frame = pd.DataFrame({"id": [f"r{i}" for i in range(1000)],
                          "source": ["big"] * 800 + ["small"] * 200, "tokens": np.arange(1000) % 97})
    ids = draw(frame, 100, ["source", "length"], 4, seed=3)
    assert len(ids) == 100 and ids == draw(frame.sample(frac=1, random_state=1), 100, ["source", "length"], 4, 3)
    chosen = frame[frame["id"].isin(ids)]
    labels = strata(frame, ["source", "length"], 4)
    want = labels.value_counts() * 100 / 1000
    got = labels[chosen.index].value_counts().reindex(want.index, fill_value=0)
    assert (abs(got - want) < 1).all()  # every source x length bucket in proportion
    assert set(ids) <= set(draw(frame, 300, ["source", "length"], 4, seed=3))  # nested: growing re-uses
    assert ids != draw(frame, 100, ["source", "length"], 4, seed=4)


def test_rerun_reuses_teacher_and_new_settings_give_new_keys(run):
    path, _ = run
    cfg = {"teacher": "heuristics", "column": "words", "features": ["synth-emb"], "sample": 120,
           "stratify": ["source"], "model": "ridge"}
    first = distill(path, cfg, progress=False)
    assert first.costs["teacher_rows_scored_now"] == 120
    again = distill(path, cfg, progress=False)
    assert again.costs["teacher_rows_scored_now"] == 0 and again.key == first.key
    bigger = distill(path, {**cfg, "sample": 150}, progress=False)
    assert bigger.costs["teacher_rows_scored_now"] == 30  # the larger sample contains the smaller
    assert bigger.key != first.key
    assert distill(path, {**cfg, "model": "hgb"}, progress=False).key not in {first.key, bigger.key}


def test_top_k_overlap_hand_example():
    teacher = np.array([10, 9, 8, 7, 6, 5, 4, 3, 2, 1.0])
    proxy = np.array([10, 1, 8, 7, 6, 5, 4, 3, 2, 9.0])  # the proxy swaps the 2nd and the last row
    assert top_k_overlap(teacher, proxy, 0.2) == 0.5  # teacher top-2 {0, 1}, proxy top-2 {0, 9}
    assert top_k_overlap(teacher, proxy, 0.5) == 0.8
    assert top_k_overlap(teacher, proxy, 0.2, better="low") == 0.5  # teacher {9, 8}, proxy {1, 8}


def test_clear_errors(run):
    path, _ = run
    with pytest.raises(UserError, match="teacher column 'nope' is not in the score store"):
        distill(path, _cfg(column="nope"), progress=False)
    with pytest.raises(UserError, match="larger than the pool of 400 rows"):
        distill(path, _cfg(sample=500), progress=False)
    with pytest.raises(UserError, match="teacher 'heuristics' has no column 'quality'"):
        distill(path, _cfg(teacher="heuristics"), progress=False)
    with pytest.raises(UserError, match="does not fit a continuous teacher"):
        distill(path, _cfg(model="logistic"), progress=False)


def test_config_rejects_unknown_keys_and_bad_values():
    with pytest.raises(UserError, match=r"proxy\.smaple: unknown key; allowed: teacher, column, sample"):
        parse_proxy({"column": "ifd", "smaple": 10})
    with pytest.raises(UserError, match="model"):
        parse_proxy({"column": "ifd", "model": "svm"})
    with pytest.raises(UserError, match="active.how: unknown key"):
        parse_proxy({"column": "ifd", "active": {"how": "x"}})
    assert parse_proxy({"column": "ifd", "sample": 0.1}).sample == 0.1
    with pytest.raises(UserError, match=r"sample is a row count \(an integer >= 1\) or a fraction"):
        parse_proxy({"column": "ifd", "sample": 1.5})
    assert isinstance(parse_proxy(ProxyConfig(column="x"), sample=5), ProxyConfig)


def test_stored_teacher_key_and_whole_pool_fraction(run):
    path, _ = run
    result = distill(path, _cfg(teacher="teach-1", sample=1.0, stratify=["source"]), progress=False)
    assert result.teacher_key == "teach-1" and result.costs["teacher_rows"] == 400
    assert result.costs["teacher_rows_scored_now"] == 0
    valid = pa.table({"id": [f"id{i:04d}" for i in range(300)]})  # a pipeline's valid rows: ids only
    part = distill(path, _cfg(teacher="teach-1", sample=0.5, stratify=["source"]), data=valid, progress=False)
    assert part.costs["all_rows"] == 300 and part.costs["teacher_rows"] == 150
    assert len(curate.scores(path, [part.key])) == 300


def test_active_round_adds_teacher_rows(run):
    path, _ = run
    plain = distill(path, _cfg(sample=100), progress=False)
    active = distill(path, _cfg(sample=100, active={"rounds": 1, "rows": 50, "by": "cut"}), progress=False)
    assert active.costs["teacher_rows"] == 150 and plain.costs["teacher_rows"] == 100
    assert len(active.rounds) == 2 and active.rounds[0]["rows"] == active.rounds[1]["rows"]
    assert active.key != plain.key


def test_cli_prints_agreement_and_fails_in_one_line(run, capsys):
    from curate.cli import main

    path, _ = run
    assert main([("distill"), str(path), "--column", "quality", "--features", "[synth-emb]", "--sample", "200",
                 "--model", "ridge", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "quality_proxy" in out and "top-k overlap" in out and "teacher rows         200 of 400" in out
    assert main(["distill", str(path), "--column", "nope", "--no-progress"]) == 2
    assert main(["distill", str(path), "--column", "quality", "--features", "[synth-emb]", "--sample", "401"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("curate: error: ") for line in err)
    assert "larger than the pool" in err[1]


def test_cli_flags_reach_the_config():
    from curate.cli import build_parser
    from curate.cli.distill import config_from_args

    args = build_parser().parse_args([
        "distill", "R", "--column", "ifd", "--teacher", "lm", "--set", "max_length=64", "--sample", "0.5",
        "--features", "[heuristics]", "--model", "hgb", "--target", "log", "--better", "low",
        "--active-rounds", "2", "--active-by", "cut", "--seed", "3"])
    cfg = parse_proxy(config_from_args(args))
    assert cfg.teacher == {"name": "lm", "max_length": 64} and cfg.sample == 0.5 and cfg.features == ["heuristics"]
    assert (cfg.model, cfg.target, cfg.better, cfg.seed) == ("hgb", "log", "low", 3)
    assert cfg.active is not None and (cfg.active.rounds, cfg.active.by) == (2, "cut")
    assert parse_proxy(config_from_args(build_parser().parse_args(["distill", "R", "--column", "x",
                                                                    "--sample", "300"]))).sample == 300
