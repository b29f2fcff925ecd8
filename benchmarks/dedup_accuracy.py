"""Near-dup accuracy on generated edits of the ShareGPT sample: recall of edited copies, whether
half-shared conversations get merged, and P/R/F1 of the LSH pairs against brute-force exact Jaccard
of the same shingles, for a grid of shingling / threshold / verification settings (and datasketch).

    .venv/bin/python benchmarks/dedup_accuracy.py --n 3000 --copies 1000 --half 300

Edited copies: 2-6% of the words edited (case changes, stripped punctuation, filler words swapped
in, doubled spaces; ``curate.duplicates.edits``). Half-shared: the first half of a conversation's
turns followed by another conversation's turns (the shared turns hold 35-65% of the text): a
different conversation that must not be merged.
"""

from __future__ import annotations

import argparse
import random
import time

import numpy as np
import pyarrow as pa
from scipy import sparse

import curate
from curate.duplicates import dedup
from curate.duplicates.edits import edited_copy, half_shared
from curate.duplicates.minhash import shingle_matrix
from curate.schema import conversation_id

MSG = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
RATES = (0.02, 0.04, 0.06)  # edited copies cycle through these shares of edited words
GRID = (  # (shingle, ngram, threshold, verify, signature method)
    ("word", 5, 0.8, "signature", "minhash"), ("word", 5, 0.7, "signature", "minhash"),
    ("word", 3, 0.8, "signature", "minhash"), ("word", 3, 0.7, "signature", "minhash"),
    ("word", 3, 0.7, "signature", "oph"), ("word", 5, 0.8, "signature", "oph"),
    ("word", 3, 0.7, "exact", "minhash"), ("word", 3, 0.6, "signature", "minhash"),
    ("char", 10, 0.7, "signature", "minhash"),
)


def planted(table: pa.Table, copies: int, halves: int, seed: int = 0) -> tuple[pa.Table, np.ndarray, np.ndarray]:
    """``table`` plus edited copies and half-shared rows; returns it with the (original, copy) and
    (original, half-shared) index pairs."""
    rng = random.Random(seed)
    base = table["messages"].to_pylist()
    n = len(base)
    originals = [rng.randrange(n) for _ in range(copies)]
    extra = [edited_copy(base[i], rng, RATES[k % 3], RATES[k % 3]) for k, i in enumerate(originals)]
    long_rows = [i for i, m in enumerate(base) if len(m) >= 4]
    pairs, halved = [], []
    for _ in range(halves * 20):  # most random pairs do not split their text about in half
        a, b = rng.choice(long_rows), rng.choice(long_rows)
        h = half_shared(base[a], base[b]) if a != b else None
        if h is not None:
            pairs.append((a, b))
            halved.append(h)
        if len(pairs) == halves:
            break
    extra += halved
    convs = base + extra
    out = pa.table({"id": [conversation_id(m) for m in convs], "messages": pa.array(convs, MSG),
                    "row": np.arange(len(convs)), "source": ["sample"] * n + ["copy"] * (len(convs) - n)})
    copy_pairs = np.array([(i, n + k) for k, i in enumerate(originals)], np.int64).reshape(-1, 2)
    half_pairs = np.array([(a, n + copies + k) for k, (a, _) in enumerate(pairs)], np.int64).reshape(-1, 2)
    return out, copy_pairs, half_pairs


def true_pairs(table: pa.Table, threshold: float, ngram: int = 5, shingle: str = "word") -> set[tuple[int, int]]:
    """Every pair with exact Jaccard >= threshold, by sparse brute force (X X^T)."""
    x = shingle_matrix(table["messages"].combine_chunks(), ngram, shingle)
    sizes = np.asarray(x.sum(axis=1)).ravel()
    inter = sparse.triu(x @ x.T, k=1).tocoo()
    jac = inter.data / (sizes[inter.row] + sizes[inter.col] - inter.data)
    ok = jac >= threshold
    return set(zip(inter.row[ok].tolist(), inter.col[ok].tolist(), strict=True))


