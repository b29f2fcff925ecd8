"""Shingling: a conversation table becomes one flat uint64 array of n-gram hashes plus row offsets (the
CSR layout MinHash libraries take), with no per-row Python in the hot path.

Text is ``conversation_text`` lower-cased. Word shingles split on non-word characters (so spacing,
punctuation and case do not matter); char shingles are byte n-grams of the text with whitespace runs
collapsed. Words are found and hashed, and n-grams combined, in compiled passes over the UTF-8 buffer
(:mod:`curate.text_kernels`; no Python strings), with fixed-constant arithmetic mod 2**64, so hashes
are identical on every machine and run.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numba import njit

from curate.text_kernels import mix, run_hashes, utf8_buffer

_P = np.uint64(0x9E3779B97F4A7C15)  # odd multiplier for combining token hashes


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
_B = 0x100000001B3  # odd base of the polynomial word hash (mod 2**64)


def _words(texts: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Hash every word (maximal run of word bytes) of the lower-cased text, all rows at once, in one
    compiled pass over the UTF-8 buffer (:func:`curate.text_kernels.run_hashes`). A word's hash is a
    function of its bytes alone: equal across chunks, runs and machines."""
    data, offsets = utf8_buffer(pc.utf8_lower(texts))
    tokens, counts = run_hashes(data, offsets, _WORD, _B)
    return tokens, np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)


def _bytes(texts: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    norm = pc.utf8_trim_whitespace(pc.replace_substring_regex(pc.utf8_lower(texts), r"\s+", " "))
    data, offsets = utf8_buffer(norm)
    # a byte's token hash: mix of its value, so n-gram combination below is the same code path
    tokens = mix(data.astype(np.uint64) + np.uint64(1))
    return tokens, offsets


def ngram_hashes(tokens: np.ndarray, offsets: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Hash every run of ``n`` consecutive tokens inside a row. A row shorter than ``n`` gets one
    shingle of all its tokens (an empty row gets the hash of nothing), so no row is signature-less."""
    offsets = np.asarray(offsets, np.int64)
    lengths = np.diff(offsets)
    out_off = np.zeros(len(lengths) + 1, np.int64)
    np.cumsum(np.where(lengths >= n, lengths - n + 1, 1), out=out_off[1:])
    return _ngrams(tokens, offsets, out_off, n), out_off


@njit(cache=True, nogil=True)
def _ngrams(tokens, offsets, out_off, n):
    """``((t[i] * P + t[i+1]) * P + ...) + t[i+n-1]``, mixed, per window; a short row's one shingle is
    seeded by ``n`` (so 'a b' is not the 5-gram of 'a b ...')."""
    out = np.empty(out_off[-1], np.uint64)
    for r in range(len(offsets) - 1):
        lo, length, at = offsets[r], offsets[r + 1] - offsets[r], out_off[r]
        if length < n:
            h = np.uint64(n)
            for k in range(length):
                h = h * _P + tokens[lo + k]
            out[at] = mix(h)
            continue
        for w in range(length - n + 1):
            h = tokens[lo + w]
            for k in range(1, n):
                h = h * _P + tokens[lo + w + k]
            out[at + w] = mix(h)
    return out


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
