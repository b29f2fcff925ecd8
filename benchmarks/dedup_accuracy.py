"""Near-dup accuracy: MinHash LSH pairs (curate, and datasketch for reference) against brute-force exact
Jaccard of the same shingles, on ShareGPT sample conversations plus generated near-copies
(whitespace, punctuation, casing, a few words changed, turns truncated or reordered).

    .venv/bin/python benchmarks/dedup_accuracy.py --n 3000 --copies 1000
"""

from __future__ import annotations

import argparse
import random
import re
import time

import numpy as np
import pyarrow as pa
from scipy import sparse

import curate
from curate.duplicates import dedup
from curate.duplicates.minhash import shingle_matrix
from curate.schema import conversation_id

MSG = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))


def perturb(messages: list[dict], rng: random.Random) -> list[dict]:
    """A near-copy: 1-3 random edits that a scrape or a re-upload would make."""
    msgs = [dict(m) for m in messages]
    for edit in rng.sample(["space", "punct", "case", "words", "turns"], k=rng.randint(1, 3)):
        i = rng.randrange(len(msgs))
        text = msgs[i]["content"]
        if edit == "space":
            msgs[i]["content"] = re.sub(r" ", lambda _: rng.choice([" ", "  ", "\n", " "]), text)
        elif edit == "punct":
            msgs[i]["content"] = re.sub(r"[.,!?;:]", lambda _: rng.choice(["", ".", ",", "!"]), text)
        elif edit == "case":
            msgs[i]["content"] = rng.choice([text.lower(), text.upper(), text.title()])
        elif edit == "words":
            w = text.split(" ")
            for _ in range(rng.randint(1, max(1, len(w) // 40))):
                w[rng.randrange(len(w))] = rng.choice(["foo", "bar", "the", "really", "quite", "indeed"])
            msgs[i]["content"] = " ".join(w)
        elif edit == "turns" and len(msgs) >= 4:
            if rng.random() < 0.5:
                msgs = msgs[:-2]  # drop the last exchange
            else:  # swap two exchanges
                j = rng.randrange(0, len(msgs) // 2 - 1) * 2
                msgs[j : j + 2], msgs[j + 2 : j + 4] = msgs[j + 2 : j + 4], msgs[j : j + 2]
    return msgs


def with_near_copies(table: pa.Table, copies: int, seed: int = 0) -> pa.Table:
    """``table`` plus ``copies`` perturbed copies of random rows, as one conversation table."""
    rng = random.Random(seed)
    base = table["messages"].to_pylist()
    extra = [perturb(base[rng.randrange(len(base))], rng) for _ in range(copies)]
    convs = base + extra
    return pa.table({"id": [conversation_id(m) for m in convs], "messages": pa.array(convs, MSG),
                     "row": np.arange(len(convs)), "source": ["sample"] * len(base) + ["copy"] * copies})


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


def curate_pairs(table: pa.Table, threshold: float, **kw) -> set[tuple[int, int]]:
    r = dedup(table, methods="near", threshold=threshold, progress=False, **kw)
    p = r.pairs["near"]
    on = p.sim >= threshold
    return set(zip(np.minimum(p.a, p.b)[on].tolist(), np.maximum(p.a, p.b)[on].tolist(), strict=True))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=3000, help="ShareGPT sample rows")
    ap.add_argument("--copies", type=int, default=1000, help="generated near-copies")
    ap.add_argument("--threshold", type=float, default=0.8)
    ap.add_argument("--num-perm", type=int, default=128)
    ap.add_argument("--ngram", type=int, default=5)
    args = ap.parse_args()
    table = with_near_copies(curate.load("sharegpt-sample", limit=args.n).table, args.copies)
    t = time.perf_counter()
    truth = true_pairs(table, args.threshold, args.ngram)
    print(f"rows {table.num_rows}, true pairs (exact Jaccard >= {args.threshold}): {len(truth)} "
          f"[brute force {time.perf_counter() - t:.1f}s]")
    print(f"settings: word {args.ngram}-grams, num_perm {args.num_perm}, threshold {args.threshold}")
    for label, kw in (("curate (signature estimate)", {}), ("curate (verify=exact)", {"verify": "exact"})):
        t = time.perf_counter()
        pred = curate_pairs(table, args.threshold, num_perm=args.num_perm, ngram=args.ngram, **kw)
        p, r, f = prf(pred, truth)
        print(f"{label:<30} P {p:.4f}  R {r:.4f}  F1 {f:.4f}  pairs {len(pred)}  [{time.perf_counter() - t:.1f}s]")


if __name__ == "__main__":
    main()
