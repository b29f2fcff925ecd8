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

from curate.schema import FORMAT_COLUMNS, REPAIRS, ROLES, SHAREGPT_ROLES
from curate.text_kernels import PY_WHITESPACE, json_pairs, utf8_buffer

PLAIN_TYPES = (pa.string(), pa.int64(), pa.float64(), pa.bool_(), pa.null())
_RESERVED = {"messages", "row", "source_id", "original_id", "repairs"}  # extra columns that would collide with the output's own


SYSTEM, USER, ASSISTANT = (ROLES.index(r) for r in ("system", "user", "assistant"))


@dataclass
class Block:
    """A normalized block: the kept rows' table, and the block positions to re-read record by record."""

    table: pa.Table
    kept: np.ndarray
    suspects: np.ndarray


@dataclass
class Turns:
    """Conversations as flat turns: row ``i`` holds turns ``offsets[i]:offsets[i + 1]``. ``stripped``: every
    content is known to be stripped already (then blank means empty, and ids need no second strip)."""

    offsets: np.ndarray
    code: np.ndarray
    content: pa.Array
    stripped: bool = False

    @property
    def rid(self) -> np.ndarray:
        """The row of each turn."""
        return np.repeat(np.arange(len(self.offsets) - 1), np.diff(self.offsets))

    def keep(self, mask: np.ndarray) -> Turns:
        """Only the turns where ``mask`` is set; every row stays (maybe empty)."""
        if mask.all():
            return self
        counts = np.bincount(self.rid[mask], minlength=len(self.offsets) - 1)
        return Turns(np.concatenate([[0], np.cumsum(counts)]), self.code[mask], self.content.filter(pa.array(mask)),
                     self.stripped)

    def rows(self, rows: np.ndarray) -> Turns:
        """Only the rows where ``rows`` is set."""
        if rows.all():
            return self
        mask = np.repeat(rows, np.diff(self.offsets))
        return Turns(np.concatenate([[0], np.cumsum(np.diff(self.offsets)[rows])]), self.code[mask],
                     self.content.filter(pa.array(mask)), self.stripped)

    def blank(self) -> np.ndarray:
        """True for turns whose content is whitespace only (or null)."""
        if self.stripped:
            return _np(pc.fill_null(pc.equal(pc.binary_length(self.content), 0), True))
        return _blank(self.content)

    def trimmed(self) -> pa.Array:
        return self.content if self.stripped else pc.utf8_trim(self.content, characters=PY_WHITESPACE)


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
    """True where ``not text.strip()`` (or the value is null); byte lengths: no scan of the text."""
    return _np(pc.fill_null(pc.equal(pc.binary_length(pc.utf8_trim(texts, characters=PY_WHITESPACE)), 0), True))


