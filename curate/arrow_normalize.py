"""ShareGPT / messages / Alpaca normalization on Arrow columns: a block of JSONL parsed by
``pyarrow.json`` becomes the same table ``curate.loaders.to_table`` builds record by record.

Only blocks whose shape is unambiguous take this path (one format in every row, plain extra
columns); :func:`normalize_block` returns ``None`` for anything else and the caller reads the block
record by record. Rows that fail a check here (empty turns, unknown roles, no assistant, ...) are
named as *suspects* and re-read record by record, so their quarantine entries are the per-record
path's own. String checks use Python's whitespace set and ASCII-only role names, so they agree with
``curate.schema`` exactly.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curate.schema import FORMAT_COLUMNS, ROLES, SHAREGPT_ROLES
from curate.text_kernels import PY_WHITESPACE, json_pairs, utf8_buffer

PLAIN_TYPES = (pa.string(), pa.int64(), pa.float64(), pa.bool_(), pa.null())
_RESERVED = {"messages", "row", "source_id"}  # extra columns that would collide with the output's own


@dataclass
class Block:
    """A normalized block: the kept rows' table, and the block positions to re-read record by record."""

    table: pa.Table
    kept: np.ndarray
    suspects: np.ndarray


def _np(arr) -> np.ndarray:
    return arr.to_numpy(zero_copy_only=False)


def _detect(t: pa.Table, fmt: str | None) -> str | None:
    """The one format of every row, as ``curate.schema.detect_format`` would find it, or None."""
    cols = set(t.column_names)
    if fmt is None:
        fmt = "sharegpt" if "conversations" in cols else "messages" if "messages" in cols else "alpaca"
    if fmt not in FORMAT_COLUMNS:
        return None
    needed = {"sharegpt": ("conversations",), "messages": ("messages",), "alpaca": ("instruction", "output")}[fmt]
    if not all(c in cols and t[c].null_count == 0 for c in needed):
        return None
    return fmt


def _turns(col: pa.ChunkedArray, key: str, value: str) -> tuple[np.ndarray, pa.Array, pa.Array] | None:
    arr = col.combine_chunks()
    if not pa.types.is_list(arr.type) or not pa.types.is_struct(arr.type.value_type):
        return None
    names = {f.name: f.type for f in arr.type.value_type}
    if names.get(key) != pa.string() or names.get(value) != pa.string():
        return None
    offsets = _np(arr.offsets).astype(np.int64)
    flat = pc.list_flatten(arr)
    return offsets - offsets[0], pc.struct_field(flat, key), pc.struct_field(flat, value)


def _roles(names: pa.Array, table: dict[str, str]) -> tuple[np.ndarray, np.ndarray]:
    """``(role code or -1, ok)``: names trimmed and lower-cased as ``str(x).strip().lower()``; only
    ASCII names are mapped here (Arrow lower-cases them exactly as Python)."""
    keys = pc.utf8_lower(pc.utf8_trim(names, characters=PY_WHITESPACE))
    idx = pc.index_in(keys, pa.array(list(table)))
    code = np.asarray([ROLES.index(r) for r in table.values()])[_np(pc.fill_null(idx, 0))]
    ok = _np(pc.and_(pc.is_valid(idx), pc.fill_null(pc.string_is_ascii(names), False)))
    return np.where(ok, code, -1), ok


def _blank(texts: pa.Array) -> np.ndarray:
    """True where ``not text.strip()`` (or the value is null)."""
    return _np(pc.fill_null(pc.equal(pc.utf8_length(pc.utf8_trim(texts, characters=PY_WHITESPACE)), 0), True))


