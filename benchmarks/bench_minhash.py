"""Near-dup speed: curate (signatures + numpy LSH) vs a datasketch MinHash + MinHashLSH pipeline
with the same num_perm, the same word n-gram shingles and the same threshold (curate's defaults), on
the same conversations (ShareGPT sample + edited copies, 2-6% of words edited), in one run. F1 of each against brute-force
exact Jaccard is printed beside the time (skipped above --truth-max rows).

    .venv/bin/python benchmarks/bench_minhash.py --sizes 20000,100000
"""

from __future__ import annotations

import argparse
import os
import re
import time

import numpy as np
import pyarrow as pa
from dedup_accuracy import curate_pairs, planted, prf, true_pairs
from tqdm.auto import tqdm

import curate
from curate.duplicates import NearConfig
from curate.duplicates.minhash import METHODS, exact_jaccard, shingle_matrix
from curate.duplicates.shingles import conversation_texts


def datasketch_pairs(table, threshold: float, num_perm: int, ngram: int) -> tuple[set, float, float]:
    """What a datasketch user writes: Python shingles, MinHash.update_batch, MinHashLSH insert + query,
    candidates verified by estimated Jaccard. Returns (pairs, total seconds, seconds spent shingling)."""
    from datasketch import MinHash, MinHashLSH

    t0 = time.perf_counter()
    texts = conversation_texts(table["messages"]).to_pylist()
    shingles = []
    for text in texts:
        w = re.findall(r"\w+", text.lower())
        grams = {" ".join(w[i : i + ngram]) for i in range(max(1, len(w) - ngram + 1))}
        shingles.append([g.encode() for g in grams])
    t_sh = time.perf_counter() - t0
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    sigs = []
    for i, sh in enumerate(tqdm(shingles, desc="datasketch", leave=False)):
        m = MinHash(num_perm=num_perm)
        m.update_batch(sh)
        sigs.append(m)
        lsh.insert(i, m)
    pairs = set()
    for i, m in enumerate(sigs):
        for j in lsh.query(m):
            if j != i and m.jaccard(sigs[j]) >= threshold:
                pairs.add((min(i, j), max(i, j)))
    return pairs, time.perf_counter() - t0, t_sh


def rensa_lsh_time(table, threshold: float, num_perm: int, ngram: int) -> float:
    """rensa used the obvious way (RMinHash per row from Python word n-gram strings, RMinHashLSH)."""
    from rensa import RMinHash, RMinHashLSH

    t0 = time.perf_counter()
    texts = conversation_texts(table["messages"]).to_pylist()
    lsh = RMinHashLSH(threshold=threshold, num_perm=num_perm, num_bands=16)
    hashes = []
    for i, text in enumerate(texts):
        w = re.findall(r"\w+", text.lower())
        m = RMinHash(num_perm=num_perm, seed=0)
        m.update([" ".join(w[k : k + ngram]) for k in range(max(1, len(w) - ngram + 1))])
        hashes.append(m)
        lsh.insert(i, m)
    for m in hashes:
        lsh.query(m)
    return time.perf_counter() - t0


def pooled_truth(table, found: list[set], threshold: float, ngram: int) -> set:
    """Above --truth-max, brute force is too big: the truth is every pair that either pipeline found
    whose exact Jaccard is >= threshold (so precision is exact, recall is relative to the pool)."""
    pool = sorted(set().union(*found))
    if not pool:
        return set()
    a, b = np.array(pool).T
    jac = exact_jaccard(shingle_matrix(table["messages"].combine_chunks(), ngram), a, b)
    return {p for p, j in zip(pool, jac.tolist(), strict=True) if j >= threshold}


def load_average() -> str:
    return "load average " + ", ".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", default="20000", help="comma list of row counts")
    ap.add_argument("--threshold", type=float, default=NearConfig().threshold)
    ap.add_argument("--num-perm", type=int, default=128)
    ap.add_argument("--ngram", type=int, default=NearConfig().ngram)
    ap.add_argument("--method", choices=METHODS, default=NearConfig().method, help="curate's signature method")
    ap.add_argument("--truth-max", type=int, default=25_000,
                    help="brute-force exact Jaccard up to this size; above, a pooled truth (see pooled_truth)")
    ap.add_argument("--rensa-max", type=int, default=25_000, help="run the per-row rensa pipeline up to this size")
    ap.add_argument("--skip-datasketch-above", type=int, default=10**9)
    args = ap.parse_args()
    sample = curate.load("sharegpt-sample").table
    print(f"sample rows {sample.num_rows}; threshold {args.threshold}, num_perm {args.num_perm}, "
          f"word {args.ngram}-grams, curate method {args.method}")
    for size in [int(s) for s in args.sizes.split(",")]:
        base = sample.slice(0, min(sample.num_rows, int(size * 0.75)))
        table = planted(base, size - base.num_rows, 0, seed=size)[0]
        truth = true_pairs(table, args.threshold, args.ngram) if size <= args.truth_max else None
        print(f"\n[{table.num_rows} rows: {base.num_rows} ShareGPT + {size - base.num_rows} edited copies] {load_average()}")
        def timed_ours(table: pa.Table = table) -> tuple[set, float]:
            t = time.perf_counter()
            pairs = curate_pairs(table, args.threshold, num_perm=args.num_perm, ngram=args.ngram,
                                 near={"method": args.method})[0]
            return pairs, time.perf_counter() - t

        # timed before and after the baselines: on a shared machine the load drifts, the mean is fairer
        ours, t_before = timed_ours()
        print(f"[{table.num_rows} rows] curate      {t_before:8.1f}s  pairs {len(ours)}  (before the baselines)")
        t_ours = t_before
        if size <= args.rensa_max:
            t_r = rensa_lsh_time(table, args.threshold, args.num_perm, args.ngram)
            print(f"[{table.num_rows} rows] rensa (py)  {t_r:8.1f}s  ratio {t_r / t_ours:.1f}x")
        found = [ours]
        if size <= args.skip_datasketch_above:
            ds, t_ds, t_sh = datasketch_pairs(table, args.threshold, args.num_perm, args.ngram)
            found.append(ds)
            print(f"[{table.num_rows} rows] datasketch  {t_ds:8.1f}s  pairs {len(ds)}  (shingling {t_sh:.1f}s)  "
                  f"ratio {t_ds / t_ours:.1f}x, {(t_ds - t_sh) / t_ours:.1f}x without its shingling")
        again, t_after = timed_ours()
        assert again == ours, "curate is not deterministic"
        t_ours = (t_before + t_after) / 2
        print(f"[{table.num_rows} rows] curate      {t_after:8.1f}s  (after the baselines); mean {t_ours:.1f}s")
        if size <= args.rensa_max:
            print(f"[{table.num_rows} rows] ratio rensa (py) / curate {t_r / t_ours:.1f}x")
        if size <= args.skip_datasketch_above:
            print(f"[{table.num_rows} rows] ratio datasketch / curate {t_ds / t_ours:.1f}x "
                  f"({(t_ds - t_sh) / t_ours:.1f}x without its shingling)")
        kind = "brute-force truth"
        if truth is None:
            truth, kind = pooled_truth(table, found, args.threshold, args.ngram), "pooled truth, recall relative"
        for name, pred in zip(("curate", "datasketch"), found, strict=False):
            p, r, f = prf(pred, truth)
            print(f"[{table.num_rows} rows] {name:<11} P {p:.4f} R {r:.4f} F1 {f:.4f} ({kind}, {len(truth)} pairs)")
        print(f"[{table.num_rows} rows] done; {load_average()}")


if __name__ == "__main__":
    main()
