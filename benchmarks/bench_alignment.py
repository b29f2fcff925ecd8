"""The detector's ``qa_margin`` at scale: CPU seconds per thousand rows with the shipped reference cap
(``MAX_REFERENCE`` questions) next to comparing every answer with every question (what a user would write
first), and how far the capped margins move from the exact ones.

    .venv/bin/python benchmarks/bench_alignment.py --rows 20000,40000,100000 --exact-up-to 40000

Rows are the bundled ShareGPT sample resampled with 20% of their words swapped (as
``make_synthetic_tome.py`` makes them), so each row is distinct. CPU time is process time (one thread).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))


def conversations(n: int, seed: int = 0) -> list[list[dict]]:
    from make_synthetic_tome import base_rows, rewrite

    rng = np.random.default_rng(seed)
    base = base_rows(4000)
    vocab = sorted({w for t in base[:2000] for m in t for w in m["value"].split()})
    role = {"human": "user", "gpt": "assistant", "system": "system"}
    out = []
    for k in rng.integers(len(base), size=n):
        out.append([{"role": role[m["from"]], "content": m["value"]} for m in rewrite(base[k], vocab, rng)])
    return out


def _reader(by_id: dict[str, list[dict]]):
    return lambda ids: [by_id[i] for i in ids]


def timed(ids: list[str], reference: list[str], read) -> tuple[float, np.ndarray]:
    from curate.detector.alignment import run_margins

    start = time.process_time()
    margins = run_margins(ids, reference, read).margins
    return time.process_time() - start, margins.to_numpy()


def main() -> None:
    from scipy.stats import spearmanr
    from threadpoolctl import threadpool_limits

    from curate.detector.alignment import MAX_REFERENCE, reference_ids

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", default="20000,40000,100000")
    ap.add_argument("--exact-up-to", type=int, default=40000, help="largest run also compared all-pairs")
    args = ap.parse_args()
    sizes = [int(x) for x in args.rows.split(",")]
    rows = conversations(max(sizes))
    print(f"reference cap {MAX_REFERENCE} questions")
    with threadpool_limits(1):
        for n in sizes:
            ids = [f"r{i}" for i in range(n)]
            read = _reader(dict(zip(ids, rows[:n], strict=True)))
            capped_s, capped = timed(ids, reference_ids(ids, ids[:1000], seed=0), read)
            line = f"{n:>7} rows  capped {capped_s:6.1f} CPU s ({1000 * capped_s / n:.2f} per 1k rows)"
            if n <= args.exact_up_to:
                exact_s, exact = timed(ids, ids, read)
                ok = ~np.isnan(exact) & ~np.isnan(capped)
                rho = spearmanr(exact[ok], capped[ok]).statistic
                same = np.mean(np.sign(exact[ok]) == np.sign(capped[ok]))
                line += (f"  all-pairs {exact_s:6.1f} CPU s ({1000 * exact_s / n:.2f} per 1k)  ratio "
                         f"{exact_s / capped_s:.2f}x  Spearman {rho:.3f}  same sign {same:.3f}")
            print(line, flush=True)


if __name__ == "__main__":
    main()
