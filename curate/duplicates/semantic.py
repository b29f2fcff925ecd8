"""Semantic neighbour pairs from embeddings: exact blocked matmul (every pair above the floor) for
small data; above, SemDeDup-style k-means clusters searched exactly (pure BLAS, the default) or usearch
HNSW k-nearest-neighbours. Vectors may be float16 memmaps; they are normalised block by block so the
whole matrix is never copied to float32."""

from __future__ import annotations

import numpy as np
from tqdm.auto import tqdm

from curate._optional import require


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
    Index = require("usearch.index").Index
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


def _assign(x: np.ndarray, centers: np.ndarray, probes: int, block: int = 16_384) -> np.ndarray:
    """The ``probes`` nearest (highest-cosine) unit centres of every row, best first, by blocked matmul."""
    out = np.empty((len(x), probes), np.int32)
    for lo in range(0, len(x), block):
        sims = _normed(x[lo : lo + block]) @ centers.T  # centres are unit rows
        if probes == 1:
            out[lo : lo + block, 0] = sims.argmax(axis=1)
        else:
            top = np.argpartition(-sims, probes - 1, axis=1)[:, :probes]
            order = np.argsort(-np.take_along_axis(sims, top, axis=1), axis=1)
            out[lo : lo + block] = np.take_along_axis(top, order, axis=1)
    return out


def _centers(base: np.ndarray, n_clusters: int, seed: int, sample: int, iters: int = 8) -> np.ndarray:
    """Spherical k-means (Lloyd, cosine) centres from a seeded sample of unit rows. A few BLAS passes:
    centre quality only moves the cluster balance (speed), never which pairs are found above the floor
    within a cluster; sklearn's import alone costs more than this at 1M+ rows on a small CPU."""
    rng = np.random.default_rng(seed)
    pts = _normed(base[np.sort(rng.choice(len(base), size=min(len(base), sample), replace=False))])
    centers = pts[rng.choice(len(pts), size=n_clusters, replace=False)]
    for _ in range(iters):
        labels = _assign(pts, centers, 1)[:, 0]
        order = np.argsort(labels, kind="stable")
        used, starts = np.unique(labels[order], return_index=True)
        sums = np.add.reduceat(pts[order], starts, axis=0)
        centers[used] = _normed(sums)  # an empty cluster keeps its old centre
    return centers


def cluster_pairs(x: np.ndarray, floor: float, y: np.ndarray | None = None, n_clusters: int | None = None,
                  probes: int = 2, seed: int = 0, sample: int = 65_536, block: int = 4096,
                  progress: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """SemDeDup-style search: k-means the reference rows (``y``, or ``x`` itself) into ~sqrt(N) clusters,
    then exact blocked cosine of each row against the members of its ``probes`` nearest clusters. Pure
    BLAS, so it runs at matmul speed on any CPU; a pair is missed only if neither row's ``probes``
    nearest centres hold the other, which for near-copies (cosine >= ~0.9) is rare."""
    base = x if y is None else y
    if not len(x) or not len(base):
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32)
    n_clusters = max(1, min(len(base), n_clusters or int(np.sqrt(len(base)))))
    centers = _centers(base, n_clusters, seed, sample)
    home = _assign(base, centers, 1)[:, 0]  # every reference row lives in one cluster
    look = _assign(x, centers, min(probes, n_clusters))  # every query row visits its nearest clusters
    members = np.argsort(home, kind="stable")
    bounds = np.searchsorted(home[members], np.arange(n_clusters + 1))
    q_flat = look.ravel()
    q_rows = np.repeat(np.arange(len(x)), look.shape[1])
    q_order = np.argsort(q_flat, kind="stable")
    q_bounds = np.searchsorted(q_flat[q_order], np.arange(n_clusters + 1))
    out_a, out_b, out_s = [], [], []
    for c in tqdm(range(n_clusters), desc="semantic", unit="cluster", disable=not progress):
        targets = members[bounds[c] : bounds[c + 1]]
        queries = q_rows[q_order[q_bounds[c] : q_bounds[c + 1]]]
        if not len(targets) or not len(queries):
            continue
        t = _normed(base[targets]).T
        for lo in range(0, len(queries), block):
            q = queries[lo : lo + block]
            sims = _normed(x[q]) @ t
            ia, ib = np.nonzero(sims >= floor)
            a, b = q[ia], targets[ib]
            keep = a != b if y is None else slice(None)
            out_a.append(a[keep])
            out_b.append(b[keep])
            out_s.append(sims[ia, ib][keep])
    if not out_a:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32)
    a, b, s = np.concatenate(out_a), np.concatenate(out_b), np.concatenate(out_s)
    if y is None:  # a pair can be seen from both ends and from two clusters: keep one (a < b)
        a, b = np.minimum(a, b), np.maximum(a, b)
    codes, first = np.unique(a.astype(np.uint64) * np.uint64(len(base)) + b.astype(np.uint64), return_index=True)
    return a[first].astype(np.int64), b[first].astype(np.int64), np.clip(s[first], -1.0, 1.0).astype(np.float32)
