"""The columnar, parallel JSONL reader gives exactly the record-by-record path's chunks: tables, ids,
quarantine (rows and reasons), on bad input, mixed formats, odd strings and resumes."""

from __future__ import annotations

import json
from itertools import islice

import numpy as np
import pyarrow.json as pj
import pytest
from helpers import recipe, run_outputs

from curate.arrow_normalize import normalize_block
from curate.jsonl_reader import line_ranges
from curate.loaders import iter_load, iter_raw, normalize_records, to_table

SHAREGPT = {"conversations": [{"from": "human", "value": "How do I sort?"}, {"from": "gpt", "value": "Use sorted()."}]}
MESSAGES = {"messages": [{"role": "User ", "content": "hi \"there\"\n"}, {"role": "assistant", "content": "hello\\"}]}
ALPACA = {"instruction": "Add 2+2.", "input": "  ", "output": "4", "system": "Be brief."}


def record_path(path, chunk_rows, n=None, start=0, fmt=None):
    """The loader as it was: records one by one, chunk by chunk."""
    name, records = iter_raw(path)
    stream = islice(records, start, None if n is None else start + n)
    out, row = [], start
    while chunk := list(islice(stream, chunk_rows)):
        rows, bad = normalize_records(chunk, name, fmt, start_row=row)
        row += len(chunk)
        out.append((to_table(rows), bad, len(chunk)))
    return out


def assert_same(path, chunk_rows, workers=1, **kw):
    old = record_path(path, chunk_rows, **kw)
    new = list(iter_load(path, chunk_rows=chunk_rows, workers=workers, **kw))
    assert len(new) == len(old)
    for (table, bad, read), chunk in zip(old, new, strict=True):
        assert chunk.read == read and chunk.quarantine == bad
        assert chunk.table.schema == table.schema and chunk.table.equals(table)


def odd_rows() -> list:
    """Valid rows with strings the columnar checks must treat exactly as Python does."""
    turn = SHAREGPT["conversations"]
    return [
        {"conversations": [{"from": " Human\t", "value": "q\u3000 "}, {"from": "ChatGPT", "value": "a\x01\x7f\u2028"}]},
        {"conversations": [{"from": "system", "value": "sys"}, *turn], "id": 7, "source": 3},
        {"conversations": [{"from": "human", "value": "\u200b"}, {"from": "gpt", "value": "zero-width is not space"}]},
        {"conversations": [{"from": "human", "value": "x"}, {"from": "gpt", "value": "\u00a0"}]},  # empty_turn
        {"conversations": [{"from": "hum\u0130an", "value": "x"}, {"from": "gpt", "value": "y"}]},  # unknown_role
        {"conversations": turn + [{"from": "gpt", "value": "\\\"\t\b\f\r\n"}], "source": None},
    ]


@pytest.mark.parametrize("chunk_rows", [1, 3, 100])
def test_bad_input_fixture_same_chunks_and_quarantine(write_jsonl, sharegpt_rows, chunk_rows):
    lines = [json.dumps(sharegpt_rows[0]), "{broken json", json.dumps(sharegpt_rows[1]),
             json.dumps({"conversations": [{"from": "alien", "value": "x"}, {"from": "gpt", "value": "y"}]}),
             json.dumps({"conversations": []}), json.dumps({"text": "no column"}), "",
             json.dumps({"conversations": [{"from": "human", "value": "q"}]}), json.dumps([1, 2]),
             json.dumps({"conversations": [{"from": "human", "value": 5}, {"from": "gpt", "value": "y"}]})]
    path = write_jsonl(lines + [json.dumps(r) for r in sharegpt_rows])
    with open(path, "ab") as f:
        f.write(b'{"conversations": [{"from": "human", "value": "\xff\xfe"}]}\n')
        f.write(json.dumps(SHAREGPT).encode())  # no newline at the end
    assert_same(path, chunk_rows)


@pytest.mark.parametrize("chunk_rows", [1, 2, 7])
def test_mixed_formats_and_odd_strings_same_chunks(write_jsonl, chunk_rows):
    rows = [SHAREGPT, MESSAGES, ALPACA, {**ALPACA, "input": "ctx", "system": None}, SHAREGPT | {"source": "s"},
            *odd_rows(), {"instruction": "   ", "output": "x"}, {"messages": [{"role": "gpt", "content": "only"}]}]
    assert_same(write_jsonl(rows), chunk_rows)
    assert_same(write_jsonl(rows), chunk_rows, fmt="sharegpt")


def test_single_format_blocks_take_the_columnar_path(write_jsonl):
    """Clean ShareGPT, messages and Alpaca blocks are normalized on columns (not the record path)."""
    for rows in ([SHAREGPT] * 3 + odd_rows()[:3], [MESSAGES] * 3, [ALPACA, ALPACA | {"system": ""}]):
        block = normalize_block(pj.read_json(write_jsonl(rows)), "data", np.arange(len(rows)))
        assert block is not None and block.table.num_rows == len(rows)


def test_extra_columns_types_and_order_match(write_jsonl, sharegpt_rows):
    rows = [r | {"id": f"x{i}", "lang": "en", "n": i, "ok": True} for i, r in enumerate(sharegpt_rows)]
    assert_same(write_jsonl(rows), 5)
    assert_same(write_jsonl([{"when": "2024-01-01", **SHAREGPT}, {"tags": ["a"], **SHAREGPT}]), 1)


