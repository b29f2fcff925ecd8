"""Compiled byte-level text kernels (numba): one pass over an Arrow string column's UTF-8 buffer where
Arrow compute has no kernel and numpy would need a temporary per byte.

Every kernel takes ``(data, offsets)``: the column's bytes and its ``n + 1`` int64 string offsets
(:func:`utf8_buffer`). Whitespace and line breaks are Python's own sets (``str.split``,
``str.strip``, ``str.splitlines``), decoded from UTF-8 here, so the results equal the per-row Python
definitions they replace (tests compare them). Hashes are 64-bit and fixed-constant, the same on every
machine and run; distinct counts compare hashes (a collision needs ~2**32 values in one row).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from numba import njit

PY_WHITESPACE = "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + \
    "\u2028\u2029\u202f\u205f\u3000"  # str.isspace(), str.split() and str.strip() whitespace
PY_LINE_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"  # str.splitlines() boundaries


def _kinds(limit: int) -> np.ndarray:
    """Kind of every code point below ``limit``: 0 other, 1 whitespace, 2 line break (also whitespace)."""
    out = np.zeros(limit, np.uint8)
    out[[ord(c) for c in PY_WHITESPACE if ord(c) < limit]] = 1
    out[[ord(c) for c in PY_LINE_BREAKS if ord(c) < limit]] = 2
    return out


_KIND = _kinds(0x3001)  # no whitespace or line break lies above U+3000
_PRIME = np.uint64(0x100000001B3)  # FNV-1a's
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def utf8_buffer(texts: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """UTF-8 bytes and int64 string offsets (from 0) of a string column, without a copy per string."""
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks()
    texts = texts.cast(pa.large_string()) if texts.type != pa.large_string() else texts
    if texts.null_count:
        texts = texts.fill_null("")
    offsets = np.frombuffer(texts.buffers()[1], np.int64)[texts.offset: texts.offset + len(texts) + 1]
    data = np.frombuffer(texts.buffers()[2], np.uint8) if len(texts) and offsets[-1] else np.zeros(0, np.uint8)
    return data[offsets[0]: offsets[-1]], offsets - offsets[0]


@njit(cache=True, nogil=True, inline="always")
def mix(x):
    """splitmix64 finalizer of a uint64, or of every value of a uint64 array (a new array; the
    argument is left as it is): the one mixer of every hash in curate."""
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


@njit(cache=True, nogil=True, inline="always")
def _feed(h, v, shift, x):
    """One more byte ``x`` into a block hash's state (``h``; ``v``, the block being filled)."""
    v |= np.uint64(x) << shift
    shift += np.uint64(8)
    if shift == np.uint64(64):
        return (h ^ v) * _PRIME, np.uint64(0), np.uint64(0)
    return h, v, shift


@njit(cache=True, nogil=True, inline="always")
def _block_hash(data, lo, hi):
    """Hash of the bytes ``data[lo:hi]``: eight bytes per multiply (a byte-serial hash such as FNV
    spends a multiply's latency on every byte), and the length, so trailing zero bytes count."""
    h, v, shift = _GOLDEN, np.uint64(0), np.uint64(0)
    for j in range(lo, hi):
        h, v, shift = _feed(h, v, shift, data[j])
    return mix((h ^ v) * _PRIME + np.uint64(hi - lo))


@njit(cache=True, nogil=True, inline="always")
def _found_at(data, i, end, needles, needle_offsets, by_first):
    """Whether one of the needles starting with byte ``data[i]`` starts at ``i``."""
    for k in range(by_first[data[i]], by_first[np.int64(data[i]) + 1]):
        lo, hi = needle_offsets[k], needle_offsets[k + 1]
        if i + hi - lo > end:
            continue
        j = 1
        while j < hi - lo and data[i + j] == needles[lo + j]:
            j += 1
        if j == hi - lo:
            return True
    return False


@njit(cache=True, nogil=True, inline="always")
def _lower_hash(data, lo, hi, lower, lower_offsets):
    """:func:`_block_hash` of the ``str.lower`` of the characters in ``data[lo:hi]`` (per character,
    from the table of :func:`_lower_table`)."""
    h, v, shift, size, i = _GOLDEN, np.uint64(0), np.uint64(0), 0, lo
    while i < hi:
        b = data[i]
        if b < 0x80:
            h, v, shift = _feed(h, v, shift, lower[b])
            size += 1
            i += 1
            continue
        width = 2 if b < 0xE0 else 3 if b < 0xF0 else 4
        cp = np.int64(b) & (0x1F if width == 2 else 0x0F if width == 3 else 0x07)
        for j in range(i + 1, i + width):
            cp = (cp << 6) | (np.int64(data[j]) & 0x3F)
        known = cp < len(lower_offsets) - 1
        first, last = (lower_offsets[cp], lower_offsets[cp + 1]) if known else (i, i + width)
        for j in range(first, last):
            h, v, shift = _feed(h, v, shift, lower[j] if known else data[j])
        size += last - first
        i += width
    return mix((h ^ v) * _PRIME + np.uint64(size))


