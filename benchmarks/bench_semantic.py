"""Semantic dedup at scale: synthetic 384-d float16 embeddings with planted near-duplicates; time and
peak RSS of curate's neighbour search (default: SemDeDup-style k-means + exact in-cluster cosine; or
usearch HNSW) next to SemHash (usearch HNSW) on the same vectors, and recall of the planted pairs.
SemHash is fed the vectors through a lookup "encoder", so neither side spends time embedding text.

    .venv/bin/python benchmarks/bench_semantic.py --n 200000        # 1750000 for The Tome's size
"""

from __future__ import annotations

import argparse
import os
import resource
import time

import numpy as np
import pyarrow as pa

from curate.duplicates import dedup


def planted_vectors(n: int, dim: int = 384, dup_frac: float = 0.05, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Clustered random unit vectors (topics) where ``dup_frac`` of rows are noisy copies of others."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(max(1, n // 1000), dim)).astype(np.float32)
    x = np.empty((n, dim), np.float16)
    for lo in range(0, n, 20_000):  # small blocks: generation should not dominate the peak RSS
        hi = min(n, lo + 20_000)
        v = centers[rng.integers(0, len(centers), hi - lo)] + 1.5 * rng.normal(size=(hi - lo, dim)).astype(np.float32)
        x[lo:hi] = v / np.linalg.norm(v, axis=1, keepdims=True)
    dups = rng.choice(n, size=int(n * dup_frac), replace=False)
    src = rng.integers(0, n, size=len(dups))
    ok = ~np.isin(src, dups) & (src != dups)
    dups, src = dups[ok], src[ok]
    noisy = x[src].astype(np.float32) + 0.01 * rng.normal(size=(len(src), dim)).astype(np.float32)
    x[dups] = noisy / np.linalg.norm(noisy, axis=1, keepdims=True)
    return x, np.stack([src, dups], axis=1)


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--threshold", type=float, default=0.95)
    ap.add_argument("--k", type=int, default=16)
    ap.add_argument("--backend", default="kmeans", choices=["kmeans", "usearch"])
    ap.add_argument("--probes", type=int, default=2, help="kmeans: nearest clusters each row is compared within")
    ap.add_argument("--no-semhash", action="store_true")
    args = ap.parse_args()
    x, planted = planted_vectors(args.n)
    ids = [f"r{i}" for i in range(args.n)]
    table = pa.table({"id": ids, "messages": pa.nulls(args.n, pa.list_(pa.struct([("role", pa.string()),
                                                                              ("content", pa.string())]))),
                      "row": np.arange(args.n)})
    print(f"n {args.n}, dim 384 float16 ({x.nbytes / 2**20:.0f} MiB), planted pairs {len(planted)}, "
          f"threshold {args.threshold}; RSS after data {rss_mb():.0f} MiB; load average {os.getloadavg()}")
    t = time.perf_counter()
    r = dedup(table, methods="semantic", embeddings=(ids, x), semantic={"threshold": args.threshold, "k": args.k,
                                                                        "backend": args.backend,
                                                                        "probes": args.probes}, progress=False)
    t_ours = time.perf_counter() - t
    removed = set(r.removed["row"].tolist())
    recall = np.mean([(s in removed) or (d in removed) for s, d in planted])
    print(f"curate ({args.backend}) {t_ours:7.1f}s  removed {len(removed)}  planted-pair recall {recall:.4f}  peak RSS {rss_mb():.0f} MiB")
    if args.no_semhash:
        return
    from semhash import SemHash

    class Lookup:
        """An 'encoder' that returns the stored vector of record 'i'."""

        def encode(self, sentences, **_):
            return x[np.fromiter((int(s) for s in sentences), np.int64, len(sentences))].astype(np.float32)

    t = time.perf_counter()
    sh = SemHash.from_records([str(i) for i in range(args.n)], model=Lookup())
    res = sh.self_deduplicate(threshold=args.threshold)
    t_sh = time.perf_counter() - t
    print(f"semhash  {t_sh:7.1f}s  removed {len(res.filtered)}  peak RSS {rss_mb():.0f} MiB (cumulative)  "
          f"ratio {t_sh / t_ours:.1f}x; load average {os.getloadavg()}")


if __name__ == "__main__":
    main()
