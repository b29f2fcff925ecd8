"""Local vs Ray executor on the same rows in one run: heuristics scoring of N conversations.

    .venv/bin/python benchmarks/bench_ray_overhead.py /tmp/tome.jsonl --rows 100000

Both executors fill a fresh score store from the same Parquet shards; the scores must match. Ray runs
on a local instance (``--cpus`` CPUs, 127.0.0.1); its start-up is reported apart from the scoring.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

from curate.executors import Shards, get_executor
from curate.loaders import iter_load
from curate.rundir import RunDir, scores, write_parquet
from curate.scorers.heuristics import HeuristicsScorer


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("source")
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--chunk-rows", type=int, default=10_000)
    ap.add_argument("--cpus", type=int, default=2)
    ap.add_argument("--work", default="/tmp/curate-ray-overhead")
    ap.add_argument("--workers", type=int, default=None,
                    help="local executor processes (default: one per core from 100k rows)")
    args = ap.parse_args()
    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    paths = []
    for k, chunk in enumerate(iter_load(args.source, chunk_rows=args.chunk_rows, limit=args.rows)):
        paths.append(work / "shards" / f"part-{k:05d}.parquet")
        write_parquet(paths[-1], chunk.table)
    shards = Shards(paths)
    n = sum(t.num_rows for t in shards.tables(("id",)))

    t0 = time.perf_counter()
    get_executor("local", workers=args.workers).fill(HeuristicsScorer(), shards, RunDir(work / "local").score_store(), progress=False)
    t_local = time.perf_counter() - t0

    import ray

    t0 = time.perf_counter()
    ray.init(num_cpus=args.cpus, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False)
    t_init = time.perf_counter() - t0
    t0 = time.perf_counter()
    get_executor("ray").fill(HeuristicsScorer(), shards, RunDir(work / "ray").score_store(), progress=False)
    t_ray = time.perf_counter() - t0
    ray.shutdown()

    a = scores(work / "local").sort_values("id").reset_index(drop=True)
    b = scores(work / "ray").sort_values("id").reset_index(drop=True)
    out = {"rows": n, "cpus": args.cpus, "local_workers": args.workers or "default", "local_s": round(t_local, 1), "ray_init_s": round(t_init, 1),
           "ray_s": round(t_ray, 1), "local_rows_per_s": round(n / t_local), "ray_rows_per_s": round(n / t_ray),
           "ray_over_local": round(t_ray / t_local, 2), "identical_scores": bool(a.equals(b))}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
