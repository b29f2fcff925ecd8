"""JSONL at the speed of the parser: the file is cut into ranges of ``chunk_rows`` lines (a newline
scan), each range is parsed by ``pyarrow.json`` and normalized on Arrow columns
(:mod:`curate.arrow_normalize`), on ``workers`` processes, and the chunks come back in input order.

A range the columnar path cannot take exactly (a broken line, mixed formats, unusual columns) is read
record by record, as ``curate.loaders`` always did, so every bad line is still quarantined with its
row and reason, and chunks, ids and quarantine are the same whichever path read them.
"""

from __future__ import annotations

import io
import itertools
import multiprocessing as mp
import os
import shutil
import tempfile
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.ipc  # noqa: F401 - pa.ipc
import pyarrow.json as pj

SCAN_BYTES = 1 << 24  # the newline scan reads this much at a time
POOL_MIN_BYTES = 256 << 20  # below this, unless workers are set, reading in this process is faster


def default_workers(path: Path) -> int:
    return (os.cpu_count() or 1) if path.stat().st_size >= POOL_MIN_BYTES else 1


def _line_starts(path: Path, wanted: Iterator[int]) -> Iterator[tuple[int, int]]:
    """``(line, byte offset where it starts)`` for each wanted line number (increasing) in the file;
    the first one past the end comes back as ``(lines in the file, file size)``."""
    seen, pos, last = 0, 0, b"\n"  # newlines before ``pos``; the last byte read
    w = next(wanted, None)
    with open(path, "rb") as f:
        while w is not None and (buf := f.read(SCAN_BYTES)):
            count, newlines = buf.count(b"\n"), None
            while w is not None and w <= seen + count:
                if w == 0:
                    yield 0, 0
                else:
                    newlines = np.flatnonzero(np.frombuffer(buf, np.uint8) == 10) if newlines is None else newlines
                    yield w, pos + int(newlines[w - seen - 1]) + 1
                w = next(wanted, None)
            seen, pos, last = seen + count, pos + len(buf), buf[-1:]
    if w is not None:  # the scan reached the end of the file
        yield seen + (pos > 0 and last != b"\n"), pos


def line_ranges(path: Path, chunk_rows: int, start: int = 0, limit: int | None = None) -> Iterator[tuple[int, int, int, int]]:
    """``(byte_lo, byte_hi, first_row, lines)`` of consecutive chunks of ``chunk_rows`` lines from line
    ``start``, at most ``limit`` lines in all. Lines end at ``\\n``, as when iterating a binary file."""
    cuts = itertools.count(start, chunk_rows) if limit is None else \
        itertools.chain(range(start, start + limit, chunk_rows), [start + limit])
    bounds = _line_starts(path, cuts)
    prev = next(bounds, None)
    for cur in bounds:
        if cur[0] > prev[0]:
            yield prev[1], cur[1], prev[0], cur[0] - prev[0]
        prev = cur


def _lines(data: bytes) -> list[bytes]:
    return list(io.BytesIO(data))  # split exactly as iterating the file does, newlines kept


def _record_path(data: bytes, name: str, row0: int, fmt: str | None):
    from curate.loaders import Loaded, normalize_records, parse_line, to_table

    lines = _lines(data)
    rows, bad = normalize_records([parse_line(raw) for raw in lines], name, fmt, start_row=row0)
    return Loaded(to_table(rows), bad, len(lines))


def load_range(path: str, name: str, lo: int, hi: int, row0: int, lines: int, fmt: str | None = None,
               threads: bool = False):
    """One chunk as ``curate.loaders.Loaded``: columnar when exact, else record by record."""
    from curate.arrow_normalize import normalize_block
    from curate.loaders import Loaded, normalize_records, parse_line, to_table

    with open(path, "rb") as f:
        f.seek(lo)
        data = f.read(hi - lo)
    try:
        opts = pj.ReadOptions(block_size=max(len(data) + 1, 1 << 16), use_threads=threads)
        table = pj.read_json(pa.BufferReader(data), read_options=opts)
        block = normalize_block(table, name, row0, fmt) if table.num_rows == lines else None
    except (pa.ArrowException, OverflowError):  # a line pyarrow rejects: the record path says which, and why
        block = None
    if block is None:
        return _record_path(data, name, row0, fmt)
    bad = []
    if len(block.suspects):
        raw = _lines(data)
        for i in block.suspects.tolist():
            rows, why = normalize_records([parse_line(raw[i])], name, fmt, start_row=row0 + i)
            if rows:  # a row the columnar checks doubted but the record path keeps: read it all that way
                return _record_path(data, name, row0, fmt)
            bad += why
    return Loaded(block.table if block.table.num_rows else to_table([]), bad, lines)


