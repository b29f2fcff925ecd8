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
from curate.executors.local import shard_workers
from curate.jsonl_reader import write_shards
from curate.loaders import iter_load
from curate.rundir import write_jsonl, write_parquet
from curate.text_kernels import run_hashes, utf8_buffer
from curate.validity import BY_NAME as VALIDITY_CHECKS


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


def measure_floors(source: str, shards: Shards, work: Path, peak: Peak) -> dict:
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


class Stages:
    """Each stage's wall and CPU seconds (workers included), rows, rows/s and peak RSS, printed as it ends."""

    def __init__(self, peak: Peak):
        self.peak, self.results = peak, {}

    def run(self, name: str, rows, fn):
        """``fn()``, timed as stage ``name``; ``rows`` may be a callable read after it ran."""
        self.peak.reset()
        t0, c0 = time.perf_counter(), self.peak.cpu()
        out = fn()
        dt = time.perf_counter() - t0
        r = {"seconds": round(dt, 1), "rows": rows() if callable(rows) else rows,
             "cpu_seconds": round(self.peak.cpu() - c0, 1), "peak_rss_gb": round(self.peak.peak / 1e9, 2)}
        r["rows_per_s"] = round(r["rows"] / max(dt, 1e-9))
        self.results[name] = r
        print(name, r, flush=True)
        return out


def validity(scores: pd.DataFrame, ids: pa.Array) -> np.ndarray:
    """Valid rows by the recipes' role_order and template_leak checks, on the compact score columns."""
    s = scores.set_index("id").reindex(ids.to_pylist())
    bad = np.zeros(len(ids), bool)
    for check in ("role_order", "template_leak"):
        c = VALIDITY_CHECKS[check]
        bad |= s[c.column].eq(c.fails).fillna(False).to_numpy()
    return ~bad


def first_valid_copies(ids: pa.Array, valid: np.ndarray) -> np.ndarray:
    """Exact dedup: the first valid row of each id survives."""
    codes, _ = pd.factorize(np.asarray(ids.to_pylist(), dtype=object))
    first = np.zeros(len(ids), bool)
    idx = np.nonzero(valid)[0]
    _, pos = np.unique(codes[idx], return_index=True)
    first[idx[pos]] = True
    return first


def signatures(shards: Shards, survivors: np.ndarray, cfg: NearConfig, workers: int, path: Path) -> np.ndarray:
    """The survivors' signatures, a shard at a time, into a .npy memmap (bounded memory)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint32, shape=(int(survivors.sum()), cfg.num_perm))
    at, base = 0, 0
    for t in tqdm(shards.tables(("messages",)), total=len(shards.paths), unit="shard", desc="minhash"):
        keep = survivors[base:base + t.num_rows]
        base += t.num_rows
        msgs = t["messages"].filter(pa.array(keep)).combine_chunks()
        out[at:at + len(msgs)] = minhash.signatures(msgs, cfg.num_perm, cfg.ngram, cfg.shingle, cfg.seed,
                                                    cfg.chunk_rows, progress=False, threads=workers,
                                                    method=cfg.method)
        at += len(msgs)
    out.flush()
    return np.load(path, mmap_mode="r")


def near_removed(sig: np.ndarray, cfg: NearConfig) -> np.ndarray:
    """LSH candidates, estimated Jaccard >= threshold, connected components; all but each cluster's
    lowest row are removed."""
    m = len(sig)
    cand = minhash.candidate_pairs(sig, cfg.candidate_floor(), cfg.false_positive_weight)
    sims = minhash.estimated_jaccard(sig, cand[:, 0], cand[:, 1])
    a, b = cand[sims >= cfg.threshold].T
    _, label = connected_components(sparse.coo_matrix((np.ones(len(a), np.int8), (a, b)), shape=(m, m)), directed=False)
    _, first = np.unique(label, return_index=True)
    keep = np.zeros(m, bool)
    keep[first] = True
    return ~keep


def write_kept(shards: Shards, keep: np.ndarray, folder: Path) -> None:
    base = 0
    for k, t in enumerate(shards.tables(("id", "messages", "source", "row"))):
        mask = keep[base:base + t.num_rows]
        base += t.num_rows
        write_parquet(folder / f"part-{k:05d}.parquet", t.filter(pa.array(mask)))


def read_alone(source: str, chunk_rows: int, workers: int) -> None:
    """curate's reader without the shard writes: what ``pyarrow.json`` alone is compared with."""
    for _ in iter_load(source, chunk_rows=chunk_rows, workers=workers):
        pass


