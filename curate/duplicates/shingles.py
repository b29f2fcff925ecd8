"""Vectorized shingling: a conversation table becomes one flat uint64 array of n-gram hashes plus row
offsets (the CSR layout MinHash libraries take), with no per-row Python in the hot path.

Text is ``conversation_text`` lower-cased. Word shingles split on non-word characters (so spacing,
punctuation and case do not matter); char shingles are byte n-grams of the text with whitespace runs
collapsed. Tokens are found and hashed in numpy over the UTF-8 buffer (no Python strings), with
fixed-constant arithmetic mod 2**64, so hashes are identical on every machine and run.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_P = np.uint64(0x9E3779B97F4A7C15)  # odd multiplier for combining token hashes


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finalizer: spreads the bits of combined hashes (uint64, wraps by design)."""
    x = x.copy()
    x ^= x >> np.uint64(30)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return x


def conversation_texts(messages: pa.ChunkedArray | pa.Array) -> pa.Array:
    """``curate.schema.conversation_text`` for a whole column at once (``role: content`` lines)."""
    arr = messages.combine_chunks() if isinstance(messages, pa.ChunkedArray) else messages
    flat = arr.flatten()
    lines = pc.binary_join_element_wise(flat.field("role"), flat.field("content"), ": ")
    offsets = pc.subtract(arr.offsets, arr.offsets[0])
    return pc.binary_join(pa.ListArray.from_arrays(offsets, lines), "\n")


def text_lengths(messages: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Characters of each conversation's text view (for keep='longest')."""
    return pc.utf8_length(conversation_texts(messages)).to_numpy(zero_copy_only=False).astype(np.int64)


_WORD = np.zeros(256, bool)  # bytes of \\w tokens: ASCII letters, digits, '_' and every non-ASCII UTF-8 byte
_WORD[[*range(48, 58), *range(65, 91), *range(97, 123), 95, *range(128, 256)]] = True
_B = np.uint64(0x100000001B3)  # odd base of the polynomial token hash (mod 2**64)
_B_INV = pow(int(_B), -1, 2**64)


_POWERS = np.ones(1, np.uint64)


def _powers(m: int) -> np.ndarray:
    """``B**j`` for ``j <= m`` (mod 2**64), grown on demand and reused across chunks."""
    global _POWERS
    if len(_POWERS) <= m:
        size = max(m + 1, 2 * len(_POWERS))
        _POWERS = np.concatenate([[np.uint64(1)], np.cumprod(np.full(size - 1, _B, np.uint64), dtype=np.uint64)])
    return _POWERS


def _buffer(texts: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """UTF-8 bytes and int64 row offsets of a string array, without copying strings to Python."""
    texts = texts.cast(pa.large_string())
    offsets = np.frombuffer(texts.buffers()[1], dtype=np.int64)[texts.offset : texts.offset + len(texts) + 1]
    data = np.frombuffer(texts.buffers()[2], dtype=np.uint8) if len(texts) and offsets[-1] else np.zeros(0, np.uint8)
    return data[offsets[0] : offsets[-1]], (offsets - offsets[0]).astype(np.int64)


def _words(texts: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Hash every word (maximal run of word bytes) of the lower-cased text, all rows at once: a
    polynomial hash from prefix sums, ``sum(byte_j * B**(j - start))`` mod 2**64."""
    data, offsets = _buffer(pc.utf8_lower(texts))
    m = len(data)
    if m == 0:
        return np.zeros(0, np.uint64), np.zeros(len(texts) + 1, np.int64)
    word = _WORD[data]
    edge = np.zeros(m + 1, bool)
    edge[offsets] = True  # a word never spans two rows
    begins = np.nonzero(word & (edge[:-1] | ~np.concatenate([[False], word[:-1]])))[0]
    ends = np.nonzero(word & (edge[1:] | ~np.concatenate([word[1:], [False]])))[0] + 1
    powers = _powers(m)
    prefix = np.concatenate([[np.uint64(0)], np.cumsum(data.astype(np.uint64) * powers[:m], dtype=np.uint64)])
    # (prefix[e] - prefix[s]) = B**s * h; multiply by B**(m-s) then by B**-m to get h on every machine
    tokens = (prefix[ends] - prefix[begins]) * powers[m - begins] * np.uint64(pow(_B_INV, m, 2**64))
    counts = np.bincount(np.searchsorted(offsets, begins, side="right") - 1, minlength=len(texts))
    return _mix(tokens), np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)


def _bytes(texts: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    norm = pc.utf8_trim_whitespace(pc.replace_substring_regex(pc.utf8_lower(texts), r"\s+", " "))
    data, offsets = _buffer(norm)
    # a byte's token hash: mix of its value, so n-gram combination below is the same code path
    tokens = _mix(data.astype(np.uint64) + np.uint64(1))
    return tokens, offsets


def ngram_hashes(tokens: np.ndarray, offsets: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Hash every run of ``n`` consecutive tokens inside a row. A row shorter than ``n`` gets one
    shingle of all its tokens (an empty row gets the hash of nothing), so no row is signature-less."""
    lengths = np.diff(offsets)
    nrows = len(lengths)
    counts = np.where(lengths >= n, lengths - n + 1, 1)
    out_off = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    out = np.zeros(int(out_off[-1]), np.uint64)
    m = len(tokens)
    if m >= n:
        h = tokens[: m - n + 1].copy()
        for k in range(1, n):
            h = h * _P + tokens[k : m - n + 1 + k]
        row = np.repeat(np.arange(nrows), lengths)[: m - n + 1]
        pos = np.arange(m - n + 1) - offsets[row]
        valid = pos <= lengths[row] - n
        out[(out_off[row] + pos)[valid]] = h[valid]
    short = np.nonzero(lengths < n)[0]
    if len(short):
        hs = np.full(len(short), np.uint64(n), np.uint64)  # seeded by n so 'a b' != 5-gram of 'a b ...'
        for k in range(n - 1):
            has = lengths[short] > k
            idx = offsets[short[has]] + k
            hs[has] = hs[has] * _P + tokens[idx]
        out[out_off[short]] = hs
    return _mix(out), out_off


def shingle_hashes(messages: pa.ChunkedArray | pa.Array, ngram: int = 5, kind: str = "word") -> tuple[np.ndarray, np.ndarray]:
    """``(hashes uint64, offsets int64)`` with row ``i``'s shingles at ``hashes[offsets[i]:offsets[i+1]]``."""
    texts = conversation_texts(messages)
    if kind == "word":
        tokens, offsets = _words(texts)
    elif kind == "char":
        tokens, offsets = _bytes(texts)
    else:
        raise ValueError(f"shingle must be 'word' or 'char', got {kind!r}")
    return ngram_hashes(tokens, offsets, ngram)