def _load_to_file(folder: str, *args) -> tuple[str, list, int]:
    """``load_range`` in a worker: the table goes to an Arrow IPC file that the reader maps without a
    copy (cheaper than pickling it through the pool's pipe)."""
    chunk = load_range(*args)
    out = os.path.join(folder, f"chunk-{args[4]}.arrow")
    with pa.OSFile(out, "wb") as sink, pa.ipc.new_file(sink, chunk.table.schema) as writer:
        writer.write_table(chunk.table)
    return out, chunk.quarantine, chunk.read


def _mapped(result: tuple[str, list, int]):
    from curate.loaders import Loaded

    out, quarantine, read = result
    table = pa.ipc.open_file(pa.memory_map(out)).read_all()
    os.unlink(out)  # the mapping stays valid until the table is gone
    return Loaded(table, quarantine, read)


@dataclass
class Written:
    """A chunk written as a Parquet shard (``end_byte``: where it ends in the input, where known)."""

    rows: int
    read: int
    quarantine: list[dict[str, Any]]
    end_byte: int | None


def _load_to_parquet(out: str, *args) -> tuple[int, list, int]:
    from curate.rundir import write_parquet

    chunk = load_range(*args)
    write_parquet(out, chunk.table)
    return chunk.table.num_rows, chunk.quarantine, chunk.read


def iter_chunks(path: Path, name: str, chunk_rows: int, start: int = 0, limit: int | None = None,
                fmt: str | None = None, workers: int | None = None) -> Iterator:
    """``Loaded`` chunks of ``path`` in input order, read on ``workers`` processes (1: this one; None:
    :func:`default_workers`). If
    the pool cannot run (a script without a ``__main__`` guard, a killed worker), the chunks not yet
    yielded are read in this process."""
    workers = default_workers(path) if workers is None else workers
    folder = tempfile.mkdtemp(prefix="curate-read-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None) \
        if workers > 1 else ""
    try:
        in_order = _in_order(line_ranges(path, chunk_rows, start, limit), workers,
                             remote=lambda r: (_load_to_file, folder, str(path), name, *r, fmt), finish=_mapped,
                             local=lambda r: load_range(str(path), name, *r, fmt, threads=True))
        for chunk, (_, hi, _, _) in in_order:
            chunk.end_byte = hi
            yield chunk
    finally:
        if folder:
            shutil.rmtree(folder, ignore_errors=True)


def write_shards(path: Path, name: str, chunk_rows: int, shard_path: Callable[[int], Path], first: int = 0,
                 start: int = 0, limit: int | None = None, fmt: str | None = None,
                 workers: int | None = None) -> Iterator[Written]:
    """:func:`iter_chunks`, each chunk written as the Parquet shard ``shard_path(first + i)`` by the
    process that read it: the parent never holds the text (no copy between processes, and the shard
    writes run on every worker). Yields each shard's counts, quarantine and end byte, in input order."""
    workers = default_workers(path) if workers is None else workers
    ranges = ((str(shard_path(first + i)), r) for i, r in enumerate(line_ranges(path, chunk_rows, start, limit)))

    def local(job):
        return _load_to_parquet(job[0], str(path), name, *job[1], fmt, True)

    for (rows, quarantine, read), (_, (_, hi, _, _)) in _in_order(
            ranges, workers, remote=lambda job: (_load_to_parquet, job[0], str(path), name, *job[1], fmt),
            finish=lambda result: result, local=local):
        yield Written(rows, read, quarantine, hi)


def _in_order(jobs: Iterator, workers: int, remote: Callable, finish: Callable, local: Callable) -> Iterator:
    """``(result, job)`` for every job in input order: ``finish(f(*args))`` with ``(f, *args) =
    remote(job)`` on a spawned pool of ``workers``, at most ``workers`` ahead of the consumer; or
    ``local(job)`` in this process (one worker, or the rest of the jobs once the pool broke)."""
    if workers <= 1:
        for job in jobs:
            yield local(job), job
        return
    pool = ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"))
    pending: deque = deque()
    try:
        try:
            for job in jobs:
                pending.append([job, None])  # listed first: a failing submit leaves its job to the fallback
                pending[-1][1] = pool.submit(*remote(job))
                if len(pending) > workers:
                    yield finish(pending[0][1].result()), pending[0][0]
                    pending.popleft()
            while pending:
                yield finish(pending[0][1].result()), pending[0][0]
                pending.popleft()
        except BrokenProcessPool:
            for job in itertools.chain((job for job, _ in pending), jobs):
                yield local(job), job
    finally:
        pool.shutdown(cancel_futures=True)