def test_limit_start_and_line_ranges(write_jsonl, sharegpt_rows):
    path = write_jsonl([json.dumps(r) for r in sharegpt_rows])
    assert_same(path, 4, n=7, start=3)
    assert_same(path, 4, start=20)
    ranges = list(line_ranges(path, 5))
    assert [r[2:] for r in ranges] == [(0, 5), (5, 5), (10, 3)]
    assert ranges[-1][1] == path.stat().st_size


def test_process_pool_and_resume_give_the_same_chunks(write_jsonl, sharegpt_rows):
    """Two worker processes give the single-process chunks; reading from a chunk boundary (a resume
    after a kill) gives the rest of them."""
    path = write_jsonl([json.dumps(r) for r in sharegpt_rows * 5] + ["{bad"])
    assert_same(path, 8, workers=2)
    full = list(iter_load(path, chunk_rows=8, workers=2))
    rest = list(iter_load(path, chunk_rows=8, workers=2, start=24))
    assert all(c.table.equals(r.table) and c.quarantine == r.quarantine for c, r in zip(full[3:], rest, strict=True))
    ends = [c.end_byte for c in full]  # the ingest bar's position: where each chunk ends in the file
    assert ends == sorted(ends) and ends[-1] == path.stat().st_size and [c.end_byte for c in rest] == ends[3:]


def test_run_killed_mid_ingest_resumes_identically_with_the_reader_pool(dirty_jsonl, tmp_path, monkeypatch):
    """``curate.run`` reading with two worker processes that write the shards, killed before the second
    shard's marker, resumes to the outputs of an uninterrupted run."""
    import curate.jsonl_reader as reader
    import curate.pipeline.ingest as pipeline
    from curate.pipeline import run

    monkeypatch.setattr(reader, "POOL_MIN_BYTES", 0)  # the pool even for this small file
    monkeypatch.setattr(reader.os, "cpu_count", lambda: 2)
    pools, real_in_order = [], reader._in_order  # the worker count each reading pass really used
    monkeypatch.setattr(reader, "_in_order", lambda jobs, workers, **kw: pools.append(workers) or real_in_order(jobs, workers, **kw))
    src = dirty_jsonl
    clean = run(recipe(src, tmp_path / "clean"), progress=False)
    real, calls = pipeline.write_jsonl, {"n": 0}

    def dying(path, rows):
        calls["n"] += 1
        if calls["n"] == 2:  # the workers wrote the second shard (and maybe the third); its marker is missing
            raise KeyboardInterrupt
        return real(path, rows)

    monkeypatch.setattr(pipeline, "write_jsonl", dying)
    with pytest.raises(KeyboardInterrupt):
        run(recipe(src, tmp_path / "resumed"), progress=False)
    monkeypatch.setattr(pipeline, "write_jsonl", real)
    resumed = run(recipe(src, tmp_path / "resumed"), progress=False)
    assert resumed.counts == clean.counts and resumed.subsets == clean.subsets
    assert run_outputs(tmp_path / "resumed") == run_outputs(tmp_path / "clean")
    assert pools == [2, 2, 2]


def test_broken_pool_falls_back_to_this_process(write_jsonl, sharegpt_rows, monkeypatch):
    """A pool that cannot start (e.g. a script without a __main__ guard) reads in this process."""
    from concurrent.futures.process import BrokenProcessPool

    import curate.jsonl_reader as reader

    class Broken:
        def __init__(self, *a, **kw):
            pass

        def submit(self, *a, **kw):
            raise BrokenProcessPool("cannot start")

        def shutdown(self, **kw):
            pass

    monkeypatch.setattr(reader, "ProcessPoolExecutor", Broken)
    assert_same(write_jsonl([json.dumps(r) for r in sharegpt_rows] + ["{bad"]), 4, workers=2)


def test_workers_must_be_positive(write_jsonl):
    from curate.errors import UserError

    with pytest.raises(UserError, match="workers"):
        next(iter_load(write_jsonl([SHAREGPT]), workers=0))


@pytest.mark.parametrize("workers", [1, 2])
def test_write_shards_writes_the_chunks_iter_load_yields(write_jsonl, sharegpt_rows, tmp_path, workers):
    """Shards written by the reading processes hold exactly the chunks the reader would hand back."""
    import pyarrow.parquet as pq

    from curate.jsonl_reader import write_shards

    path = write_jsonl([json.dumps(r) for r in sharegpt_rows * 3] + ["{bad"])
    out = tmp_path / "shards"
    written = list(write_shards(path, path.stem, 8, lambda k: out / f"part-{k:05d}.parquet", first=2, workers=workers))
    chunks = list(iter_load(path, chunk_rows=8, workers=1))
    assert len(written) == len(chunks) > 2
    for k, (w, c) in enumerate(zip(written, chunks, strict=True)):
        assert pq.read_table(out / f"part-{k + 2:05d}.parquet").equals(c.table)
        assert (w.rows, w.read, w.quarantine, w.end_byte) == (c.table.num_rows, c.read, c.quarantine, c.end_byte)
