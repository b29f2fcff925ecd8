"""The heuristics scorer as column operations: Arrow compute, numpy and compiled byte kernels
(:mod:`curate.text_kernels`: words, lines, n-gram repetition) over the flattened message column, no
Python per row. Gives the same values as the per-row reference
(:func:`curate.scorers.heuristics.heuristics`, compared in tests): whitespace, line breaks and
lower-casing are Python's, digits and endings of the last characters are decided by Python on the few
distinct ones, and the ratios are rounded by Python's ``round``.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curate.scorers.heuristic_rules import REFUSAL_RE, TEMPLATE_TOKENS, TERMINAL
from curate.text_kernels import (
    PY_WHITESPACE,
    TextScan,
    distinct_ngrams_per_row,
    scan_texts,
    utf8_buffer,
)

ROLE_CODES = ("system", "user", "assistant", "tool")


def _np(arr: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return arr.to_numpy(zero_copy_only=False)


def _per_row(rid: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    return np.bincount(rid, weights=values, minlength=n).astype(np.int64)


def _ratio(distinct: np.ndarray, total: np.ndarray, applies: np.ndarray) -> list[float]:
    frac = np.where(applies, 1.0 - distinct / np.maximum(total, 1), 0.0)
    return [round(x, 4) for x in frac.tolist()]


def _row_offsets(per_string: np.ndarray, strings_per_row: np.ndarray) -> np.ndarray:
    """Offsets of each row's values in a flat array holding ``per_string[s]`` values for string ``s``,
    when row ``r`` is the next ``strings_per_row[r]`` strings."""
    cum = np.concatenate([[0], np.cumsum(per_string)])
    return cum[np.concatenate([[0], np.cumsum(strings_per_row)])]


def _repeat_frac(hashes: np.ndarray, per_message: np.ndarray, turns: np.ndarray, size: int) -> list[float]:
    """Share of each row's units (lines, or word n-grams of ``size``) that repeat an earlier one, over
    the answers' units in order: ``hashes`` holds ``per_message[m]`` units for message ``m``."""
    rows = _row_offsets(per_message, turns)
    total = np.diff(rows) - size + 1
    return _ratio(distinct_ngrams_per_row(hashes, rows, size), total, total > 1)


def _scan_messages(content: pa.Array, asst: np.ndarray) -> TextScan:
    """Every message's words and template-token hits, and the answers' lines and lower-cased words,
    in one pass. Answers with a capital sigma have their words hashed again from ``str.lower`` text
    (a character never lower-cases to whitespace: the words stay the same)."""
    scan = scan_texts(*utf8_buffer(content), asst, TEMPLATE_TOKENS)
    redo = np.flatnonzero(scan.sigma)
    if len(redo):
        lowered = [t.lower() for t in content.take(pa.array(redo, pa.int64())).to_pylist()]
        again = scan_texts(*utf8_buffer(pa.array(lowered, pa.string())), np.ones(len(redo), bool))
        if not np.array_equal(again.words, scan.words[redo]):
            raise RuntimeError("lower-casing changed an answer's words")
        starts = np.concatenate([[0], np.cumsum(scan.words * asst)])
        at = np.repeat(starts[redo] - np.concatenate([[0], np.cumsum(again.words)])[:-1], again.words)
        scan.word_hashes[at + np.arange(len(at))] = again.word_hashes
    return scan


def _refusal(answers: pa.Array) -> np.ndarray:
    """``REFUSAL_RE`` on each answer's ``str.lower()``. RE2 ignoring case over the raw text finds
    every such answer (the pattern is ASCII, and apart from ASCII letters only 'İ' and the Kelvin sign
    lower-case to ASCII: 'İ' to 'i' and a combining dot the pattern cannot match, 'K' to 'k', which
    RE2 folds alike) and a few more (RE2 folds 'ſ' to 's'), so Python confirms only those candidates."""
    maybe = np.flatnonzero(_np(pc.match_substring_regex(answers, REFUSAL_RE.pattern, ignore_case=True)))
    found = np.zeros(len(answers), bool)
    found[maybe] = [REFUSAL_RE.search(t.lower()) is not None for t in answers.take(pa.array(maybe, pa.int64())).to_pylist()]
    return found


