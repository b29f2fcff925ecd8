"""One record of input, read and normalized: the pieces both readers share (``curate.loaders``, record by
record, and ``curate.jsonl_reader``, chunks in worker processes), below both so neither imports the other.

A line becomes a record or a :class:`BadRecord` saying why not (:func:`parse_line`); records become
normalized, repaired rows or quarantine entries (:func:`normalize_records`); rows become a table with
curate's own columns first (:func:`to_table`); a chunk's result is a :class:`Loaded`.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from curate.schema import REPAIRS, InvalidRecord, conversation_id, read_record

MESSAGE_TYPE = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
REPAIRS_TYPE = pa.list_(pa.string())
OWN_COLUMNS = {"id": pa.string(), "messages": MESSAGE_TYPE, "source": pa.string(), "row": pa.int64(),
               "original_id": pa.string(), "repairs": REPAIRS_TYPE}  # every table's first columns
# A JSON escape of a UTF-16 surrogate: valid JSON, but alone (not in a pair) it is no Unicode character.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
RAW_PREVIEW = 500  # characters of a bad record kept in the quarantine file


@dataclass
class Loaded:
    """Normalized conversations plus everything that could not be read; nothing is dropped.

    Attributes:
        table: one row per readable record: ``id``, ``messages``, ``source``, ``row``, ``original_id``
            and ``repairs`` first (:data:`OWN_COLUMNS`), then the input's own columns.
        quarantine: one entry per record that could not be read (``row``, ``source``, ``reason``,
            ``detail``, ``raw``); a run writes them to ``quarantine.jsonl``.
        read: the input records read: ``len(table) + len(quarantine)``.
        end_byte: where this chunk ends in the input file, when the reader knows it; else None.
    """

    table: pa.Table
    quarantine: list[dict[str, Any]] = field(default_factory=list)
    read: int = 0
    end_byte: int | None = None  # where this chunk ends in the input file, where the reader knows it

    def __len__(self) -> int:
        return self.table.num_rows

    def to_pandas(self):
        """The table as a pandas DataFrame."""
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


class BadRecord:
    """A record that failed before normalization (unreadable bytes, broken JSON)."""

    __slots__ = ("reason", "detail", "raw")

    def __init__(self, reason: str, detail: str, raw: str = ""):
        self.reason, self.detail, self.raw = reason, detail, raw



def lone_surrogate(text: str, obj: Any) -> bool:
    """Whether the parsed ``obj`` holds a string with an unpaired surrogate (checked only when ``text``
    has a surrogate escape, so clean records pay one regex search).

    Returns:
        True when ``obj`` has a lone surrogate, which no UTF-8 output can hold.
    """
    if not _SURROGATE_ESCAPE.search(text):
        return False
    try:
        json.dumps(obj, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def invalid_unicode(text: str) -> BadRecord:
    """The quarantine reason of a record ``text`` with a lone surrogate escape."""
    return BadRecord("invalid_unicode", "a lone UTF-16 surrogate escape (e.g. \\ud800): not a Unicode character",
                text[:RAW_PREVIEW])


def parse_line(raw: bytes) -> Any:
    """One JSONL line (newline included) as a record, or a ``BadRecord`` saying why not. A UTF-8 byte order
    mark (first line of files from some Windows tools) is skipped; CRLF endings are JSON whitespace.

    Returns:
        The parsed JSON value, or a ``BadRecord`` (``blank_line``, ``invalid_utf8``, ``malformed_json``,
        ``invalid_unicode``).
    """
    raw = raw.removeprefix(codecs.BOM_UTF8)
    if not raw.strip():
        return BadRecord("blank_line", "empty line")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        utf16 = raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
        hint = "; the file starts with a UTF-16 byte order mark: convert it to UTF-8" if utf16 else ""
        return BadRecord("invalid_utf8", f"{e}{hint}", raw[:RAW_PREVIEW].decode("utf-8", "replace"))
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        return BadRecord("malformed_json", str(e), text[:RAW_PREVIEW])
    return invalid_unicode(text) if lone_surrogate(text, obj) else obj


def preview(rec: Any) -> str:
    """``rec`` as JSON (else its repr), cut to ``RAW_PREVIEW`` characters for the quarantine file."""
    try:
        return json.dumps(rec, ensure_ascii=False, default=str)[:RAW_PREVIEW]
    except Exception:
        return repr(rec)[:RAW_PREVIEW]


def to_table(rows: list[dict[str, Any]]) -> pa.Table:
    """Rows as a table: curate's columns typed as ``OWN_COLUMNS``, a column of mixed types as JSON text."""
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
    reason. An input column named like one of :data:`OWN_COLUMNS` is replaced by curate's.

    Returns:
        ``(rows, quarantine entries)``; ``start_row`` numbers the first record.
    """
    rows, bad = [], []
    for i, rec in enumerate(records, start=start_row):
        if isinstance(rec, BadRecord):
            bad.append({"row": i, "source": name, "reason": rec.reason, "detail": rec.detail, "raw": rec.raw})
            continue
        try:
            r = read_record(rec, fmt, repairs)
        except InvalidRecord as e:
            bad.append({"row": i, "source": name, "reason": e.reason, "detail": e.detail, "raw": preview(rec)})
            continue
        src = r.extra.pop("source", None)
        rows.append({"id": conversation_id(r.messages), "messages": r.messages,
                     "source": str(src) if src is not None else name, "row": i,
                     "original_id": None if r.original is None else conversation_id(r.original),
                     "repairs": r.repairs, **{k: v for k, v in r.extra.items() if k not in OWN_COLUMNS}})
    return rows, bad

