"""Scale behaviours on small inputs: flat memory while streaming, resume after a kill mid-stage,
and a corrupted line in the middle of a big file quarantined while the rest goes on."""

import json
import tracemalloc

import pyarrow.parquet as pq
import pytest
from conftest import make_conversation

from curate.loaders import iter_load


def _write(path, n, bad=()):
    with open(path, "wb") as f:
        for i in range(n):
            if i in bad:
                f.write(bad[i] + b"\n")
                continue
            conv = make_conversation(f"Question {i}: explain item {i} in detail please.",
                                     f"Item {i}: " + " ".join(f"word{i}_{k}" for k in range(40)) + ".")
            f.write(json.dumps(conv).encode() + b"\n")
    return path


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
    from curate.pipeline import ingest
    from curate.recipe import parse
    from curate.rundir import RunDir

    bad = {2_500: b"\xff\xfe not utf-8 \x80", 3_700: b'{"conversations": [{"from": "human", "value": "cut'}
    src = _write(tmp_path / "big.jsonl", 5_000, bad)
    recipe = parse({"name": "q", "input": {"source": str(src), "chunk_rows": 1_000}})
    table, counts, shards = ingest(recipe, RunDir(tmp_path / "run"))
    assert counts == {"read": 5_000, "rows": 4_998, "quarantined": 2} and len(shards) == 5
    q = [json.loads(x) for x in (tmp_path / "run" / "quarantine.jsonl").read_text().splitlines()]
    assert [(x["row"], x["reason"]) for x in q] == [(2_500, "invalid_utf8"), (3_700, "malformed_json")]
    rows = table["row"].to_pylist()
    assert rows[-1] == 4_999 and 2_499 in rows and 2_501 in rows and 2_500 not in rows
    assert pq.read_table(tmp_path / "run" / "data" / "conversations.parquet").num_rows == 4_998


def _recipe(src, out):
    return {"name": "s", "input": {"source": str(src), "chunk_rows": 4}, "output": str(out),
            "scorers": ["heuristics"], "validity": ["role_order"],
            "dedup": {"methods": ["exact", "near"], "near": {"threshold": 0.7}},
            "subsets": [{"name": "top", "rank": {"assistant_chars": 1.0}, "budget": 6}]}


def _outputs(root):
    return {str(p.relative_to(root)): (pq.read_table(p).to_pylist() if p.suffix == ".parquet" else p.read_text())
            for p in sorted(root.rglob("*"))
            if p.is_file() and p.suffix in (".jsonl", ".parquet") and "scores" not in p.parts}


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
    assert _outputs(tmp_path / "resumed") == _outputs(tmp_path / "clean")


def test_cli_address_without_ray_executor_is_a_user_error(tmp_path, capsys):
    import yaml

    from curate.cli import main

    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(_recipe(_write(tmp_path / "in.jsonl", 5), tmp_path / "run")))
    assert main(["run", str(path), "--quiet", "--address", "ray://head:10001"]) == 2
    assert "--executor ray" in capsys.readouterr().err
