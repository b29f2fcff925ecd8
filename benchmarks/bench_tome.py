"""The Tome's CPU stages in bounded memory: read, validate, heuristics, exact dedup, MinHash dedup, write.

    .venv/bin/python benchmarks/make_synthetic_tome.py --rows 150000 --out /tmp/tome.jsonl
    .venv/bin/python benchmarks/bench_tome.py /tmp/tome.jsonl --work /tmp/tome-run

Heavy per-row work runs one shard at a time (the pipeline's ingest shards, the local executor's
heuristics, MinHash signatures written into a .npy memmap); across shards only compact per-row arrays
are kept (ids, validity flags, uint32 signatures). Prints per-stage seconds (wall, and CPU: on a
shared machine the CPU seconds, worker processes included, are what an idle one would take), rows/s and
peak RSS of the process and its workers (sampled every 50 ms), the CPU time the hypervisor stole for
other guests during the run (a noisy host inflates CPU seconds too), and, measured on the same file in
the same run, each stage's floor and its ratio to it:

- read: ``pyarrow.json`` over the whole file (what a user would reach for; no normalization, no
  quarantine), next to a plain read of the bytes; the stage also writes the shards, so it is compared
  with the parse plus the rewrite below too, and curate's reader alone (no writes) is timed as well;
- heuristics: one Arrow pass over every message's text (``utf8_length``), reading the shards;
- MinHash signatures: a minimal one-hash-per-shingle pass (conversation text, lower-case, every word
  hashed once by the signature stage's own compiled word kernel, the minimum per row);
- write: the kept shards written again with no filtering.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj
from scipy import sparse
from scipy.sparse.csgraph import connected_components
from tqdm.auto import tqdm

from curate.duplicates import minhash
from curate.duplicates.config import NearConfig
from curate.duplicates.shingles import _B, _WORD, conversation_texts
from curate.executors import Shards, get_executor, score_shards
from curate.executors.local import default_workers
from curate.jsonl_reader import write_shards
from curate.loaders import iter_load
from curate.pipeline.steps import VALIDITY_COLUMNS
from curate.rundir import write_jsonl, write_parquet
from curate.text_kernels import run_hashes, utf8_buffer


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


def _timed(peak: Peak, fn) -> dict:
    t0, c0 = time.perf_counter(), peak.cpu()
    fn()
    return {"seconds": round(time.perf_counter() - t0, 1), "cpu_seconds": round(peak.cpu() - c0, 1)}


def one_hash_per_shingle(msgs: pa.Array) -> np.ndarray:
    """The least work a shingle signature needs: every word of the lower-cased text found and hashed
    once (one compiled pass, the signature stage's own word kernel), the minimum kept per row
    (one-permutation hashing with one bin)."""
    data, offsets = utf8_buffer(pc.utf8_lower(conversation_texts(msgs)))
    h, counts = run_hashes(data, offsets, _WORD, _B)
    firsts = np.minimum(np.concatenate([[0], np.cumsum(counts)[:-1]]), max(len(h) - 1, 0))
    return np.minimum.reduceat(h, firsts) if len(h) else h


def ingest(source: Path, work: Path, chunk_rows: int, workers: int, paths: list[Path], counts: dict) -> None:
    """As the pipeline's ingest: the reading processes write the shards; quarantine lines per shard."""
    def shard(k: int) -> Path:
        return work / "data" / "shards" / f"part-{k:05d}.parquet"

    for k, chunk in enumerate(tqdm(write_shards(source, source.stem, chunk_rows, shard, workers=workers), unit="shard",
                                   desc="read")):
        write_jsonl(work / "data" / "quarantine" / f"part-{k:05d}.jsonl", chunk.quarantine)
        paths.append(shard(k))
        counts["read"] += chunk.read
        counts["quarantined"] += len(chunk.quarantine)


def measure_floors(source: str, shards: Shards, work: Path, keep: np.ndarray, peak: Peak) -> dict:
    """Each stage's floor, on the same file and shards (see the module doc)."""
    def read_bytes():
        with open(source, "rb") as f:
            while f.read(1 << 24):
                pass

    def pyarrow_json():
        opts = pj.ReadOptions(block_size=1 << 26)
        for _ in pj.open_json(source, read_options=opts):
            pass

    def text_pass():
        for t in shards.tables(("messages",)):
            pc.sum(pc.utf8_length(pc.struct_field(pc.list_flatten(t["messages"].combine_chunks()), "content")))

    def shingle_pass():
        for t in shards.tables(("messages",)):
            one_hash_per_shingle(t["messages"].combine_chunks())

    def rewrite():
        for k, t in enumerate(shards.tables(("id", "messages", "source", "row"))):
            write_parquet(work / "floor" / f"part-{k:05d}.parquet", t)

    floors = {name: _timed(peak, fn) for name, fn in (("read_bytes", read_bytes), ("pyarrow_json", pyarrow_json),
                                                       ("arrow_text_pass", text_pass),
                                                       ("one_hash_per_shingle", shingle_pass), ("rewrite_shards", rewrite))}
    print("floors", floors, flush=True)
    return floors


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("source")
    ap.add_argument("--work", required=True, help="scratch run directory (deleted first)")
    ap.add_argument("--chunk-rows", type=int, default=50_000)
    ap.add_argument("--threshold", type=float, default=NearConfig().threshold)
    ap.add_argument("--workers", type=int, default=None,
                    help="local executor processes for heuristics (default one per core; 1 = in this process)")
    ap.add_argument("--method", choices=minhash.METHODS, default=NearConfig().method, help="signature method")
    args = ap.parse_args()
    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    peak, stages = Peak(), {}
    steal0 = psutil.cpu_times().steal  # CPU time the hypervisor gave to other guests: a noisy host inflates every number

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
        ingest(Path(args.source), work, args.chunk_rows, args.workers or os.cpu_count(), paths, counts)

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

    cfg = NearConfig(threshold=args.threshold, method=args.method)
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
                                                        cfg.chunk_rows, progress=False, threads=workers,
                                                        method=cfg.method)
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

    floors = measure_floors(args.source, shards, work, keep_all, peak)

    def read_alone():  # the reader without the shard writes: what pyarrow.json alone is compared with
        for _ in iter_load(args.source, chunk_rows=args.chunk_rows, workers=args.workers or os.cpu_count()):
            pass

    reader = _timed(peak, read_alone)
    reader["cpu_ratio_to_pyarrow_json"] = round(reader["cpu_seconds"] / max(floors["pyarrow_json"]["cpu_seconds"], 1e-3), 1)
    print("read without writes", reader, flush=True)
    ratio = {"read+validate+shard": "pyarrow_json", "heuristics": "arrow_text_pass",
             "minhash signatures": "one_hash_per_shingle", "write kept shards": "rewrite_shards"}
    for name, floor in ratio.items():
        stages[name]["floor_cpu_seconds"] = floors[floor]["cpu_seconds"]
        stages[name]["cpu_ratio_to_floor"] = round(stages[name]["cpu_seconds"] / max(floors[floor]["cpu_seconds"], 1e-3), 1)
    # the read stage also writes the shards: its whole floor is the parse plus writing the same shards
    both = floors["pyarrow_json"]["cpu_seconds"] + floors["rewrite_shards"]["cpu_seconds"]
    stages["read+validate+shard"]["cpu_ratio_to_parse_plus_write"] = round(
        stages["read+validate+shard"]["cpu_seconds"] / max(both, 1e-3), 1)
    total = sum(s["seconds"] for s in stages.values())
    cpu_total = sum(s["cpu_seconds"] for s in stages.values())
    result = {"workers": workers, "method": cfg.method, "ngram": cfg.ngram, "threshold": cfg.threshold,
              "rows": counts["read"], "bytes": Path(args.source).stat().st_size, "quarantined": counts["quarantined"],
              "invalid": int((~valid).sum()), "exact_removed": int(valid.sum() - survivors.sum()),
              "near_removed": int(near_removed.sum()), "kept": int(keep_all.sum()), "stages": stages,
              "total_seconds": round(total, 1), "total_cpu_seconds": round(cpu_total, 1),
              "peak_rss_gb": max(s["peak_rss_gb"] for s in stages.values()), "floors": floors,
              "read_without_writes": reader,
              "load_average": os.getloadavg(),
              "steal_seconds": round(psutil.cpu_times().steal - steal0, 1)}
    print(json.dumps(result, indent=1))
    (work / "bench_tome.json").write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
