"""Embeddings: our static fast path (model2vec distilled from the shipped MiniLM) vs plain
``SentenceTransformer.encode`` with the full MiniLM, on the same ShareGPT texts, in one run.

The two spaces differ (256-d PCA vs 384-d), so agreement is measured on what the rest of curate
uses them for: Spearman correlation of instruction-response similarity (``embed_sim``), Spearman
correlation of pairwise cosine similarities, and overlap of 10 nearest neighbours (semantic dedup).

    .venv/bin/python benchmarks/bench_embedding.py --n 500
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from scipy.stats import spearmanr

from curate.schema import conversation_text, instruction_text, response_text
from curate.scorers.embedding import EmbeddingScorer, distilled_dir


def knn_overlap(a: np.ndarray, b: np.ndarray, k: int = 10) -> float:
    def knn(x):
        s = x @ x.T
        np.fill_diagonal(s, -np.inf)
        return np.argsort(-s, axis=1)[:, :k]

    ka, kb = knn(a), knn(b)
    return float(np.mean([len(set(x) & set(y)) / k for x, y in zip(ka, kb, strict=True)]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from sentence_transformers import SentenceTransformer

    import curate
    from curate.models import minilm_dir

    convs = [list(m) for m in curate.load("sharegpt-sample", limit=args.n).table["messages"].to_pylist()]
    n = len(convs)
    texts = [conversation_text(c) for c in convs]
    instr, resp = [instruction_text(c) for c in convs], [response_text(c) for c in convs]
    t = time.perf_counter()
    distilled_dir("minilm", 256)
    print(f"{n} conversations; model2vec distillation (once, cached): {time.perf_counter() - t:.1f} s")

    st = SentenceTransformer(str(minilm_dir()), device="cpu")
    t = time.perf_counter()
    full = st.encode(texts + instr + resp, batch_size=64, normalize_embeddings=True)
    t_full = time.perf_counter() - t

    fast = EmbeddingScorer(model="minilm", backend="static")
    fast.load()
    t = time.perf_counter()
    quick = fast.encode(texts + instr + resp)
    t_fast = time.perf_counter() - t

    def sims(e):
        return (e[n:2 * n] * e[2 * n:]).sum(1)

    rng = np.random.default_rng(0)
    i, j = rng.integers(0, n, 5000), rng.integers(0, n, 5000)
    pair_full, pair_fast = (full[:n][i] * full[:n][j]).sum(1), (quick[:n][i] * quick[:n][j]).sum(1)
    print(f"texts encoded: {3 * n} (conversation, instruction, response per row)")
    print(f"  SentenceTransformer.encode (MiniLM, torch) {t_full:7.2f} s  {n / t_full:8.1f} rows/s")
    print(f"  ours, static fast path (model2vec)         {t_fast:7.2f} s  {n / t_fast:8.1f} rows/s")
    print(f"  speed-up {t_full / t_fast:.1f}x")
    print(f"  agreement: embed_sim Spearman {spearmanr(sims(full), sims(quick))[0]:.3f}; "
          f"pairwise cosine Spearman {spearmanr(pair_full, pair_fast)[0]:.3f}; "
          f"10-NN overlap {knn_overlap(full[:n], quick[:n]):.3f}")
    for data, rows in {"FineTome-100k": 100_000, "The Tome": 1_750_000}.items():
        print(f"  {data} on this CPU: full {rows / (n / t_full) / 3600:.1f} h, fast {rows / (n / t_fast) / 60:.1f} min")


if __name__ == "__main__":
    main()
