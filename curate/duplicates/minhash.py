"""MinHash signatures and LSH candidate pairs (numpy): the near-duplicate engine.

Two signature methods over the same shingle hashes: ``minhash`` (rensa's Rust R-MinHash, ``num_perm``
hash permutations per shingle) and ``oph`` (one-permutation hashing: one hash per shingle picks a bin
and a value, each row keeps the minimum per bin; empty bins are filled by optimal densification,
Shrivastava 2017, so every slot is an unbiased Jaccard estimate). Both give uint32 slots whose
fraction of equal values estimates Jaccard, so LSH and verification are shared.

Signatures are a compact ``(rows, num_perm)`` uint32 matrix that can live in a ``.npy`` memmap (1.75M
rows x 128 = 0.9 GB). LSH bands/rows come from the candidate floor by minimising the weighted
false-positive and false-negative areas of the S-curve, as datasketch's ``_optimal_param`` does.
Candidates are verified by the fraction of equal signature slots (or by exact Jaccard).
"""

from __future__ import annotations

import functools
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow as pa
import rensa
from numba import njit
from scipy import sparse
from tqdm.auto import tqdm

from curate.duplicates.shingles import shingle_hashes
from curate.text_kernels import mix

METHODS = ("minhash", "oph")
DENSIFY_ROUNDS = 32  # optimal-densification probes per empty bin before the rotation fallback
BUCKET_WINDOW = 64  # rows of one LSH bucket compared pairwise; bigger buckets are linked in a sliding window