@njit(cache=True, nogil=True)
def _scan(data, offsets, kinds, deep, lower, lower_offsets, starts_needle, needles, needle_offsets, by_first, capacity):
    """Every string's words, needle hits and, for ``deep`` strings, word and line hashes, in one pass
    over its bytes (see :func:`scan_texts`)."""
    n = len(offsets) - 1
    words, lines, found = np.zeros(n, np.int64), np.zeros(n, np.int64), np.zeros(n, np.bool_)
    sigma = np.zeros(n, np.bool_)
    word_hashes, line_hashes = np.empty(capacity, np.uint64), np.empty(capacity, np.uint64)
    nw = nl = 0
    for s in range(n):
        i, end, hashing, hit, count, nlines = offsets[s], offsets[s + 1], deep[s], False, 0, 0
        word_lo, line_lo, line_hi = -1, -1, -1
        while i <= end:
            # The kind of the character at i (0 other, 1 whitespace, 2 line break) and its width. Only
            # ASCII and the lead bytes C2 (U+0080-00BF) and E1-E3 (U+1000-3FFF) can start whitespace;
            # other bytes count as one-byte 'other'. The string's end closes its last word and line.
            b, width = (data[i] if i < end else 0x0A), 1
            if b < 0x80:
                kind = kinds[b]
            elif b == 0xC2:
                kind, width = kinds[((np.int64(b) & 0x1F) << 6) | (np.int64(data[i + 1]) & 0x3F)], 2
            elif b == 0xE1 or b == 0xE2 or b == 0xE3:
                cp = ((np.int64(b) & 0x0F) << 12) | ((np.int64(data[i + 1]) & 0x3F) << 6) | (np.int64(data[i + 2]) & 0x3F)
                kind, width = (kinds[cp] if cp < len(kinds) else 0), 3
            else:
                kind = 0
                sigma[s] |= hashing and b == 0xCE and data[i + 1] == 0xA3  # U+03A3
            if kind == 0:
                if starts_needle[b] and not hit:
                    hit = _found_at(data, i, end, needles, needle_offsets, by_first)
                word_lo = i if word_lo < 0 else word_lo
                i += width
                while i < end and 0x20 < data[i] < 0x80 and not starts_needle[data[i]]:  # the rest of a plain word
                    i += 1
                line_hi = i
                continue
            if word_lo >= 0:
                count += 1
                if hashing:
                    word_hashes[nw] = _lower_hash(data, word_lo, i, lower, lower_offsets)
                    nw += 1
                    line_lo = word_lo if line_lo < 0 else line_lo
                word_lo = -1
            if kind == 2 and line_lo >= 0:
                line_hashes[nl] = _block_hash(data, line_lo, line_hi)
                nl += 1
                nlines += 1
                line_lo = -1
            i += width
        words[s], lines[s], found[s] = count, nlines, hit
    return words, word_hashes[:nw], lines, line_hashes[:nl], found, sigma


@dataclass
class TextScan:
    """What :func:`scan_texts` finds in each string (``*_hashes`` hold the deep strings' units, in
    order: string ``s`` has ``words[s]`` word hashes and ``lines[s]`` line hashes)."""

    words: np.ndarray  # len(text.split())
    word_hashes: np.ndarray  # each word of text.lower().split() (see sigma)
    lines: np.ndarray  # len([ln for ln in text.splitlines() if ln.strip()]); 0 unless deep
    line_hashes: np.ndarray  # each ln.strip() of those lines
    found: np.ndarray  # whether any needle occurs (needles start with a non-whitespace character)
    sigma: np.ndarray  # deep strings holding a capital sigma, whose lower case depends on context