def _row_any(flags: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    cs = np.concatenate([[0], np.cumsum(flags, dtype=np.int64)])
    return cs[offsets[1:]] > cs[offsets[:-1]]


def _chat(t: pa.Table, fmt: str) -> tuple[np.ndarray, np.ndarray, pa.Array, np.ndarray] | None:
    """``(offsets, role codes, contents, suspect rows)`` of a sharegpt or messages block."""
    key, value = ("from", "value") if fmt == "sharegpt" else ("role", "content")
    turns = _turns(t["conversations" if fmt == "sharegpt" else "messages"], key, value)
    if turns is None:
        return None
    offsets, names, content = turns
    table = SHAREGPT_ROLES if fmt == "sharegpt" else {r: r for r in ROLES} | {k: v for k, v in SHAREGPT_ROLES.items()
                                                                               if k not in ROLES}
    code, ok = _roles(names, table)
    bad_turn = ~ok | _blank(content)
    suspect = _row_any(bad_turn, offsets) | (np.diff(offsets) == 0) | ~_row_any(code == ROLES.index("assistant"), offsets)
    return offsets, code, content, suspect


def _alpaca(t: pa.Table) -> tuple[np.ndarray, np.ndarray, pa.Array, np.ndarray] | None:
    cols = {c: t[c].combine_chunks() for c in ("instruction", "input", "output", "system") if c in t.column_names}
    if any(a.type not in (pa.string(), pa.null()) for a in cols.values()) or cols["instruction"].type != pa.string() \
            or cols["output"].type != pa.string():
        return None
    n = t.num_rows
    inp = cols.get("input", pa.nulls(n, pa.string())).cast(pa.string())
    has_input = ~_blank(inp)
    prompt = pc.if_else(pa.array(has_input), pc.binary_join_element_wise(cols["instruction"], pc.fill_null(inp, ""),
                                                                        "\n\n"), cols["instruction"])
    system = cols.get("system", pa.nulls(n, pa.string())).cast(pa.string())
    has_system = ~_blank(system)
    counts = 2 + has_system
    offsets = np.concatenate([[0], np.cumsum(counts)])
    code = np.full(offsets[-1], ROLES.index("assistant"))
    code[offsets[:-1] + has_system] = ROLES.index("user")
    code[offsets[:-1][has_system]] = ROLES.index("system")
    pos = np.concatenate([offsets[:-1][has_system], offsets[:-1] + has_system, offsets[1:] - 1])
    values = pa.concat_arrays([system.filter(pa.array(has_system)), prompt, cols["output"]])
    content = values.take(pa.array(np.argsort(pos, kind="stable")))
    suspect = _blank(prompt) | _blank(cols["output"])
    return offsets, code, content, suspect


def conversation_ids(offsets: np.ndarray, code: np.ndarray, content: pa.Array) -> list[str]:
    """``curate.schema.conversation_id`` of every row: contents stripped on the column, the canonical
    JSON written by a compiled kernel, then the same blake2b per row over slices of one buffer."""
    data, text_offsets = utf8_buffer(pc.utf8_trim(content, characters=PY_WHITESPACE))
    canon, bounds = json_pairs(data, text_offsets, code, list(ROLES), offsets)
    view, blake, bounds = memoryview(canon), hashlib.blake2b, bounds.tolist()
    return [blake(view[lo:hi], digest_size=16).hexdigest() for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)]


def _extras(t: pa.Table, fmt: str) -> list[str] | None:
    """Extra columns in first-seen order (as ``to_table`` orders them), or None if any is not plain."""
    extras = [c for c in t.column_names if c not in FORMAT_COLUMNS[fmt] and c not in ("id", "source")]
    if _RESERVED & set(extras) or any(t[c].type not in PLAIN_TYPES for c in extras + ["id"] if c in t.column_names):
        return None
    if "id" in t.column_names and extras and (t["id"].null_count or any(t[c].null_count for c in extras)):
        return None  # source_id's place among the extras would depend on which row has which key
    if "source" in t.column_names and t["source"].type not in (pa.string(), pa.int64(), pa.null()):
        return None  # str() of floats and bools is Python's, not Arrow's
    return extras


def normalize_block(t: pa.Table, name: str, row0: int, fmt: str | None = None) -> Block | None:
    """The normalized table of a parsed block (rows ``row0...``), or None where only the record path
    gives the same result."""
    fmt = _detect(t, fmt)
    extras = None if fmt is None else _extras(t, fmt)
    if extras is None:
        return None
    parts = _chat(t, fmt) if fmt != "alpaca" else _alpaca(t)
    if parts is None:
        return None
    offsets, code, content, suspect = parts
    if suspect.any() and (extras or "id" in t.column_names):
        return None  # which extra columns exist, in what order, with what type, is decided by the kept rows only
    kept = np.flatnonzero(~suspect)
    if len(kept) < t.num_rows:  # compact the kept rows' messages
        take = np.flatnonzero(np.repeat(~suspect, np.diff(offsets)))
        content, code = content.take(pa.array(take, pa.int64())), code[take]
        offsets = np.concatenate([[0], np.cumsum(np.diff(offsets)[kept])])
    role = pa.array(list(ROLES)).take(pa.array(code, pa.int64()))
    messages = pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)),
                                        pa.StructArray.from_arrays([role, content.cast(pa.string())], ["role", "content"]))
    sub = t.take(pa.array(kept, pa.int64()))
    source = sub["source"].cast(pa.string()) if "source" in t.column_names else pa.nulls(len(kept), pa.string())
    cols = {"id": pa.array(conversation_ids(offsets, code, content), pa.string()), "messages": messages,
            "source": pc.fill_null(source, name), "row": pa.array(row0 + kept, pa.int64())}
    for c in extras:
        cols[c] = sub[c]
    if "id" in t.column_names:
        cols["source_id"] = sub["id"]
    return Block(pa.table(cols), kept, np.flatnonzero(suspect))
