"""curate.score: resume, new keys for new settings, failing batches, registry errors, CLI."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import pytest
from helpers import conv as exchange

import curate
from curate.errors import UserError
from curate.scorers import available, build
from curate.scorers.base import Resources, scorer_key
from curate.scorers.batching import length_batches, padding_waste, run_sorted


def conv(i: int) -> list[dict]:
    return exchange(f"question {i}", "answer " * (i + 1))


class Counting:
    """A scorer that counts calls and fails on any batch holding a 'poison' conversation."""

    name = "count"
    columns = ("n_words",)

    def __init__(self, batch_size: int = 4, bias: int = 0):
        self.resources = Resources(batch_size=batch_size)
        self.bias = bias
        self.calls: list[int] = []

    def settings(self) -> dict[str, Any]:
        return {"bias": self.bias}

    def score(self, conversations):
        self.calls.append(len(conversations))
        if any("poison" in m["content"] for c in conversations for m in c):
            raise RuntimeError("poisoned batch")
        return {"n_words": [sum(len(m["content"].split()) for m in c) + self.bias for c in conversations]}


def test_resume_skips_scored_rows_and_new_setting_new_key(tmp_path):
    data = [conv(i) for i in range(10)] + [conv(3)]  # a duplicate id
    s = Counting()
    df = curate.score(data, [s], run_dir=tmp_path, progress=False)
    assert len(df) == 10 and df["n_words"].tolist() == [3 + i for i in range(10)]
    assert sum(s.calls) == 10 and max(s.calls) == 4
    again = Counting()
    df2 = curate.score(data, [again], run_dir=tmp_path, progress=False)
    assert again.calls == []  # nothing re-scored
    pd.testing.assert_frame_equal(df, df2)
    more = Counting()
    curate.score(data + [conv(20)], [more], run_dir=tmp_path, progress=False)
    assert more.calls == [1]  # only the new row
    biased = Counting(bias=100)
    out = curate.score(data, [biased], run_dir=tmp_path, progress=False)
    assert sum(biased.calls) == 10 and out["n_words"].iloc[0] == 103
    keys = {json.loads((p / "meta.json").read_text())["key"] for p in (tmp_path / "scores").iterdir()}
    assert keys == {scorer_key(s), scorer_key(biased)} and scorer_key(s) != scorer_key(biased)


def test_failing_batch_becomes_nulls_and_run_goes_on(tmp_path):
    data = [conv(i) for i in range(8)]
    data[5] = [{"role": "user", "content": "poison"}, {"role": "assistant", "content": "x"}]
    s = Counting(batch_size=4)
    df = curate.score(data, [s], run_dir=tmp_path, progress=False).set_index(
        pd.Index(range(8)))
    assert df["n_words"].isna().tolist() == [False] * 5 + [True] + [False] * 2
    assert "poisoned batch" in df.loc[5, "count_error"]
    assert df["count_error"].isna().sum() == 7
    # the bad row is recorded: a plain re-run does not retry it, retry_failed does
    s2 = Counting()
    curate.score(data, [s2], run_dir=tmp_path, progress=False)
    assert s2.calls == []
    s3 = Counting()
    curate.score(data, [s3], run_dir=tmp_path, progress=False, retry_failed=True)
    assert s3.calls == [1]


def test_in_memory_and_table_input(sharegpt_rows):
    import pyarrow as pa

    from curate.schema import conversation_id, normalize

    msgs = [normalize(r)[0] for r in sharegpt_rows]
    table = pa.table({"id": [conversation_id(m) for m in msgs], "messages": msgs})
    df = curate.score(table, [Counting(batch_size=5)], progress=False)
    assert len(df) == 12 and df["id"].tolist() == list(dict.fromkeys(table["id"].to_pylist()))


def test_flush_writes_parts_as_it_goes(tmp_path):
    curate.score([conv(i) for i in range(9)], [Counting(batch_size=2)], run_dir=tmp_path, progress=False,
                 flush_rows=2)
    (key_dir,) = (tmp_path / "scores").iterdir()
    assert len(list(key_dir.glob("part-*.parquet"))) == 5


def test_registry_and_bad_specs():
    assert {"heuristics", "reward", "lm", "embedding", "classifier"} <= set(available())
    assert build("ifd").name == "lm"
    assert build({"name": "reward", "aggregate": "min"}).aggregate == "min"
    with pytest.raises(UserError, match="unknown scorer 'nope'.*available: classifier, consistency, embedding"):
        build("nope")
    with pytest.raises(UserError, match=r"unknown setting 'modle' for scorer 'lm'; allowed: model, revision"):
        build({"name": "lm", "modle": "x"})
    with pytest.raises(UserError, match="aggregate 'max'"):
        build({"name": "reward", "aggregate": "max"})
    with pytest.raises(UserError, match="need a 'name'"):
        build({"model": "x"})
    with pytest.raises(UserError, match="needs columns .id. and .messages."):
        curate.score(pd.DataFrame({"x": [1]}), ["heuristics"])


@pytest.mark.parametrize("name", ["reward", "lm", "classifier", "embedding"])
def test_model_settings_are_one_object(name):
    """A model scorer's model keywords become one ModelSettings; settings= builds the same scorer
    (the same key); both at once is an error; the scoring call can still place it on a device."""
    from curate.scorers import get_class
    from curate.scorers.model import ModelSettings

    cls = get_class(name)
    by_keywords = build({"name": name, "model": "some/model", "revision": "r1", "batch_size": 3, "window": 6,
                         "device": "cpu", "dtype": "float32"})
    settings = ModelSettings(model="some/model", revision="r1", batch_size=3, window=6, device="cpu", dtype="float32")
    assert by_keywords.model_settings == settings and by_keywords.resources.batch_size == 6
    assert (by_keywords.model, by_keywords.batch_size, by_keywords.dtype) == ("some/model", 3, "float32")
    assert scorer_key(cls(settings=settings)) == scorer_key(by_keywords)
    with pytest.raises(TypeError, match="give settings= or batch_size=, not both"):
        cls(settings=settings, batch_size=5)
    with pytest.raises(UserError, match="unknown setting 'settings'"):
        build({"name": name, "settings": {"model": "x"}})
    placed = cls(settings=ModelSettings(model="m"))
    placed.device = "cuda"  # what curate.score(device=...) does to a scorer left on auto
    assert placed.model_settings == ModelSettings(model="m", device="cuda") and placed.device == "cuda"


def test_bad_model_path_is_a_clear_error(tmp_path):
    with pytest.raises(UserError, match="model path not found: /no/such/model"):
        curate.score([conv(1)], [{"name": "lm", "model": "/no/such/model"}], run_dir=tmp_path, progress=False)
    with pytest.raises(UserError, match="cannot load lm tokenizer"):
        curate.score([conv(1)], [{"name": "lm", "model": str(tmp_path)}], progress=False)


def test_length_sorted_batching_keeps_order():
    lengths = [5, 1, 9, 3, 9, 2, 7]
    batches = length_batches(lengths, batch_size=3)
    assert sorted(i for b in batches for i in b) == list(range(7))
    assert [[lengths[i] for i in b] for b in batches] == [[9, 9, 7], [5, 3, 2], [1]]
    assert length_batches([10, 10, 10, 1], batch_size=8, max_tokens=20) == [[0, 1], [2, 3]]
    stats: dict[str, int] = {}
    out = run_sorted(list("abcdefg"), lengths, lambda b: [x.upper() for x in b], 3, stats=stats)
    assert out == list("ABCDEFG")
    assert stats["real_tokens"] == 36 and stats["padded_tokens"] == 9 * 3 + 5 * 3 + 1
    assert padding_waste(stats) == pytest.approx(43 / 36 - 1)


def test_cli_score(tmp_path, sharegpt_rows, write_jsonl, capsys):
    from curate.cli import main

    src = write_jsonl(sharegpt_rows)
    run = tmp_path / "run"
    assert main(["score", str(src), "--scorers", "heuristics", "--run-dir", str(run), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "heuristics" in out and "12 conversations" in out
    assert len(curate.scores(run)) == 12
    assert main(["score", str(src), "--scorers", "heuristics", "--run-dir", str(run), "--set", "lm.bogus=1"]) == 2
    assert "--set" in capsys.readouterr().err


def test_conversations_messages_slice_runs_and_take_the_rest():
    """Consecutive unique rows come back as a zero-copy slice, repeated ids are skipped: both give the
    same messages as taking the rows one by one, across chunk boundaries too."""
    import pyarrow as pa

    from curate.loaders import MESSAGE_TYPE
    from curate.scoring import Conversations

    msgs = [exchange(f"q{i}", f"a{i}") for i in range(6)]
    ids = ["a", "b", "a", "c", "d", "e"]  # row 2 repeats row 0
    table = pa.Table.from_batches([pa.table({"id": ids[:3], "messages": pa.array(msgs[:3], MESSAGE_TYPE)}).to_batches()[0],
                                   pa.table({"id": ids[3:], "messages": pa.array(msgs[3:], MESSAGE_TYPE)}).to_batches()[0]])
    convs = Conversations(table)
    assert convs.ids == ["a", "b", "c", "d", "e"]
    expect = [msgs[p] for p in (0, 1, 3, 4, 5)]
    for rows in ([0, 1], [2, 3, 4], [1, 2], [0, 1, 2, 3, 4]):
        assert convs.messages(rows) == [expect[r] for r in rows]
        assert convs.messages(rows, arrow=True).to_pylist() == [expect[r] for r in rows]