@functools.cache
def _lower_table(limit: int = 0x20000) -> tuple[np.ndarray, np.ndarray]:
    """``(bytes, offsets)``: the UTF-8 of ``chr(c).lower()`` is ``bytes[offsets[c]:offsets[c + 1]]``
    for every code point below ``limit`` (none above U+1FFFF has a lower case). Python lower-cases
    per character except a capital sigma, which :func:`scan_texts` reports instead."""
    low = [chr(c).lower().encode("utf-8", "surrogatepass") for c in range(limit)]
    offsets = np.concatenate([[0], np.cumsum([len(x) for x in low])]).astype(np.int64)
    return np.frombuffer(b"".join(low), np.uint8), offsets


def _needle_table(needles: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(needle bytes, offsets, by_first)``: needles sorted, so those starting with byte ``b`` are
    ``by_first[b]:by_first[b + 1]``."""
    encoded = sorted(x.encode() for x in needles if x)
    firsts = np.array([x[0] for x in encoded], np.int64)
    by_first = np.searchsorted(firsts, np.arange(257)).astype(np.int64)
    needle_offsets = np.concatenate([[0], np.cumsum([len(x) for x in encoded])]).astype(np.int64)
    return np.frombuffer(b"".join(encoded), np.uint8), needle_offsets, by_first


def scan_texts(data: np.ndarray, offsets: np.ndarray, deep: np.ndarray, needles: Sequence[str] = ()) -> TextScan:
    """Words (Python's ``str.split``), literal needle hits and, for the strings where ``deep`` is
    set, the hash of every ``str.lower`` word and of every non-empty stripped line
    (``str.splitlines``), in one pass: the heuristics read every message once. Lower-casing is
    Python's per character; the few strings with a capital sigma (Python lower-cases it by its
    context) are flagged in ``sigma`` for the caller to hash from ``str.lower`` text."""
    if any(x and PY_WHITESPACE.find(x[0]) >= 0 for x in needles):
        raise ValueError("needles must start with a non-whitespace character")
    deep = np.asarray(deep, np.bool_)
    sizes = np.diff(offsets)[deep]
    capacity = int(sizes.sum()) // 2 + len(sizes) + 1  # a unit and its separator take >= 2 bytes
    table = _needle_table(needles)
    starts_needle = np.diff(table[2]) > 0
    return TextScan(*_scan(data, offsets, _KIND, deep, *_lower_table(), starts_needle, *table, capacity))


@njit(cache=True, nogil=True)
def _run_hashes(data, offsets, in_word, base):
    n = len(offsets) - 1
    counts = np.zeros(n, np.int64)
    hashes = np.empty(len(data) // 2 + n + 1, np.uint64)
    k = 0
    for s in range(n):
        inside, h, power = False, np.uint64(0), np.uint64(1)
        for i in range(offsets[s], offsets[s + 1]):
            if in_word[data[i]]:
                if not inside:
                    inside, h, power = True, np.uint64(0), np.uint64(1)
                h += np.uint64(data[i]) * power
                power *= base
            elif inside:
                hashes[k] = mix(h)
                k += 1
                counts[s] += 1
                inside = False
        if inside:
            hashes[k] = mix(h)
            k += 1
            counts[s] += 1
    return hashes[:k], counts


def run_hashes(data: np.ndarray, offsets: np.ndarray, in_word: np.ndarray, base: int) -> tuple[np.ndarray, np.ndarray]:
    """``(hash of every maximal run of bytes with in_word[byte], in order; runs per string)``. A run's
    hash is the splitmix64-mixed polynomial ``sum(byte_j * base**j)`` mod 2**64 of its bytes."""
    return _run_hashes(data, offsets, in_word, np.uint64(base))


@njit(cache=True, nogil=True, inline="always")
def _insert(slots, stamps, mask, key, stamp):
    """Add ``key`` to the open-addressing set in ``slots[:mask + 1]`` whose live slots carry
    ``stamp``; True if it was new. Stamps make a fresh set per row without clearing the table."""
    j = np.int64(key & np.uint64(mask))
    while stamps[j] == stamp:
        if slots[j] == key:
            return False
        j = (j + 1) & mask
    stamps[j], slots[j] = stamp, key
    return True


@njit(cache=True, nogil=True)
def _distinct(hashes, row_offsets, size):
    n = len(row_offsets) - 1
    out = np.zeros(n, np.int64)
    longest = 1
    for r in range(n):
        longest = max(longest, row_offsets[r + 1] - row_offsets[r])
    cap = 16
    while cap < 2 * longest:
        cap *= 2
    slots, stamps = np.empty(cap, np.uint64), np.zeros(cap, np.int64)
    for r in range(n):
        lo, windows = row_offsets[r], row_offsets[r + 1] - row_offsets[r] - size + 1
        mask = 15
        while mask + 1 < 2 * windows:
            mask = 2 * mask + 1
        for w in range(lo, lo + max(windows, 0)):
            key = hashes[w]
            if size > 1:
                key = np.uint64(size)
                for j in range(size):
                    key = key * _GOLDEN + hashes[w + j]
                key = mix(key)
            out[r] += _insert(slots, stamps, mask, key, r + 1)
    return out


def distinct_ngrams_per_row(hashes: np.ndarray, row_offsets: np.ndarray, size: int) -> np.ndarray:
    """Distinct runs of ``size`` consecutive hashes inside each row (n-grams of words; ``size=1``:
    distinct values)."""
    return _distinct(hashes, np.asarray(row_offsets, np.int64), size)


@njit(cache=True, nogil=True, inline="always")
def _escaped_size(b):
    if b == 0x22 or b == 0x5C or b == 0x08 or b == 0x09 or b == 0x0A or b == 0x0C or b == 0x0D:
        return 2
    return 6 if b < 0x20 else 1


@njit(cache=True, nogil=True, inline="always")
def _hex(d):
    return d + 48 if d < 10 else d + 87  # lower-case, as Python's json writes \u00XX


@njit(cache=True, nogil=True, inline="always")
def _escape_into(data, lo, hi, out, at):
    """JSON string body of ``data[lo:hi]`` as ``json.dumps(ensure_ascii=False)`` writes it."""
    for i in range(lo, hi):
        b = data[i]
        if b >= 0x20 and b != 0x22 and b != 0x5C:
            out[at] = b
            at += 1
            continue
        out[at] = 0x5C
        short = b if b == 0x22 or b == 0x5C else 0x62 if b == 0x08 else 0x74 if b == 0x09 else \
            0x6E if b == 0x0A else 0x66 if b == 0x0C else 0x72 if b == 0x0D else 0
        if short:
            out[at + 1] = short
            at += 2
        else:
            out[at + 1], out[at + 2], out[at + 3] = 0x75, 0x30, 0x30
            out[at + 4], out[at + 5] = _hex(b >> 4), _hex(b & 0xF)
            at += 6
    return at


@njit(cache=True, nogil=True)
def _json_pairs(data, offsets, roles, names, name_offsets, row_offsets):
    n = len(row_offsets) - 1
    out_offsets = np.zeros(n + 1, np.int64)
    for r in range(n):
        turns = row_offsets[r + 1] - row_offsets[r]
        size = 2 + 7 * turns + max(turns - 1, 0)  # [ ] around, ["",""] per turn, commas between
        for t in range(row_offsets[r], row_offsets[r + 1]):
            size += name_offsets[roles[t] + 1] - name_offsets[roles[t]]
            for i in range(offsets[t], offsets[t + 1]):
                size += _escaped_size(data[i])
        out_offsets[r + 1] = out_offsets[r] + size
    out = np.empty(out_offsets[-1], np.uint8)
    for r in range(n):
        at = out_offsets[r]
        out[at] = 0x5B
        at += 1
        for t in range(row_offsets[r], row_offsets[r + 1]):
            if t > row_offsets[r]:
                out[at] = 0x2C
                at += 1
            out[at], out[at + 1] = 0x5B, 0x22
            at += 2
            for j in range(name_offsets[roles[t]], name_offsets[roles[t] + 1]):
                out[at] = names[j]
                at += 1
            out[at], out[at + 1], out[at + 2] = 0x22, 0x2C, 0x22
            at = _escape_into(data, offsets[t], offsets[t + 1], out, at + 3)
            out[at], out[at + 1] = 0x22, 0x5D
            at += 2
        out[at] = 0x5D
    return out, out_offsets


def json_pairs(data: np.ndarray, offsets: np.ndarray, roles: np.ndarray, names: list[str],
               row_offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``json.dumps([[names[role], text], ...], ensure_ascii=False, separators=(",", ":"))`` of each
    row's turns ``row_offsets[r]:row_offsets[r + 1]``, as UTF-8 bytes and int64 row offsets."""
    encoded = [x.encode() for x in names]
    name_offsets = np.concatenate([[0], np.cumsum([len(x) for x in encoded])]).astype(np.int64)
    name_bytes = np.frombuffer(b"".join(encoded), np.uint8)
    return _json_pairs(data, offsets, np.asarray(roles, np.int64), name_bytes, name_offsets,
                       np.asarray(row_offsets, np.int64))
