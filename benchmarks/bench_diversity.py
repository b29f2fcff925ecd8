"""Greedy diversity selection: curate's blocked, vectorized walk vs the naive loop over selected rows
(what a hand-written Deita-style repr filter does), on the same clustered embeddings.

    .venv/bin/python benchmarks/bench_diversity.py --rows 20000 --dim 384 --threshold 0.9
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=20000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--threshold", type=float, default=0.9)
    ap.add_argument("--budget", type=int, default=None, help="row budget (default: no budget)")
    ap.add_argument("--naive-rows", type=int, default=None, help="cap the naive run (it is slow)")
    args = ap.parse_args()

    from curate.selection import select
    from curate.selection.diversity import naive_greedy, unit_rows

    rng = np.random.default_rng(0)
    n = args.rows
    centers = rng.normal(size=(n // 3 + 1, args.dim))  # ~3 near-copies per cluster
    emb = (centers[rng.integers(0, len(centers), n)] + rng.normal(scale=0.2, size=(n, args.dim))).astype(np.float16)
    df = pd.DataFrame({"id": [f"r{i}" for i in range(n)], "messages": [[]] * n, "reward": rng.normal(size=n)})

    t0 = time.perf_counter()
    sel = select(df, rank="reward", diversity=args.threshold, budget=args.budget,
                 embeddings=(df["id"].tolist(), emb), progress=False)
    ours = time.perf_counter() - t0

    m = args.naive_rows or n
    order = np.argsort(-df["reward"].to_numpy(), kind="stable")[:m]
    t0 = time.perf_counter()
    naive = naive_greedy(order, unit_rows(emb), args.threshold, rows=args.budget)
    naive_t = time.perf_counter() - t0
    same = sel.selected["id"].head(len(naive)).tolist() == df["id"].to_numpy()[naive].tolist() if m == n else None
    print(f"rows={n} dim={args.dim} threshold={args.threshold} budget={args.budget} selected={len(sel.selected)}")
    print(f"curate (blocked matmul): {ours:8.2f} s  ({n / ours:,.0f} rows/s)")
    print(f"naive loop over selected{'' if m == n else f' (first {m} rows)'}: {naive_t:8.2f} s"
          f"  ({m / naive_t:,.0f} rows/s)")
    print(f"speed-up (rows/s ratio): {(n / ours) / (m / naive_t):.1f}x   same selection: {same}")


if __name__ == "__main__":
    main()
