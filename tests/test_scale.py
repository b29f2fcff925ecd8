"""Scale behaviours on small inputs: flat memory while streaming, resume after a kill mid-stage,
and a corrupted line in the middle of a big file quarantined while the rest goes on."""

import json
import tracemalloc

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers import recipe, run_outputs, sharegpt, write_jsonl

from curate.loaders import iter_load
from curate.rundir import RunDir


def _write(path, n, bad=()):
    return write_jsonl(path, (bad[i] if i in bad else sharegpt(f"Question {i}: explain item {i} in detail please.",
                                                               f"Item {i}: " + " ".join(f"word{i}_{k}" for k in range(40)) + ".")
                              for i in range(n)))


def _peak_while_streaming(path, chunk_rows):
    tracemalloc.start()
    rows = 0
    for chunk in iter_load(path, chunk_rows=chunk_rows):
        rows += chunk.table.num_rows
        del chunk
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return rows, peak


def test_chunked_reading_keeps_memory_flat(tmp_path):
    small = _write(tmp_path / "small.jsonl", 1_000)
    big = _write(tmp_path / "big.jsonl", 6_000)
    rows_s, peak_s = _peak_while_streaming(small, 250)
    rows_b, peak_b = _peak_while_streaming(big, 250)
    assert (rows_s, rows_b) == (1_000, 6_000)
    assert peak_b < 1.5 * peak_s, f"peak grew with the input: {peak_s} -> {peak_b} bytes"


def test_corrupted_lines_mid_file_are_quarantined_and_the_rest_goes_on(tmp_path):
    from curate.pipeline import Context
    from curate.pipeline.ingest import Ingest
    from curate.recipe import parse
    from curate.rundir import RunDir

    bad = {2_500: b"\xff\xfe not utf-8 \x80", 3_700: b'{"conversations": [{"from": "human", "value": "cut'}
    src = _write(tmp_path / "big.jsonl", 5_000, bad)
    recipe = parse({"name": "q", "input": {"source": str(src), "chunk_rows": 1_000}})
    ctx = Context(recipe, RunDir(tmp_path / "run"), executor=None, progress=False)
    counts = Ingest().run(ctx)
    table, shards = ctx.table, ctx.shards
    assert (counts.rows_in, counts.rows_out, counts.removed) == (5_000, 4_998, {"quarantined": 2}) and len(shards) == 5
    q = [json.loads(x) for x in (tmp_path / "run" / "quarantine.jsonl").read_text().splitlines()]
    assert [(x["row"], x["reason"]) for x in q] == [(2_500, "invalid_utf8"), (3_700, "malformed_json")]
    assert "messages" not in table.column_names, "ingest keeps only compact per-row columns in memory"
    rows = table["row"].to_pylist()
    assert rows[-1] == 4_999 and 2_499 in rows and 2_501 in rows and 2_500 not in rows
    assert RunDir(tmp_path / "run").conversations_table(["id"]).num_rows == 4_998


def _recipe(src, out):
    return recipe(src, out, chunk_rows=4, name="s", validity=["role_order"],
                  dedup={"methods": ["exact", "near"], "near": {"threshold": 0.7}},
                  subsets=[{"name": "top", "rank": {"assistant_chars": 1.0}, "budget": 6}])


def test_kill_mid_heuristics_then_resume_gives_identical_outputs(tmp_path, monkeypatch):
    from curate.pipeline import run
    from curate.scorers.heuristics import HeuristicsScorer

    src = _write(tmp_path / "in.jsonl", 26, {3: b"{broken"})
    clean = run(_recipe(src, tmp_path / "clean"), progress=False)

    real, seen = HeuristicsScorer.score, []

    def dying(self, convs):
        seen.append(len(convs))
        if len(seen) == 4:
            raise KeyboardInterrupt  # killed while scoring the fourth shard
        return real(self, convs)

    monkeypatch.setattr(HeuristicsScorer, "score", dying)
    with pytest.raises(KeyboardInterrupt):
        run(_recipe(src, tmp_path / "resumed"), progress=False)
    assert (tmp_path / "resumed" / "steps" / "ingest.json").exists()
    scored_before = sum(seen[:3])

    again = []
    monkeypatch.setattr(HeuristicsScorer, "score", lambda self, convs: again.append(len(convs)) or real(self, convs))
    resumed = run(_recipe(src, tmp_path / "resumed"), progress=False)
    assert sum(again) == 25 - scored_before, "only the rows the kill left unscored are scored again"
    assert resumed.counts == clean.counts and resumed.subsets == clean.subsets
    assert run_outputs(tmp_path / "resumed") == run_outputs(tmp_path / "clean")


def test_cli_address_without_ray_executor_is_a_user_error(tmp_path, capsys):
    import yaml

    from curate.cli import main

    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(_recipe(_write(tmp_path / "in.jsonl", 5), tmp_path / "run")))
    assert main(["run", str(path), "--no-progress", "--address", "ray://head:10001"]) == 2
    assert "--executor ray" in capsys.readouterr().err


def test_run_dedup_from_shard_signatures_equals_dedup_on_the_text(tmp_path):
    """curate.run never holds the text: signatures and lengths come from the shards one at a time;
    the result equals curate.dedup on the valid rows with their messages, and subsets get the text."""
    import numpy as np

    from curate.duplicates import DedupResult, dedup
    from curate.pipeline import run

    src = _write(tmp_path / "in.jsonl", 30, {3: b"{broken"})
    lines = src.read_bytes().splitlines()
    lines[20], lines[25] = lines[9], lines[11].replace(b'."', b'!"')  # an exact and a near copy
    src.write_bytes(b"\n".join(lines) + b"\n")
    r = _recipe(src, tmp_path / "run")
    r["dedup"]["keep"] = "longest"
    summary = run(r, progress=False)
    got = DedupResult.load(tmp_path / "run" / "dedup")
    assert (tmp_path / "run" / "dedup" / "signatures.npy").exists()
    data = RunDir(tmp_path / "run").conversations_table()
    invalid = set(pq.read_table(tmp_path / "run" / "validity.parquet")["row"].to_pylist())
    valid = data.filter(pa.array([x not in invalid for x in data["row"].to_pylist()]))
    ref = dedup(valid, config=r["dedup"], progress=False)
    assert got.counts == ref.counts and got.counts["exact"] == 1 and got.counts["near"] >= 1
    assert np.array_equal(got.keep_mask, ref.keep_mask) and np.array_equal(got.rank, ref.rank)
    sub = pq.read_table(tmp_path / "run" / "subsets" / "top" / "data.parquet").to_pylist()
    by_row = dict(zip(data["row"].to_pylist(), data["messages"].to_pylist()))
    assert summary.subsets["top"] == len(sub) == 6
    assert all(x["messages"] == by_row[x["row"]] for x in sub)