def add_ratios(stages: dict, floors: dict) -> None:
    """Each stage's CPU over its floor's; the read stage also writes the shards, so it is compared with
    the parse plus writing the same shards too."""
    ratio = {"read+validate+shard": "pyarrow_json", "heuristics": "arrow_text_pass",
             "minhash signatures": "one_hash_per_shingle", "write kept shards": "rewrite_shards"}
    for name, floor in ratio.items():
        stages[name]["floor_cpu_seconds"] = floors[floor]["cpu_seconds"]
        stages[name]["cpu_ratio_to_floor"] = round(stages[name]["cpu_seconds"] / max(floors[floor]["cpu_seconds"], 1e-3), 1)
    both = floors["pyarrow_json"]["cpu_seconds"] + floors["rewrite_shards"]["cpu_seconds"]
    stages["read+validate+shard"]["cpu_ratio_to_parse_plus_write"] = round(
        stages["read+validate+shard"]["cpu_seconds"] / max(both, 1e-3), 1)


def _args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("source")
    ap.add_argument("--work", required=True, help="scratch run directory (deleted first)")
    ap.add_argument("--chunk-rows", type=int, default=50_000)
    ap.add_argument("--threshold", type=float, default=NearConfig().threshold)
    ap.add_argument("--workers", type=int, default=None,
                    help="local executor processes for heuristics (default one per core; 1 = in this process)")
    ap.add_argument("--method", choices=minhash.METHODS, default=NearConfig().method, help="signature method")
    return ap.parse_args()


def main() -> None:
    args = _args()
    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    peak = Peak()
    stages = Stages(peak)
    steal0 = psutil.cpu_times().steal  # CPU time the hypervisor gave to other guests: a noisy host inflates every number
    paths: list[Path] = []
    counts = {"read": 0, "quarantined": 0}
    stages.run("read+validate+shard", lambda: counts["read"],
               lambda: ingest(Path(args.source), work, args.chunk_rows, args.workers or os.cpu_count(), paths, counts))
    shards = Shards(paths)
    index = pa.concat_tables(list(shards.tables(("id", "row"))))  # compact: ids and input rows
    n = index.num_rows
    workers = args.workers or shard_workers(len(paths))
    print(f"workers: {workers} (heuristics in a process pool of {workers}; MinHash signatures on {workers} threads)",
          flush=True)
    scores = stages.run("heuristics", n, lambda: score_shards(get_executor("local", workers=workers), shards,
                                                              ["heuristics"], work, progress=True))
    valid = stages.run("validity", n, lambda: validity(scores, index["id"].combine_chunks()))
    survivors = stages.run("exact dedup", n, lambda: first_valid_copies(index["id"].combine_chunks(), valid))
    cfg = NearConfig(threshold=args.threshold, method=args.method)
    m = int(survivors.sum())
    sig = stages.run("minhash signatures", m,
                     lambda: signatures(shards, survivors, cfg, workers, work / "dedup" / "signatures.npy"))
    removed = stages.run("minhash LSH + clusters", m, lambda: near_removed(sig, cfg))
    keep_all = survivors.copy()
    keep_all[np.nonzero(survivors)[0][removed]] = False
    stages.run("write kept shards", int(keep_all.sum()), lambda: write_kept(shards, keep_all, work / "kept"))

    floors = measure_floors(args.source, shards, work, peak)
    reader = _timed(peak, lambda: read_alone(args.source, args.chunk_rows, args.workers or os.cpu_count()))
    reader["cpu_ratio_to_pyarrow_json"] = round(reader["cpu_seconds"] / max(floors["pyarrow_json"]["cpu_seconds"], 1e-3), 1)
    print("read without writes", reader, flush=True)
    add_ratios(stages.results, floors)
    res = stages.results
    result = {"workers": workers, "method": cfg.method, "ngram": cfg.ngram, "threshold": cfg.threshold,
              "rows": counts["read"], "bytes": Path(args.source).stat().st_size, "quarantined": counts["quarantined"],
              "invalid": int((~valid).sum()), "exact_removed": int(valid.sum() - survivors.sum()),
              "near_removed": int(removed.sum()), "kept": int(keep_all.sum()), "stages": res,
              "total_seconds": round(sum(s["seconds"] for s in res.values()), 1),
              "total_cpu_seconds": round(sum(s["cpu_seconds"] for s in res.values()), 1),
              "peak_rss_gb": max(s["peak_rss_gb"] for s in res.values()), "floors": floors,
              "read_without_writes": reader, "load_average": os.getloadavg(),
              "steal_seconds": round(psutil.cpu_times().steal - steal0, 1)}
    print(json.dumps(result, indent=1))
    (work / "bench_tome.json").write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
