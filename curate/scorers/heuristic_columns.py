"""The heuristics scorer as column operations: Arrow compute, numpy and compiled byte kernels
(:mod:`curate.text_kernels`: words, lines, n-gram repetition) over the flattened message column, no
Python per row. Gives the same values as the per-row reference
(:func:`curate.scorers.heuristics.heuristics`, compared in tests): whitespace, line breaks and
lower-casing are Python's, digits and endings of the last characters are decided by Python on the few
distinct ones, and the ratios are rounded by Python's ``round``.
"""

from __future__ import annotations

import functools

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curate.scorers.heuristics import _REFUSAL_RE, _TERMINAL, TEMPLATE_TOKENS
from curate.text_kernels import (
    PY_WHITESPACE,
    contains_any,
    distinct_ngrams_per_row,
    distinct_per_row,
    line_hashes,
    utf8_buffer,
    word_counts,
    word_hashes,
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


def _dup_line_frac(answers: pa.Array, answers_per_row: np.ndarray) -> list[float]:
    """``_dup_line_frac`` of each row's joined answer text: its lines are its messages' lines."""
    hashes, lines = line_hashes(*utf8_buffer(answers))
    rows = _row_offsets(lines, answers_per_row)
    total = np.diff(rows)
    return _ratio(distinct_per_row(hashes, rows), total, total > 1)


def _dup_ngram_frac(hashes: np.ndarray, words: np.ndarray, answers_per_row: np.ndarray, size: int = 5) -> list[float]:
    """``_dup_ngram_frac`` over each row's lower-cased answer words (``hashes``, ``words`` per answer;
    n-grams span its messages)."""
    rows = _row_offsets(words, answers_per_row)
    total = np.diff(rows)
    return _ratio(distinct_ngrams_per_row(hashes, rows, size), total - size + 1, total > size)


@functools.cache
def _lower_differs() -> tuple[str, ...]:
    """The characters whose lower-case Arrow and Python disagree on: their Unicode versions differ by a
    few dozen, and Python lower-cases a final capital sigma to 'ς'. Only the characters either one
    changes are compared (Arrow lower-cases every character in one call)."""
    text = "".join(map(chr, range(0x80, 0xD800))) + "".join(map(chr, range(0xE000, 0x110000)))
    data = np.frombuffer(text.encode(), np.uint8)
    starts = np.flatnonzero((data & 0xC0) != 0x80)
    chars = pa.StringArray.from_buffers(len(starts), pa.py_buffer(np.append(starts, len(data)).astype(np.int32)),
                                        pa.py_buffer(data))
    arrow_changed = np.flatnonzero(_np(pc.not_equal(pc.utf8_lower(chars), chars)))
    candidates = sorted({text[i] for i in arrow_changed} | {c for c in text if c.lower() != c})
    arrow = pc.utf8_lower(pa.array(candidates)).to_pylist()
    return tuple(c for c, a in zip(candidates, arrow, strict=True) if c.lower() != a) + ("\u03a3",)


def _py_lower(texts: pa.Array) -> pa.Array:
    """``str.lower`` of every string: Arrow's, except on the strings holding a character where
    Python's differs (:func:`_lower_differs`), which Python lower-cases."""
    low = pc.utf8_lower(texts)
    wide = np.flatnonzero(~_np(pc.fill_null(pc.string_is_ascii(texts), True)))  # ASCII lower-cases alike
    if not len(wide):  # no need to find the differing characters (0.2 s, once per process)
        return low
    other = wide[contains_any(*utf8_buffer(texts.take(pa.array(wide, pa.int64()))), _lower_differs())]
    if not len(other):
        return low
    fixed = pa.array([t.lower() for t in texts.take(pa.array(other)).to_pylist()], pa.string())
    mask = np.zeros(len(texts), bool)
    mask[other] = True
    return pc.replace_with_mask(low, pa.array(mask), fixed)


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
    finished = np.array([c.endswith(_TERMINAL) or c[-1:].isdigit() for c in chars] + [False], bool)
    ends_ok = finished[_np(tail.indices.fill_null(len(chars)))]
    long = _np(pc.utf8_length(text)) > 200
    dots = _np(pc.ends_with(text, "..."))
    return (last_role != 2) | (~ends_ok & long) | dots


def score_columns(messages: pa.Array | pa.ChunkedArray) -> dict[str, list]:
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
    answers = content.filter(pa.array(asst))
    lowered = _py_lower(answers)
    answer_words, answer_word_counts = word_hashes(*utf8_buffer(lowered))  # lower-casing keeps the words
    message_words = np.zeros(len(content), np.int64)
    message_words[asst] = answer_word_counts
    message_words[~asst] = word_counts(*utf8_buffer(content.filter(pa.array(~asst))))
    words = _per_row(rid, message_words, n)
    leak = _per_row(rid, contains_any(*utf8_buffer(content), TEMPLATE_TOKENS), n) > 0
    refusal = _per_row(rid[asst], _np(pc.match_substring_regex(lowered, _REFUSAL_RE.pattern)), n) > 0
    return {
        "turns": turns.tolist(),
        "user_turns": user_turns.tolist(),
        "assistant_turns": asst_turns.tolist(),
        "chars": chars.tolist(),
        "user_chars": _per_row(rid, clen * user, n).tolist(),
        "assistant_chars": asst_chars.tolist(),
        "words": words.tolist(),
        "tokens": ((chars + 3) // 4).tolist(),
        "assistant_tokens": ((asst_chars + 3) // 4).tolist(),
        "role_order_ok": _role_order_ok(code, rid, starts, ends).tolist(),
        "ends_with_assistant": (code[last] == 2).tolist(),
        "truncated": _truncated(code[last], content.take(pa.array(last))).tolist(),
        "dup_line_frac": _dup_line_frac(answers, asst_turns),
        "dup_ngram_frac": _dup_ngram_frac(answer_words, answer_word_counts, asst_turns),
        "template_leak": leak.tolist(),
        "refusal": refusal.tolist(),
    }

