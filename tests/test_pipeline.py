"""End-to-end: a recipe on a dirty JSONL into a run directory; counts, resume and re-use."""

import json

import pyarrow.parquet as pq
import pytest
import yaml
from helpers import recipe, run_outputs

import curate
from curate.pipeline import run


def test_run_writes_everything_and_counts_reconcile(dirty_jsonl, tmp_path):
    s = run(recipe(dirty_jsonl, tmp_path / "run"), progress=False)
    c = s.counts
    assert c["read"] == 44 and c["quarantined"] == 2
    assert c["removed"]["invalid:role_order"] == 1 and c["removed"]["invalid:template_leak"] == 1
    assert c["removed"]["duplicate:exact"] == 1 and c["removed"]["duplicate:near"] == 1
    assert c["read"] == c["kept"] + sum(c["removed"].values()) + c["quarantined"]
    m = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert m["counts"] == c and m["status"] == "done" and "transformers" in m["versions"]
    assert m["recipe"]["name"] == "t"
    q = [json.loads(x) for x in (tmp_path / "run" / "quarantine.jsonl").read_text().splitlines()]
    assert sorted(x["reason"] for x in q) == ["malformed_json", "unknown_role"]
    assert s.subsets == {"long": 10, "random": 10}
    invalid = pq.read_table(tmp_path / "run" / "validity.parquet").to_pylist()
    assert sorted(r["reason"] for r in invalid) == ["invalid:role_order", "invalid:template_leak"]
    assert {r["row"] for r in invalid} == {41, 43}
    sub = tmp_path / "run" / "subsets" / "long"
    first = json.loads((sub / "data.jsonl").read_text().splitlines()[0])
    assert set(first) >= {"conversations"} and first["conversations"][0]["from"] == "human"
    assert pq.read_table(sub / "data.parquet").num_rows == 10
    assert (tmp_path / "run" / "report" / "report.html").exists()


def test_interrupted_run_resumes_to_identical_outputs(dirty_jsonl, tmp_path, monkeypatch):
    clean = run(recipe(dirty_jsonl, tmp_path / "clean"), progress=False)

    import curate.pipeline.ingest as pipeline

    real, calls = pipeline.write_jsonl, {"n": 0}

    def dying(path, rows):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt  # killed after the second shard was written, before its marker
        return real(path, rows)

    monkeypatch.setattr(pipeline, "write_jsonl", dying)
    with pytest.raises(KeyboardInterrupt):
        run(recipe(dirty_jsonl, tmp_path / "resumed"), progress=False)
    monkeypatch.setattr(pipeline, "write_jsonl", real)
    assert (tmp_path / "resumed" / "steps" / "ingest-00000.json").exists()
    assert not (tmp_path / "resumed" / "steps" / "ingest-00001.json").exists()
    assert not (tmp_path / "resumed" / "steps" / "ingest.json").exists()

    seen = []
    orig = pipeline.write_shards
    monkeypatch.setattr(pipeline, "write_shards", lambda *a: seen.append(a[5]) or orig(*a))
    resumed = run(recipe(dirty_jsonl, tmp_path / "resumed"), progress=False)
    assert seen == [16], "resume starts after the finished shard"
    assert resumed.counts == clean.counts and resumed.subsets == clean.subsets
    assert run_outputs(tmp_path / "resumed") == run_outputs(tmp_path / "clean")


def test_selection_only_rerun_reuses_scores_and_dedup(dirty_jsonl, tmp_path, monkeypatch):
    run(recipe(dirty_jsonl, tmp_path / "run"), progress=False)

    from curate.scorers.heuristics import HeuristicsScorer

    def boom(*a, **kw):
        raise AssertionError("a scorer ran again")

    monkeypatch.setattr(HeuristicsScorer, "score", boom)
    import curate.duplicates as dd

    monkeypatch.setattr(dd, "dedup", boom)
    r = recipe(dirty_jsonl, tmp_path / "run",
               subsets=[{"name": "short", "rank": {"-assistant_chars": 1.0}, "budget": 5}])
    s = run(r, progress=False)
    assert s.subsets == {"short": 5}


def test_python_and_cli_give_the_same_run(dirty_jsonl, tmp_path):
    from curate.cli import main

    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(recipe(dirty_jsonl, tmp_path / "cli")))
    assert main(["run", str(path), "--no-progress"]) == 0
    py = curate.run(str(path), run_dir=tmp_path / "py", progress=False)
    assert json.loads((tmp_path / "cli" / "manifest.json").read_text())["counts"] == py.counts
    assert run_outputs(tmp_path / "cli") == run_outputs(tmp_path / "py")


def test_reselection_pool_is_the_pipelines_pool(dirty_jsonl, tmp_path):
    """`curate select RUN` must choose from the rows the run kept: no validity failures, no duplicates."""
    from curate.selection.data import load_pool

    s = run(recipe(dirty_jsonl, tmp_path / "run"), progress=False)
    pool = load_pool(tmp_path / "run")
    assert len(pool) == s.counts["kept"]
    assert not {41, 43} & set(pool["row"])  # the two rows that failed validity
    assert len(load_pool(tmp_path / "run", drop_duplicates=False)) == s.counts["kept"] + 2  # + exact + near
