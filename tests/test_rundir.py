"""The run's conversations are its ingest shards, read through data/conversations.json."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers import recipe, sharegpt, write_jsonl

from curate.errors import UserError
from curate.pipeline import run
from curate.rundir import RunDir, shard_digest, write_json, write_parquet


def test_ingest_indexes_its_shards_in_order(tmp_path):
    src = write_jsonl(tmp_path / "in.jsonl", [sharegpt(f"q{i}", f"a{i}") for i in range(25)])
    run(recipe(src, tmp_path / "run", chunk_rows=10), progress=False)
    rd = RunDir(tmp_path / "run")
    index = json.loads((tmp_path / "run" / "data" / "conversations.json").read_text())
    assert {k: index[k] for k in ("shards", "rows")} == {
        "shards": [f"shards/part-{k:05d}.parquet" for k in range(3)], "rows": [10, 10, 5]}
    assert index["digests"] == [shard_digest(rd.shard(k)) for k in range(3)]
    assert rd.conversation_shards() == [rd.shard(k) for k in range(3)]
    assert rd.conversations_table(["row"])["row"].to_pylist() == list(range(25))
    assert not (tmp_path / "run" / "data" / "conversations.parquet").exists()


def test_a_new_ingest_unlists_the_old_shards_until_it_finishes(tmp_path, monkeypatch):
    src = write_jsonl(tmp_path / "in.jsonl", [sharegpt(f"q{i}", f"a{i}") for i in range(5)])
    run(recipe(src, tmp_path / "run"), progress=False)
    assert RunDir(tmp_path / "run").conversations_path.exists()

    def broken(*args, **kwargs):
        raise OSError("disk full")
        yield

    monkeypatch.setattr("curate.pipeline.ingest._write_shards", broken)
    other = write_jsonl(tmp_path / "other.jsonl", [sharegpt("x", "y")])
    with pytest.raises(OSError, match="disk full"):
        run(recipe(other, tmp_path / "run"), progress=False, force=True)
    assert not RunDir(tmp_path / "run").conversations_path.exists()


def test_columns_a_shard_lacks_read_as_nulls_and_stray_shards_are_ignored(tmp_path):
    rd = RunDir(tmp_path)
    write_parquet(rd.shard(0), pa.table({"id": ["a", "b"], "topic": [None, None]}))
    write_parquet(rd.shard(1), pa.table({"id": ["c"], "topic": ["math"], "lang": ["en"]}))
    write_parquet(rd.shard(2), pa.table({"id": ["left over from an earlier ingest"]}))
    rd.write_conversations_index([rd.shard(0), rd.shard(1)])
    assert rd.conversation_columns() == ["id", "topic", "lang"]
    t = rd.conversations_table()
    assert t.to_pydict() == {"id": ["a", "b", "c"], "topic": [None, None, "math"], "lang": [None, None, "en"]}
    assert rd.conversations_table(["id", "nope"], ids=pa.array(["c"])).to_pydict() == {"id": ["c"]}


def test_rows_by_id_come_from_the_row_groups_that_hold_them_in_input_order(tmp_path):
    rd = RunDir(tmp_path)
    rd.shard(0).parent.mkdir(parents=True)
    pq.write_table(pa.table({"id": list("abcdef"), "n": range(6)}), rd.shard(0), row_group_size=2)
    write_parquet(rd.shard(1), pa.table({"id": ["g", "a"], "n": [6, 7]}))
    rd.write_conversations_index([rd.shard(0), rd.shard(1)])
    got = rd.conversations_table(["id", "n"], ids=pa.array(["e", "a", "zz"]))
    assert got.to_pydict() == {"id": ["a", "e", "a"], "n": [0, 4, 7]}
    assert rd.conversations_table(ids=pa.array(["zz"])).num_rows == 0


def test_an_older_runs_single_file_is_read_until_the_next_ingest(tmp_path):
    rd = RunDir(tmp_path)
    legacy = tmp_path / "data" / "conversations.parquet"
    write_parquet(legacy, pa.table({"id": ["old"]}))
    assert rd.conversations_path == legacy and rd.conversations_table()["id"].to_pylist() == ["old"]
    rd.write_conversations(pa.table({"id": ["new"]}))
    assert not legacy.exists() and rd.conversations_table()["id"].to_pylist() == ["new"]


def test_no_conversations_before_an_ingest(tmp_path):
    rd = RunDir(tmp_path)
    assert rd.conversation_shards() == [] and rd.conversation_columns() == []
    with pytest.raises(UserError, match="curate run"):
        rd.conversations_table()


def test_evaluation_reads_by_name_and_the_file_name_spelling_warns(tmp_path):
    rd = RunDir(tmp_path)
    assert rd.winrates() is None and rd.heldout() is None
    write_json(rd.eval_files.heldout, {"rows": 3, "losses": [{"variant": "a", "loss": 1.5}]})
    write_json(rd.eval_files.winrates, {"winrates": [{"variant": "a", "opponent": "base", "win_rate": 0.6}]})
    assert rd.heldout()["losses"][0]["loss"] == 1.5
    assert rd.winrates() == [{"variant": "a", "opponent": "base", "win_rate": 0.6}]  # an older file's dict form
    with pytest.warns(DeprecationWarning, match=r"RunDir.evaluation\(name=...\) is deprecated; use RunDir.winrates"):
        assert rd.evaluation("heldout.json") == rd.heldout()


def test_subset_folders_have_one_layout(tmp_path):
    """``RunDir.subset_files`` names a subset's files (what ``subsets()`` lists and ``subset_ids`` reads),
    and a read of a missing subset leaves no folder behind."""
    rd = RunDir(tmp_path)
    files = rd.subset_files("long")
    assert files.folder == rd.subsets_dir / "long" and files.data.parent == files.folder
    assert not files.written() and rd.subsets() == []
    with pytest.raises(UserError, match="no subset 'long'"):
        rd.subset_meta("long")
    assert not files.folder.exists()
    write_parquet(files.data, pa.table({"id": ["a"]}))
    assert files.written() and rd.subsets() == ["long"] and rd.subset_ids("long") == ["a"]