def prf(pred: set, truth: set) -> tuple[float, float, float]:
    tp = len(pred & truth)
    p = tp / len(pred) if pred else 1.0
    r = tp / len(truth) if truth else 1.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def curate_pairs(table: pa.Table, threshold: float, near: dict | None = None,
                 **fields) -> tuple[set[tuple[int, int]], np.ndarray]:
    """Pairs at or above ``threshold`` and the near-dup cluster label of every row; ``near`` and
    ``fields`` are NearConfig fields."""
    r = dedup(table, methods="near", near={"threshold": threshold, **fields, **(near or {})}, progress=False)
    p = r.pairs["near"]
    on = p.sim >= threshold
    a, b = np.minimum(p.a, p.b)[on], np.maximum(p.a, p.b)[on]
    g = sparse.coo_matrix((np.ones(len(a)), (a, b)), shape=(table.num_rows,) * 2)
    label = sparse.csgraph.connected_components(g, directed=False)[1]
    return set(zip(a.tolist(), b.tolist(), strict=True)), label


def same_cluster(label: np.ndarray, pairs: np.ndarray) -> float:
    return float((label[pairs[:, 0]] == label[pairs[:, 1]]).mean()) if len(pairs) else 0.0


def evaluate(table, copy_pairs, half_pairs, shingle: str, ngram: int, threshold: float, verify: str,
             method: str = "minhash", num_perm: int = 128) -> dict:
    """Edited-copy recall, half-shared merge rate, and P/R/F1 against brute force, for one setting."""
    t = time.perf_counter()
    pred, label = curate_pairs(table, threshold, shingle=shingle, ngram=ngram, verify=verify, num_perm=num_perm,
                               near={"method": method})
    seconds = time.perf_counter() - t
    truth = true_pairs(table, threshold, ngram, shingle)
    p, r, f = prf(pred, truth)
    return {"setting": f"{method} {shingle} {ngram}-gram t={threshold} {verify}", "edited_recall": same_cluster(label, copy_pairs),
            "recall_6pct": same_cluster(label, copy_pairs[2::3]),
            "half_merged": int((label[half_pairs[:, 0]] == label[half_pairs[:, 1]]).sum()),
            "P": p, "R": r, "F1": f, "pairs": len(pred), "seconds": seconds}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=3000, help="ShareGPT sample rows")
    ap.add_argument("--copies", type=int, default=1000, help="edited copies (2-6%% of words edited)")
    ap.add_argument("--half", type=int, default=300, help="half-shared conversations")
    ap.add_argument("--num-perm", type=int, default=128)
    ap.add_argument("--datasketch", action="store_true", help="also datasketch at the default setting")
    args = ap.parse_args()
    table, copy_pairs, half_pairs = planted(curate.load("sharegpt-sample", limit=args.n).table, args.copies, args.half)
    print(f"rows {table.num_rows}: {args.n} sample + {len(copy_pairs)} edited copies + {len(half_pairs)} half-shared")
    print(f"{'setting':<40} {'edited R':>8} {'R at 6%':>8} {'half merged':>11} {'P':>7} {'R':>7} {'F1':>7} {'pairs':>6} {'s':>6}")
    for shingle, ngram, threshold, verify, method in GRID:
        m = evaluate(table, copy_pairs, half_pairs, shingle, ngram, threshold, verify, method, args.num_perm)
        print(f"{m['setting']:<40} {m['edited_recall']:>8.4f} {m['recall_6pct']:>8.4f} {m['half_merged']:>11} {m['P']:>7.4f} {m['R']:>7.4f} "
              f"{m['F1']:>7.4f} {m['pairs']:>6} {m['seconds']:>6.1f}")
    if args.datasketch:
        from bench_minhash import datasketch_pairs

        cfg = curate.duplicates.NearConfig()
        pred, seconds, _ = datasketch_pairs(table, cfg.threshold, args.num_perm, cfg.ngram)
        p, r, f = prf(pred, true_pairs(table, cfg.threshold, cfg.ngram, cfg.shingle))
        print(f"{'datasketch at the defaults':<40} {'':>8} {'':>8} {'':>11} {p:>7.4f} {r:>7.4f} {f:>7.4f} {len(pred):>6} "
              f"{seconds:>6.1f}")


if __name__ == "__main__":
    main()
