"""The Tome's CPU stages in bounded memory: read, validate, heuristics, exact dedup, MinHash dedup, write.

    .venv/bin/python benchmarks/make_synthetic_tome.py --rows 150000 --out /tmp/tome.jsonl
    .venv/bin/python benchmarks/bench_tome.py /tmp/tome.jsonl --work /tmp/tome-run

Heavy per-row work runs one shard at a time (the pipeline's ingest shards, the local executor's
heuristics, MinHash signatures written into a .npy memmap); across shards only compact per-row arrays
are kept (ids, validity flags, uint32 signatures). Prints per-stage seconds (wall, and CPU: on a
shared machine the CPU seconds, worker processes included, are what an idle one would take), rows/s and
peak RSS of the process and its workers (sampled every 50 ms), and the read stage side by side with pyarrow.json (what a user would reach for).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import pyarrow as pa
from scipy import sparse
from scipy.sparse.csgraph import connected_components
from tqdm.auto import tqdm

from curate.duplicates import minhash
from curate.duplicates.config import NearConfig
from curate.executors import Shards, get_executor, score_shards
from curate.executors.local import default_workers
from curate.loaders import iter_load
from curate.pipeline.steps import VALIDITY_COLUMNS
from curate.rundir import write_jsonl, write_parquet


class Peak:
    """Peak RSS of this process and its worker processes together, sampled in a thread (ru_maxrss
    cannot be reset per stage, and misses the pool)."""

    def __init__(self):
        self.proc, self.peak, self._stop = psutil.Process(), 0, threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, self.rss())

    def rss(self) -> int:
        total = self.proc.memory_info().rss
        for child in self.proc.children(recursive=True):
            with contextlib.suppress(psutil.Error):  # a worker that just exited
                total += child.memory_info().rss
        return total

    def cpu(self) -> float:
        """User + system seconds of this process and of its finished (reaped) worker processes."""
        return sum(self.proc.cpu_times()[:4])

    def reset(self) -> None:
        self.peak = self.rss()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("source")
    ap.add_argument("--work", required=True, help="scratch run directory (deleted first)")
    ap.add_argument("--chunk-rows", type=int, default=50_000)
    ap.add_argument("--threshold", type=float, default=0.8)
    ap.add_argument("--workers", type=int, default=None,
                    help="local executor processes for heuristics (default one per core; 1 = in this process)")
    ap.add_argument("--compare-rows", type=int, default=50_000, help="rows read by pyarrow.json for the ratio")
    args = ap.parse_args()
    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    peak, stages = Peak(), {}

    def stage(name, rows):
        def deco(fn):
            peak.reset()
            t0, c0 = time.perf_counter(), peak.cpu()
            out = fn()
            dt = time.perf_counter() - t0
            stages[name] = {"seconds": round(dt, 1), "rows": rows() if callable(rows) else rows,
                            "cpu_seconds": round(peak.cpu() - c0, 1),
                            "peak_rss_gb": round(peak.peak / 1e9, 2)}
            stages[name]["rows_per_s"] = round(stages[name]["rows"] / max(dt, 1e-9))
            print(name, stages[name], flush=True)
            return out
        return deco

    # 1. read + validate (normalize, quarantine) -> shards
    paths: list[Path] = []
    counts = {"read": 0, "quarantined": 0}

    @stage("read+validate+shard", lambda: counts["read"])
    def _():
        for k, chunk in enumerate(tqdm(iter_load(args.source, chunk_rows=args.chunk_rows), unit="shard", desc="read")):
            p = work / "data" / "shards" / f"part-{k:05d}.parquet"
            write_parquet(p, chunk.table)
            write_jsonl(work / "data" / "quarantine" / f"part-{k:05d}.jsonl", chunk.quarantine)
            paths.append(p)
            counts["read"] += chunk.read
            counts["quarantined"] += len(chunk.quarantine)

    shards = Shards(paths)
    index = pa.concat_tables(list(shards.tables(("id", "row"))))  # compact: ids and input rows
    n = index.num_rows

    workers = args.workers or default_workers(len(paths))
    print(f"workers: {workers} (heuristics in a process pool of {workers}; MinHash signatures on {workers} threads)",
          flush=True)

    @stage("heuristics", n)
    def scores():
        return score_shards(get_executor("local", workers=workers), shards, ["heuristics"], work, progress=True)

    # validity on compact score columns (role_order, template_leak as in the recipes)
    @stage("validity", n)
    def valid():
        s = scores.set_index("id").reindex(index["id"].to_pylist())
        bad = np.zeros(n, bool)
        for check in ("role_order", "template_leak"):
            col, fail = VALIDITY_COLUMNS[check]
            bad |= s[col].eq(fail).fillna(False).to_numpy()
        return ~bad

    @stage("exact dedup", n)
    def survivors():
        codes, _ = pd.factorize(np.asarray(index["id"].to_pylist(), dtype=object))
        first = np.zeros(n, bool)
        idx = np.nonzero(valid)[0]
        _, pos = np.unique(codes[idx], return_index=True)
        first[idx[pos]] = True  # first valid copy of each id survives
        return first

    cfg = NearConfig(threshold=args.threshold)
    sig_path = work / "dedup" / "signatures.npy"
    sig_path.parent.mkdir(parents=True, exist_ok=True)
    m = int(survivors.sum())

    @stage("minhash signatures", m)
    def sig():
        out = np.lib.format.open_memmap(sig_path, mode="w+", dtype=np.uint32, shape=(m, cfg.num_perm))
        at, base = 0, 0
        for t in tqdm(shards.tables(("messages",)), total=len(paths), unit="shard", desc="minhash"):
            keep = survivors[base:base + t.num_rows]
            base += t.num_rows
            msgs = t["messages"].filter(pa.array(keep)).combine_chunks()
            out[at:at + len(msgs)] = minhash.signatures(msgs, cfg.num_perm, cfg.ngram, cfg.shingle, cfg.seed,
                                                        cfg.chunk_rows, progress=False, threads=workers)
            at += len(msgs)
        out.flush()
        return np.load(sig_path, mmap_mode="r")

    @stage("minhash LSH + clusters", m)
    def near_removed():
        floor = cfg.candidate_floor()
        cand = minhash.candidate_pairs(sig, floor, cfg.false_positive_weight)
        sims = minhash.estimated_jaccard(sig, cand[:, 0], cand[:, 1])
        a, b = cand[sims >= cfg.threshold].T
        g = sparse.coo_matrix((np.ones(len(a), np.int8), (a, b)), shape=(m, m))
        _, label = connected_components(g, directed=False)
        _, first = np.unique(label, return_index=True)  # lowest row of each cluster survives ("first")
        keep = np.zeros(m, bool)
        keep[first] = True
        return ~keep

    keep_all = survivors.copy()
    keep_all[np.nonzero(survivors)[0][near_removed]] = False

    @stage("write kept shards", int(keep_all.sum()))
    def _():
        base = 0
        for k, t in enumerate(shards.tables(("id", "messages", "source", "row"))):
            mask = keep_all[base:base + t.num_rows]
            base += t.num_rows
            write_parquet(work / "kept" / f"part-{k:05d}.parquet", t.filter(pa.array(mask)))

    # side by side: the read stage with pyarrow.json on the first rows (no normalization, no quarantine)
    cmp_path = work / "compare.jsonl"
    with open(args.source, "rb") as src, open(cmp_path, "wb") as dst:
        for _i, line in zip(range(args.compare_rows), src):
            dst.write(line)
    import pyarrow.json as pj

    t0 = time.perf_counter()
    ref = pj.read_json(cmp_path, read_options=pj.ReadOptions(block_size=1 << 26))
    t_pa = time.perf_counter() - t0
    t0 = time.perf_counter()
    ours = sum(c.read for c in iter_load(cmp_path, chunk_rows=args.chunk_rows))
    t_ours = time.perf_counter() - t0
    total = sum(s["seconds"] for s in stages.values())
    cpu_total = sum(s["cpu_seconds"] for s in stages.values())
    result = {"workers": workers, "rows": counts["read"], "bytes": Path(args.source).stat().st_size, "quarantined": counts["quarantined"],
              "invalid": int((~valid).sum()), "exact_removed": int(valid.sum() - survivors.sum()),
              "near_removed": int(near_removed.sum()), "kept": int(keep_all.sum()), "stages": stages,
              "total_seconds": round(total, 1), "total_cpu_seconds": round(cpu_total, 1), "peak_rss_gb": max(s["peak_rss_gb"] for s in stages.values()),
              "read_compare": {"rows": ref.num_rows == ours and ours, "curate_s": round(t_ours, 2),
                               "pyarrow_json_s": round(t_pa, 2), "ratio": round(t_ours / t_pa, 1)}}
    print(json.dumps(result, indent=1))
    (work / "bench_tome.json").write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
