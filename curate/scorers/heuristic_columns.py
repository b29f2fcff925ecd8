"""The heuristics scorer as column operations: Arrow compute and numpy over the flattened message
column, no Python per row. Gives the same values as the per-row reference
(:func:`curate.scorers.heuristics.heuristics`, compared in tests): Python's whitespace and line-break
sets are spelled out for Arrow's regex and trim kernels, digits and endings of the last characters are
decided by Python on the few distinct ones, and the ratios are rounded by Python's ``round``.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curate.scorers.heuristics import _REFUSAL_RE, _TEMPLATE_RE, _TERMINAL

# str.isspace() / str.split() whitespace, and str.splitlines() boundaries (tests check both sets)
PY_WHITESPACE = "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + \
    "\u2028\u2029\u202f\u205f\u3000"
PY_LINE_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
_LINES = "\\r\\n|[" + "".join(f"\\x{{{ord(c):x}}}" for c in PY_LINE_BREAKS) + "]"
ROLE_CODES = ("system", "user", "assistant", "tool")


def _np(arr: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return arr.to_numpy(zero_copy_only=False)


def _per_row(rid: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    return np.bincount(rid, weights=values, minlength=n).astype(np.int64)


def _distinct_per_row(rid: np.ndarray, codes: np.ndarray, n: int) -> np.ndarray:
    """Distinct ``codes`` (uint64 keys; 64-bit hashes or small ids) within each row, by one sort."""
    if not len(codes):
        return np.zeros(n, np.int64)
    keys = np.sort(rid.astype(np.uint64) << np.uint64(40) | (codes.astype(np.uint64) >> np.uint64(24)))
    new = np.ones(len(keys), bool)
    new[1:] = keys[1:] != keys[:-1]
    return np.bincount((keys[new] >> np.uint64(40)).astype(np.int64), minlength=n)


def _ratio(distinct: np.ndarray, total: np.ndarray, applies: np.ndarray) -> list[float]:
    frac = np.where(applies, 1.0 - distinct / np.maximum(total, 1), 0.0)
    return [round(x, 4) for x in frac.tolist()]


def _dup_line_frac(content: pa.Array, rid: np.ndarray, n: int) -> list[float]:
    """``_dup_line_frac`` of each row's joined assistant text: its lines are its messages' lines."""
    lines = pc.split_pattern_regex(content, _LINES)
    line_rid = np.repeat(rid, _np(pc.list_value_length(lines)))
    flat = pc.utf8_trim(pc.list_flatten(lines), characters=PY_WHITESPACE)
    keep = _np(pc.greater(pc.binary_length(flat), 0))
    flat, line_rid = flat.filter(pa.array(keep)), line_rid[keep]
    total = np.bincount(line_rid, minlength=n)
    codes = _np(flat.dictionary_encode().indices).astype(np.uint64) << np.uint64(24)
    return _ratio(_distinct_per_row(line_rid, codes, n), total, total > 1)


def _dup_ngram_frac(words: pa.Array, word_rid: np.ndarray, n: int, size: int = 5) -> list[float]:
    """``_dup_ngram_frac`` over each row's answer words (lower-cased here; n-grams span its messages)."""
    encoded = words.dictionary_encode()  # lower-cased as distinct words: few
    lowered = _py_lower(encoded.dictionary).dictionary_encode()
    codes = _np(lowered.indices).astype(np.uint64)[_np(encoded.indices)]
    total = np.bincount(word_rid, minlength=n)
    windows = len(codes) - size + 1
    if windows <= 0:
        return [0.0] * n
    key = codes[:windows] + np.uint64(1)
    for k in range(1, size):  # a 5-gram of word codes folded into 64 bits (distinct 5-grams stay distinct)
        key *= np.uint64(0x9E3779B97F4A7C15)
        key += codes[k:windows + k]
    inside = word_rid[:windows] == word_rid[size - 1:]
    key, gram_rid = key[inside], word_rid[:windows][inside]
    key ^= key >> np.uint64(29)
    key *= np.uint64(0xBF58476D1CE4E5B9)
    return _ratio(_distinct_per_row(gram_rid, key, n), total - size + 1, total > size)


def _py_lower(texts: pa.Array) -> pa.Array:
    """``str.lower`` of every string: Arrow's for ASCII (identical), Python's for the rest (Arrow's
    Unicode tables differ on a few dozen characters)."""
    low = pc.utf8_lower(texts)
    other = np.flatnonzero(~_np(pc.string_is_ascii(texts)))
    if not len(other):
        return low
    fixed = pa.array([t.lower() for t in texts.take(pa.array(other)).to_pylist()], pa.string())
    return pc.replace_with_mask(low, pa.array(np.isin(np.arange(len(texts)), other)), fixed)


def _refusal(content: pa.Array) -> np.ndarray:
    """The refusal pattern searched in Python's lower-cased text."""
    return _np(pc.match_substring_regex(_py_lower(content), _REFUSAL_RE.pattern))


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
    pieces = pc.utf8_split_whitespace(content)  # Arrow's whitespace is Python's (tested)
    piece_mid = np.repeat(np.arange(len(content)), _np(pc.list_value_length(pieces)))
    flat_words = pc.list_flatten(pieces)
    is_word = _np(pc.greater(pc.binary_length(flat_words), 0))
    word_mid = piece_mid[is_word]
    words = _per_row(rid, np.bincount(word_mid, minlength=len(content)), n)
    answer_word = asst[word_mid]
    starts, ends = offsets[:-1], offsets[1:]
    last = ends - 1
    answer = pa.array(asst)
    a_content, a_rid = content.filter(answer), rid[asst]
    leak = _per_row(rid, _np(pc.match_substring_regex(content, _TEMPLATE_RE.pattern)), n) > 0
    refusal = _per_row(a_rid, _refusal(a_content), n) > 0
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
        "dup_line_frac": _dup_line_frac(a_content, a_rid, n),
        "dup_ngram_frac": _dup_ngram_frac(flat_words.filter(pa.array(is_word)).filter(pa.array(answer_word)),
                                          rid[word_mid][answer_word], n),
        "template_leak": leak.tolist(),
        "refusal": refusal.tolist(),
    }