@functools.lru_cache(maxsize=256)
def optimal_param(threshold: float, num_perm: int, fp_weight: float = 0.5, fn_weight: float = 0.5) -> tuple[int, int]:
    """``(bands, rows)`` minimising ``fp_weight*FP + fn_weight*FN`` where FP (FN) is the area under
    (over) the LSH S-curve ``1-(1-s^r)^b`` below (above) ``threshold``."""
    s = np.linspace(0.0, 1.0, 2001)
    below, above = s <= threshold, s >= threshold
    best, best_err = (1, 1), np.inf
    for b in range(1, num_perm + 1):
        for r in range(1, num_perm // b + 1):
            p = 1.0 - (1.0 - s**r) ** b
            fp = np.trapezoid(p[below], s[below])
            fn = np.trapezoid(1.0 - p[above], s[above])
            err = fp_weight * fp + fn_weight * fn
            if err < best_err:
                best, best_err = (b, r), err
    return best


def signatures(
    messages: pa.ChunkedArray,
    num_perm: int = 128,
    ngram: int = 5,
    shingle: str = "word",
    seed: int = 0,
    chunk_rows: int = 4_000,
    out: str | Path | None = None,
    progress: bool = True,
    threads: int | None = None,
    method: str = "oph",
) -> np.ndarray:
    """MinHash signature of every row as uint32 ``(rows, num_perm)``; ``out`` makes it a .npy memmap.
    ``method``: ``oph`` (one hash per shingle) or ``minhash`` (rensa, ``num_perm`` permutations).

    Rows are shingled in chunks (memory stays bounded by ``chunk_rows``) on ``threads`` threads (default:
    every CPU); arrow, numpy and rensa release the GIL in the heavy parts. Each chunk writes its own
    rows, so the result does not depend on the thread count or order."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    n = len(messages)
    if out is not None:
        sig = np.lib.format.open_memmap(out, mode="w+", dtype=np.uint32, shape=(n, num_perm))
    else:
        sig = np.empty((n, num_perm), np.uint32)

    def run(lo: int) -> None:
        hi = min(n, lo + chunk_rows)
        hashes, offsets = shingle_hashes(messages.slice(lo, hi - lo), ngram, shingle)
        if method == "oph":
            sig[lo:hi] = oph_signatures(hashes, offsets, num_perm, seed)
            return
        m = rensa.RMinHash.digest_matrix_from_flat_token_hashes(hashes, offsets.astype(np.uint64), num_perm, seed)
        sig[lo:hi] = np.asarray(m.to_rows(), dtype=np.uint32).reshape(hi - lo, num_perm)

    starts = range(0, n, chunk_rows)
    workers = max(1, min(len(starts), threads or os.cpu_count() or 1))
    with ThreadPoolExecutor(workers) as pool:
        done = pool.map(run, starts)
        for _ in tqdm(done, total=len(starts), desc="minhash", unit="chunk", disable=not progress or len(starts) < 2):
            pass
    return sig


def oph_signatures(hashes: np.ndarray, offsets: np.ndarray, num_perm: int, seed: int = 0) -> np.ndarray:
    """One-permutation hashing with optimal densification, uint32 ``(rows, num_perm)``.

    Each shingle hash (re-mixed with ``seed``) gives a bin (high bits) and a value (low 32 bits); a row
    keeps the minimum value per bin. An empty bin ``j`` copies the bin ``probe[t, j]`` for the first
    probe ``t`` that is non-empty in that row (the probes depend on ``j`` and ``t`` only, so two rows
    with equal sets get equal fills); after ``DENSIFY_ROUNDS`` the next non-empty bin to the right.
    One compiled pass over the hashes (:func:`_oph`)."""
    salt = np.uint64((seed * 0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019) % 2**64)
    probes = np.random.default_rng(seed).integers(0, num_perm, size=(DENSIFY_ROUNDS, num_perm))
    return _oph(hashes, salt, np.asarray(offsets, np.int64), num_perm, probes)


@njit(cache=True, nogil=True)
def _oph(hashes, salt, offsets, num_perm, probes):
    n = len(offsets) - 1
    mask = np.uint64(num_perm - 1) if num_perm & (num_perm - 1) == 0 else np.uint64(0)  # x % 2**k == x & (2**k - 1)
    sig = np.full((n, num_perm), np.iinfo(np.uint32).max, np.uint32)
    filled = np.zeros(num_perm, np.bool_)
    rounds = probes.shape[0]
    for r in range(n):
        filled[:] = False
        for i in range(offsets[r], offsets[r + 1]):
            h = mix(hashes[i] ^ salt)
            b = np.int64((h >> np.uint64(32)) & mask if mask else (h >> np.uint64(32)) % np.uint64(num_perm))
            v = np.uint32(h & np.uint64(0xFFFFFFFF))
            filled[b] = True
            if v < sig[r, b]:
                sig[r, b] = v
        if offsets[r + 1] == offsets[r]:
            continue
        for j in range(num_perm):
            if filled[j]:
                continue
            for t in range(rounds + num_perm - 1):
                c = probes[t, j] if t < rounds else (j + t - rounds + 1) % num_perm
                if filled[c]:
                    sig[r, j] = sig[r, c]
                    break
    return sig


def _band_keys(sig: np.ndarray, band: int, rows: int) -> np.ndarray:
    block = sig[:, band * rows : (band + 1) * rows].astype(np.uint64)
    key = np.full(len(sig), np.uint64(band), np.uint64)
    for k in range(rows):
        key = key * np.uint64(0x9E3779B97F4A7C15) + block[:, k]
    return mix(key)


def candidate_pairs(sig: np.ndarray, threshold: float, fp_weight: float = 0.5, split: int | None = None) -> np.ndarray:
    """Unique ``(a, b)`` index pairs, ``a < b``, sharing at least one LSH band. With ``split``, only
    pairs with ``a < split <= b`` (rows of one table against rows of another)."""
    n, num_perm = sig.shape
    bands, rows = optimal_param(threshold, num_perm, fp_weight, 1.0 - fp_weight)
    found = []
    for band in range(bands):
        key = _band_keys(sig, band, rows)
        order = np.argsort(key, kind="stable")
        ks = key[order]
        group = np.cumsum(np.concatenate([[True], ks[1:] != ks[:-1]]))
        for d in range(1, BUCKET_WINDOW + 1):
            same = group[d:] == group[:-d]
            if not same.any():
                break
            a, b = order[:-d][same], order[d:][same]
            lo, hi = np.minimum(a, b), np.maximum(a, b)
            if split is not None:
                cross = (lo < split) & (hi >= split)
                lo, hi = lo[cross], hi[cross]
            found.append(lo.astype(np.uint64) * np.uint64(n) + hi.astype(np.uint64))
    codes = np.sort(np.concatenate(found)) if found else np.zeros(0, np.uint64)  # sort + mask: 2x np.unique here
    codes = codes[np.concatenate([[True], codes[1:] != codes[:-1]])] if len(codes) else codes
    return np.stack([codes // np.uint64(n), codes % np.uint64(n)], axis=1).astype(np.int64)


def estimated_jaccard(sig: np.ndarray, a: np.ndarray, b: np.ndarray, chunk: int = 200_000) -> np.ndarray:
    """Fraction of equal signature slots for each pair (an unbiased estimate of Jaccard)."""
    out = np.empty(len(a), np.float32)
    for lo in range(0, len(a), chunk):
        hi = lo + chunk
        out[lo:hi] = (sig[a[lo:hi]] == sig[b[lo:hi]]).mean(axis=1)
    return out


def shingle_matrix(messages: pa.ChunkedArray, ngram: int = 5, shingle: str = "word") -> sparse.csr_matrix:
    """Binary rows x distinct-shingles matrix, for exact Jaccard (verification and benchmarks)."""
    hashes, offsets = shingle_hashes(messages, ngram, shingle)
    uniq, cols = np.unique(hashes, return_inverse=True)
    m = sparse.csr_matrix((np.ones(len(hashes), np.float32), cols, offsets), shape=(len(offsets) - 1, len(uniq)))
    m.sum_duplicates()
    m.data[:] = 1.0
    return m


def exact_jaccard(mat: sparse.csr_matrix, a: np.ndarray, b: np.ndarray, chunk: int = 100_000) -> np.ndarray:
    """Exact Jaccard of shingle sets for each pair."""
    sizes = np.asarray(mat.sum(axis=1)).ravel()
    out = np.empty(len(a), np.float32)
    for lo in range(0, len(a), chunk):
        ia, ib = a[lo : lo + chunk], b[lo : lo + chunk]
        inter = np.asarray(mat[ia].multiply(mat[ib]).sum(axis=1)).ravel()
        out[lo : lo + chunk] = inter / np.maximum(sizes[ia] + sizes[ib] - inter, 1)
    return out
