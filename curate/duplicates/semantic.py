"""Semantic neighbour pairs from embeddings: exact blocked matmul (every pair above the floor) for
small data, usearch HNSW k-nearest-neighbours for large data. Vectors may be float16 memmaps; they are
normalised block by block so the whole matrix is never copied to float32."""

from __future__ import annotations

import numpy as np
from tqdm.auto import tqdm


def _normed(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norm, 1e-12)


def cosine(x: np.ndarray, a: np.ndarray, b: np.ndarray, y: np.ndarray | None = None) -> np.ndarray:
    """Cosine similarity of rows ``x[a]`` and ``(y or x)[b]``."""
    y = x if y is None else y
    return np.einsum("ij,ij->i", _normed(x[a]), _normed(y[b])).astype(np.float32)


def exact_pairs(x: np.ndarray, floor: float, y: np.ndarray | None = None, block: int = 2048,
                progress: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All pairs with cosine >= floor: within ``x`` (a < b), or between ``x`` and ``y``."""
    target = _normed(x if y is None else y).T
    out_a, out_b, out_s = [], [], []
    starts = range(0, len(x), block)
    for lo in tqdm(starts, desc="semantic", unit="block", disable=not progress or len(starts) < 4):
        sims = _normed(x[lo : lo + block]) @ target
        ia, ib = np.nonzero(sims >= floor)
        if y is None:  # upper triangle only: each pair once, no self-pairs
            upper = ib > ia + lo
            ia, ib = ia[upper], ib[upper]
        out_a.append(ia + lo)
        out_b.append(ib)
        out_s.append(sims[ia, ib])
    if not out_a:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32)
    return (np.concatenate(out_a).astype(np.int64), np.concatenate(out_b).astype(np.int64),
            np.concatenate(out_s).astype(np.float32))


def ann_pairs(x: np.ndarray, floor: float, k: int = 16, y: np.ndarray | None = None, threads: int = 0,
              block: int = 100_000, progress: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs among each row's ``k`` approximate nearest neighbours (usearch HNSW, cosine, f16)."""
    from usearch.index import Index

    base = x if y is None else y
    index = Index(ndim=base.shape[1], metric="cos", dtype="f16")
    for lo in tqdm(range(0, len(base), block), desc="index", unit="block", disable=not progress):
        chunk = np.asarray(base[lo : lo + block], dtype=np.float16)
        index.add(np.arange(lo, lo + len(chunk)), chunk, threads=threads)
    want = k + 1 if y is None else k
    out_a, out_b, out_s = [], [], []
    for lo in tqdm(range(0, len(x), block), desc="search", unit="block", disable=not progress):
        q = np.asarray(x[lo : lo + block], dtype=np.float16)
        res = index.search(q, want, threads=threads)
        keys = np.asarray(res.keys).reshape(len(q), -1).astype(np.int64)
        sims = 1.0 - np.asarray(res.distances, dtype=np.float32).reshape(len(q), -1)
        rows = np.arange(lo, lo + len(q))[:, None].repeat(keys.shape[1], axis=1)
        ok = (sims >= floor) & (keys >= 0) & (keys < len(base))
        if y is None:
            ok &= keys != rows
        out_a.append(rows[ok])
        out_b.append(keys[ok])
        out_s.append(sims[ok])
    a, b, s = np.concatenate(out_a), np.concatenate(out_b), np.concatenate(out_s)
    if y is None:  # the same pair found from both ends: keep one (a < b)
        lo_, hi_ = np.minimum(a, b), np.maximum(a, b)
        codes, first = np.unique(lo_.astype(np.uint64) * np.uint64(len(x)) + hi_.astype(np.uint64), return_index=True)
        a, b, s = lo_[first], hi_[first], s[first]
    return a.astype(np.int64), b.astype(np.int64), np.clip(s, -1.0, 1.0).astype(np.float32)
