"""A run directory is checked, not trusted: a damaged conversations index, another input's run, a
killed audit or a renamed subset each give one clear error (or are repaired), never a wrong result."""

from __future__ import annotations

import json
import os
import shutil
import stat
import warnings

import pytest
from helpers import recipe, sharegpt, write_jsonl

import curate
from curate.auditing.corruptions import KINDS
from curate.cli import main
from curate.errors import UserError
from curate.pipeline import run
from curate.rundir import RunDir


@pytest.fixture
def done(tmp_path):
    """A finished run of 25 rows in three shards."""
    src = write_jsonl(tmp_path / "in.jsonl", [sharegpt(f"question {i}?", f"answer {i}.") for i in range(25)])
    run(recipe(src, tmp_path / "run", chunk_rows=10), progress=False)
    return RunDir(tmp_path / "run")


def _index(rd: RunDir) -> dict:
    return json.loads(rd.conversations_path.read_text())


def _edit_index(rd: RunDir, **changes) -> None:
    rd.conversations_path.write_text(json.dumps(_index(rd) | changes))


@pytest.mark.parametrize("damage", [
    "listed twice", "replaced", "truncated index", "empty index", "no shards", "outside", "deleted", "empty shard",
    "garbage shard",
])
def test_a_damaged_index_is_one_error_that_says_how_to_recover(done, tmp_path, damage):
    index = _index(done)
    if damage == "listed twice":
        _edit_index(done, shards=[*index["shards"], index["shards"][0]], rows=[*index["rows"], 10],
                    digests=[*index["digests"], index["digests"][0]])
    elif damage == "replaced":
        other = write_jsonl(tmp_path / "other.jsonl", [sharegpt(f"other {i}?", f"reply {i}.") for i in range(10)])
        run(recipe(other, tmp_path / "run2", chunk_rows=10), progress=False)
        shutil.copy(RunDir(tmp_path / "run2").shard(0), done.shard(1))
    elif damage in ("truncated index", "empty index"):
        text = done.conversations_path.read_text()
        done.conversations_path.write_text(text[: len(text) // 2] if damage == "truncated index" else "")
    elif damage == "no shards":
        _edit_index(done, shards=[], rows=[], digests=[])
    elif damage == "outside":
        (tmp_path / "outside").mkdir()
        shutil.copy(done.shard(0), tmp_path / "outside" / "evil.parquet")
        _edit_index(done, shards=["../../outside/evil.parquet", *index["shards"][1:]])
    elif damage == "deleted":
        done.shard(1).unlink()
    else:
        done.shard(1).write_bytes(b"" if damage == "empty shard" else b"not parquet at all, just words")
    with pytest.raises(UserError, match=r"conversations.json: .*curate run RECIPE") as e:
        done.conversations_table(["id"])
    assert "\n" not in str(e.value)


def test_running_the_recipe_again_repairs_a_damaged_run(done, tmp_path):
    before = done.conversations_table(["id", "row"]).to_pylist()
    done.shard(1).unlink()
    run(recipe(tmp_path / "in.jsonl", done.root, chunk_rows=10), progress=False)
    assert done.conversations_table(["id", "row"]).to_pylist() == before
    assert done.manifest()["status"] == "done"


def test_a_select_on_a_damaged_run_is_one_line(done, capsys):
    _edit_index(done, shards=[], rows=[], digests=[])
    assert main(["select", str(done.root), "--name", "x", "--baseline", "random", "--rows", "3"]) == 2
    assert "lists no shards" in capsys.readouterr().err


def test_an_older_index_without_digests_is_read_with_a_warning(done):
    index = _index(done)
    done.conversations_path.write_text(json.dumps({"shards": index["shards"], "rows": index["rows"]}))
    with pytest.warns(UserWarning, match="no shard digests"):
        assert done.conversations_table(["id"]).num_rows == 25
    done.conversations_path.write_text(json.dumps({"shards": index["shards"], "rows": [10, 10, 4]}))
    with warnings.catch_warnings(), pytest.raises(UserError, match="is not the one the ingest wrote"):
        warnings.simplefilter("ignore")
        done.conversations_table(["id"])


def test_a_renamed_subset_is_no_longer_listed(done, tmp_path):
    assert done.subsets() == ["long", "random"]
    r = recipe(tmp_path / "in.jsonl", done.root, chunk_rows=10)
    r["subsets"][0]["name"] = "longest"
    run(r, progress=False)
    assert (done.subsets_dir / "long" / "data.parquet").exists()
    assert done.subsets() == ["longest", "random"] and set(done.selections()) == {"longest", "random"}
    assert main(["select", str(done.root), "--name", "extra", "--baseline", "random", "--rows", "3"]) == 0
    assert done.subsets() == ["extra", "longest", "random"]
    assert main(["select", str(done.root), "--name", "long", "--baseline", "random", "--rows", "3"]) == 0
    assert done.subsets() == ["extra", "long", "longest", "random"]  # written again: listed again


def test_another_input_into_the_same_run_directory_is_refused_unless_forced(done, tmp_path):
    other = write_jsonl(tmp_path / "other.jsonl", [sharegpt("x?", "y.")])
    with pytest.raises(UserError, match="holds a run of another input.*--force"):
        run(recipe(other, done.root), progress=False)
    assert done.conversations_table(["id"]).num_rows == 25  # untouched
    assert run(recipe(other, done.root), progress=False, force=True).counts["read"] == 1


def test_a_failed_run_says_failed_with_the_error(tmp_path, monkeypatch):
    src = write_jsonl(tmp_path / "in.jsonl", [sharegpt("q?", "a.")])

    def boom(self, ctx):
        raise RuntimeError("disk on fire")

    from curate.pipeline.steps import Dedup

    monkeypatch.setattr(Dedup, "run", boom)
    with pytest.raises(RuntimeError):
        run(recipe(src, tmp_path / "run"), progress=False)
    m = RunDir(tmp_path / "run").manifest()
    assert m["status"] == "failed" and "disk on fire" in m["error"]


def test_stale_temp_files_go_and_outputs_respect_the_umask(done, tmp_path):
    stale = done.root / "scores" / ".part-1.parquet.abcd1234.tmp"
    stale.write_bytes(b"half")
    old = os.umask(0o022)
    try:
        run(recipe(tmp_path / "in.jsonl", done.root, chunk_rows=10), progress=False)
    finally:
        os.umask(old)
    assert not stale.exists()
    for p in (done.manifest_path, done.conversations_path, done.shard(0), done.subsets_dir / "long" / "data.parquet"):
        assert stat.S_IMODE(p.stat().st_mode) == 0o644, p


def test_a_run_directory_that_is_a_file_is_one_line(tmp_path, capsys):
    src = write_jsonl(tmp_path / "in.jsonl", [sharegpt("q?", "a.")])
    (tmp_path / "file").write_text("x")
    rpath = tmp_path / "r.json"
    rpath.write_text(json.dumps(recipe(src, tmp_path / "run")))
    assert main(["run", str(rpath), "--run-dir", str(tmp_path / "file")]) == 2
    assert main(["audit", str(rpath), "--run-dir", str(tmp_path / "file"), "--limit", "5"]) == 2
    assert main(["score", str(src), "--run-dir", str(tmp_path / "file")]) == 2
    assert main(["select", str(tmp_path / "file"), "--name", "x", "--baseline", "random", "--rows", "2"]) == 2
    errs = capsys.readouterr().err.strip().splitlines()
    assert len(errs) == 4 and all("is a file" in e for e in errs)
    with pytest.raises(UserError, match="is a file"):
        run(recipe(src, tmp_path / "file"), progress=False)


def test_audit_refuses_the_recipes_own_run_directory(done, tmp_path, capsys):
    rpath = tmp_path / "r.json"
    rpath.write_text(json.dumps(recipe(tmp_path / "in.jsonl", done.root, chunk_rows=10)))
    before = sorted(p.name for p in done.root.iterdir())
    for folder in (done.root, done.root / "audit"):
        assert main(["audit", str(rpath), "--run-dir", str(folder), "--limit", "20"]) == 2
        assert "own run directory" in capsys.readouterr().err
    assert sorted(p.name for p in done.root.iterdir()) == before


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"limit": 0}, "limit must be"), ({"kinds": []}, "unknown kind"), ({"rate": "abc"}, "rate must be"),
    ({"rate": 1.5}, "rate must be"),
])
def test_audit_arguments_are_checked_like_the_cli(tmp_path, kwargs, message):
    with pytest.raises(UserError, match=message):
        curate.audit(recipe(tmp_path / "in.jsonl", tmp_path / "run"), **kwargs)


def test_a_killed_reaudit_leaves_no_stale_summary(done, tmp_path, monkeypatch):
    r = recipe(tmp_path / "in.jsonl", done.root, chunk_rows=10)
    curate.audit(r, rate=0.3, kinds=KINDS[:2], limit=20, progress=False)
    assert done.audit()["rate"] == 0.3

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(curate, "run", killed)
    with pytest.raises(KeyboardInterrupt):
        curate.audit(r, rate=0.5, kinds=KINDS[:2], limit=20, progress=False)
    assert done.audit() is None
    assert (done.audit_dir / "IN_PROGRESS").exists() and not (done.audit_dir / "audit.json").exists()