def _role_order_ok(code: np.ndarray, rid: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    n = len(starts)
    pos = np.arange(len(code)) - starts[rid]
    late_system = np.bincount(rid, weights=(code == 0) & (pos > 0), minlength=n) > 0
    first = np.where(ends > starts, code[np.minimum(starts, max(len(code) - 1, 0))], -1) if len(code) else np.full(n, -1)
    body = starts + (first == 0)
    body_first = np.where(body < ends, code[np.minimum(body, max(len(code) - 1, 0))], -1) if len(code) else first
    same = np.zeros(len(code), bool)
    same[1:] = (code[1:] == code[:-1]) & np.isin(code[1:], (1, 2)) & (pos[1:] > 0)
    repeats = np.bincount(rid, weights=same, minlength=n) > 0
    return ~late_system & (body_first == 1) & ~repeats


def _truncated(last_role: np.ndarray, last_content: pa.Array) -> np.ndarray:
    text = pc.utf8_rtrim(last_content, characters=PY_WHITESPACE)
    tail = pc.utf8_slice_codeunits(text, -1).dictionary_encode()
    chars = tail.dictionary.to_pylist()
    finished = np.array([c.endswith(TERMINAL) or c[-1:].isdigit() for c in chars] + [False], bool)
    ends_ok = finished[_np(tail.indices.fill_null(len(chars)))]
    long = _np(pc.utf8_length(text)) > 200
    dots = _np(pc.ends_with(text, "..."))
    return (last_role != 2) | (~ends_ok & long) | dots


def heuristic_values(messages: pa.Array | pa.ChunkedArray) -> dict[str, list]:
    """Every heuristics column for a ``list<struct<role, content>>`` column, as Python lists."""
    arr = messages.combine_chunks() if isinstance(messages, pa.ChunkedArray) else messages
    n = len(arr)
    offsets = _np(arr.offsets).astype(np.int64)
    offsets -= offsets[0]
    turns = np.diff(offsets)
    if (turns == 0).any():
        raise IndexError("list index out of range")  # as the per-row function on an empty conversation
    flat = pc.list_flatten(arr)
    role, content = pc.struct_field(flat, "role"), pc.struct_field(flat, "content")
    if content.null_count:
        raise TypeError("object of type 'NoneType' has no len()")
    rid = np.repeat(np.arange(n), turns)
    code = _np(pc.fill_null(pc.index_in(role, pa.array(ROLE_CODES)), -1)).astype(np.int64)
    user, asst = code == 1, code == 2
    clen = _np(pc.utf8_length(content)).astype(np.int64)
    user_turns, asst_turns = _per_row(rid, user, n), _per_row(rid, asst, n)
    chars = _per_row(rid, clen, n) + turns - 1
    asst_chars = _per_row(rid, clen * asst, n) + np.maximum(asst_turns - 1, 0)
    starts, ends = offsets[:-1], offsets[1:]
    last = ends - 1
    scan = _scan_messages(content, asst)
    refusal = _per_row(rid[asst], _refusal(content.filter(pa.array(asst))), n) > 0
    return {
        "turns": turns.tolist(),
        "user_turns": user_turns.tolist(),
        "assistant_turns": asst_turns.tolist(),
        "chars": chars.tolist(),
        "user_chars": _per_row(rid, clen * user, n).tolist(),
        "assistant_chars": asst_chars.tolist(),
        "words": _per_row(rid, scan.words, n).tolist(),
        "tokens": ((chars + 3) // 4).tolist(),
        "assistant_tokens": ((asst_chars + 3) // 4).tolist(),
        "role_order_ok": _role_order_ok(code, rid, starts, ends).tolist(),
        "ends_with_assistant": (code[last] == 2).tolist(),
        "truncated": _truncated(code[last], content.take(pa.array(last))).tolist(),
        "dup_line_frac": _repeat_frac(scan.line_hashes, scan.lines, turns, 1),
        "dup_ngram_frac": _repeat_frac(scan.word_hashes, scan.words * asst, turns, 5),
        "template_leak": (_per_row(rid, scan.found, n) > 0).tolist(),
        "refusal": refusal.tolist(),
    }