def _row_any(flags: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    cs = np.concatenate([[0], np.cumsum(flags, dtype=np.int64)])
    return cs[offsets[1:]] > cs[offsets[:-1]]


def _chat(t: pa.Table, fmt: str) -> tuple[Turns, np.ndarray] | None:
    """``(turns, broken rows)`` of a sharegpt or messages block: broken rows (an unknown role, a null
    content) only the record path can judge."""
    key, value = ("from", "value") if fmt == "sharegpt" else ("role", "content")
    turns = _turns(t["conversations" if fmt == "sharegpt" else "messages"], key, value)
    if turns is None:
        return None
    offsets, names, content = turns
    table = SHAREGPT_ROLES if fmt == "sharegpt" else {r: r for r in ROLES} | {k: v for k, v in SHAREGPT_ROLES.items()
                                                                               if k not in ROLES}
    code, ok = _roles(names, table)
    return Turns(offsets, code, content), _row_any(~ok | _np(content.is_null()), offsets)


def _alpaca(t: pa.Table) -> tuple[Turns, np.ndarray] | None:
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
    return Turns(offsets, code, content), np.zeros(n, bool)


# --- repairs on columns: each gives the repaired turns and the rows it changed ------------------------


def _whitespace(t: Turns) -> tuple[Turns, np.ndarray]:
    trimmed = pc.utf8_trim(t.content, characters=PY_WHITESPACE)
    changed = _np(pc.fill_null(pc.not_equal(pc.binary_length(trimmed), pc.binary_length(t.content)), False))
    return Turns(t.offsets, t.code, trimmed, stripped=True), _row_any(changed, t.offsets)


def _empty_turns(t: Turns) -> tuple[Turns, np.ndarray]:
    empty = t.blank() & _np(t.content.is_valid())
    return t.keep(~empty), _row_any(empty, t.offsets)


def _merge_same_role(t: Turns) -> tuple[Turns, np.ndarray]:
    """Runs of user (or assistant) turns joined with a blank line, as one list per run and ``binary_join``."""
    rid = t.rid
    same = np.zeros(len(t.code), bool)
    same[1:] = (rid[1:] == rid[:-1]) & (t.code[1:] == t.code[:-1]) & np.isin(t.code[1:], (USER, ASSISTANT))
    if not same.any():
        return t, np.zeros(len(t.offsets) - 1, bool)
    first = np.flatnonzero(~same)
    runs = pa.ListArray.from_arrays(pa.array(np.append(first, len(same)), pa.int32()), t.content)
    offsets = np.concatenate([[0], np.cumsum(np.bincount(rid[first], minlength=len(t.offsets) - 1))])
    stripped = t.stripped and not t.blank().any()  # a merge with an empty part would start or end with "\n\n"
    return Turns(offsets, t.code[first], pc.binary_join(runs, "\n\n"), stripped), _row_any(same, t.offsets)


def _leading_assistant(t: Turns) -> tuple[Turns, np.ndarray]:
    """Assistant turns from the body's start (after a system turn at 0) up to the first other turn."""
    rid, start, n = t.rid, t.offsets[:-1], len(t.code)
    first = t.code[np.minimum(start, n - 1)] if n else np.full(len(start), -1)
    body = start + ((np.diff(t.offsets) > 0) & (first == SYSTEM))
    others = np.concatenate([[0], np.cumsum(t.code != ASSISTANT)])  # non-assistant turns before each turn
    at = np.arange(n)
    drop = (t.code == ASSISTANT) & (at >= body[rid]) & (others[at] == others[body[rid]])
    return t.keep(~drop), _row_any(drop, t.offsets)


def _trailing_user(t: Turns) -> tuple[Turns, np.ndarray]:
    """User turns with no other turn after them in their row."""
    others = np.concatenate([[0], np.cumsum(t.code != USER)])  # non-user turns before each turn
    at = np.arange(len(t.code))
    drop = (t.code == USER) & (others[t.offsets[1:][t.rid]] == others[at + 1])
    return t.keep(~drop), _row_any(drop, t.offsets)


_REPAIRS = {"whitespace": _whitespace, "empty_turns": _empty_turns, "merge_same_role": _merge_same_role,
            "leading_assistant": _leading_assistant, "trailing_user": _trailing_user}
assert tuple(_REPAIRS) == REPAIRS  # the record path's order


def _failing(t: Turns, broken: np.ndarray) -> np.ndarray:
    """Rows ``curate.schema._check`` rejects, or that only the record path can judge."""
    return broken | _row_any(t.blank(), t.offsets) | (np.diff(t.offsets) == 0) \
        | ~_row_any(t.code == ASSISTANT, t.offsets)


def _undo(fixed: Turns, t: Turns, undone: np.ndarray) -> Turns:
    """``fixed`` with the ``undone`` rows' turns taken from ``t`` (the input as it was)."""
    use_fixed, use_input = np.repeat(~undone, np.diff(fixed.offsets)), np.repeat(undone, np.diff(t.offsets))
    rid = np.concatenate([fixed.rid[use_fixed], t.rid[use_input]])
    order = pa.array(np.argsort(rid, kind="stable"))
    content = pa.concat_arrays([fixed.content.filter(pa.array(use_fixed)), t.content.filter(pa.array(use_input))])
    return Turns(np.concatenate([[0], np.cumsum(np.bincount(rid, minlength=len(undone)))]),
                 np.concatenate([fixed.code[use_fixed], t.code[use_input]])[order.to_numpy()], content.take(order))


def _repair(t: Turns, broken: np.ndarray, repairs: tuple[str, ...]) -> tuple[Turns, np.ndarray, dict[str, np.ndarray]]:
    """``(turns, failing rows, rows each repair changed)``. As in ``curate.schema.read_record``, a row
    whose repaired form fails the checks is judged as it came (its repairs undone)."""
    fixed, done = t, {}
    for name in REPAIRS:
        if name in repairs:
            fixed, changed = _REPAIRS[name](fixed)  # unchanged turns (a stripped copy at most) when no row changed
            if changed.any():
                done[name] = changed
    fails = _failing(fixed, broken)
    undone = np.logical_or.reduce([fails & rows for rows in done.values()]) if done else np.zeros_like(fails)
    if undone.any():
        fixed = _undo(fixed, t, undone)
        fails = _failing(fixed, broken)
        done = {name: rows & ~undone for name, rows in done.items()}
    return fixed, fails, done


def _repair_columns(t: Turns, kept: np.ndarray, done: dict[str, np.ndarray], ids: list[str]) -> dict[str, pa.Array]:
    """``original_id`` and ``repairs`` (names in repair order) of the ``kept`` rows. The whitespace repair
    keeps the id (ids strip each turn), so only rows repaired otherwise hash their input turns again."""
    names = [n for n in REPAIRS if n in done]
    flags = np.column_stack([done[n][kept] for n in names]) if names else np.zeros((len(ids), 0), bool)
    col = np.nonzero(flags)[1]
    repairs = pa.ListArray.from_arrays(pa.array(np.concatenate([[0], np.cumsum(flags.sum(1))]), pa.int32()),
                                       pa.array(names, pa.string()).take(pa.array(col, pa.int64())))
    original = np.array(ids, object)
    original[~flags.any(1)] = None
    structural = np.zeros(len(kept), bool)
    for n in names:
        if n != "whitespace":
            structural |= done[n]
    if (structural & kept).any():
        original[structural[kept]] = conversation_ids(t.rows(structural & kept))
    return {"original_id": pa.array(original, pa.string()), "repairs": repairs}


def conversation_ids(t: Turns) -> list[str]:
    """``curate.schema.conversation_id`` of every row: contents stripped on the column, the canonical
    JSON written by a compiled kernel, then the same blake2b per row over slices of one buffer."""
    data, text_offsets = utf8_buffer(t.trimmed())
    canon, bounds = json_pairs(data, text_offsets, t.code, list(ROLES), t.offsets)
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


def normalize_block(t: pa.Table, name: str, rows: np.ndarray, fmt: str | None = None,
                    repairs: tuple[str, ...] = REPAIRS) -> Block | None:
    """The normalized (and repaired) table of a parsed block whose lines are the input rows ``rows``, or
    None where only the record path gives the same result."""
    fmt = _detect(t, fmt)
    extras = None if fmt is None else _extras(t, fmt)
    if extras is None:
        return None
    parts = _chat(t, fmt) if fmt != "alpaca" else _alpaca(t)
    if parts is None:
        return None
    turns, broken = parts
    fixed, suspect, done = _repair(turns, broken, repairs)
    if suspect.any() and (extras or "id" in t.column_names):
        return None  # which extra columns exist, in what order, with what type, is decided by the kept rows only
    kept = np.flatnonzero(~suspect)
    out = fixed.rows(~suspect)
    role = pa.array(list(ROLES)).take(pa.array(out.code, pa.int64()))
    messages = pa.ListArray.from_arrays(pa.array(out.offsets.astype(np.int32)), pa.StructArray.from_arrays(
        [role, out.content.cast(pa.string())], ["role", "content"]))
    sub = t.take(pa.array(kept, pa.int64()))
    source = sub["source"].cast(pa.string()) if "source" in t.column_names else pa.nulls(len(kept), pa.string())
    ids = conversation_ids(out)
    cols = {"id": pa.array(ids, pa.string()), "messages": messages, "source": pc.fill_null(source, name),
            "row": pa.array(np.asarray(rows)[kept], pa.int64()), **_repair_columns(turns, ~suspect, done, ids)}
    for c in extras:
        cols[c] = sub[c]
    if "id" in t.column_names:
        cols["source_id"] = sub["id"]
    return Block(pa.table(cols), kept, np.flatnonzero(suspect))
