"""Model scorers next to a competing CPU job: rows/s of the LM scorer (SmolLM2, max_length 128, first answer)
at the current load and with a busy-loop process per core beside it, for torch threads = cores, cores - 1
and 1, and with OMP_WAIT_POLICY=PASSIVE. Each setting runs in a fresh process (torch reads the policy at
start), on the same rows.

    .venv/bin/python benchmarks/bench_contention.py --rows 40
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# torch is imported before curate, so OpenMP starts with the policy this process was given (curate sets
# PASSIVE only where nothing was set): the non-passive rows measure OpenMP's own default (spin, then sleep).
CHILD = """
import sys, time, json
import torch
import curate
threads = int(sys.argv[1]); rows = int(sys.argv[2])
torch.set_num_threads(threads)
data = curate.load("sharegpt-sample", limit=rows).table.select(["id", "messages"])
spec = {"name": "lm", "model": "smollm2", "max_length": 128, "max_turns": 1}
curate.score(data.slice(0, 4), [spec], progress=False)  # load the model, warm up
t = time.perf_counter()
curate.score(data.slice(4), [spec], progress=False)
print(json.dumps({"rows_per_s": (data.num_rows - 4) / (time.perf_counter() - t)}))
"""


def _busy() -> None:
    while True:
        pass


def one(threads: int, rows: int, passive: bool) -> float:
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if passive:
        env["OMP_WAIT_POLICY"] = "PASSIVE"
    out = subprocess.run([sys.executable, "-c", CHILD, str(threads), str(rows)], capture_output=True, text=True,
                         env=env, cwd=ROOT, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])["rows_per_s"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=60)
    args = ap.parse_args()
    cores = os.cpu_count() or 1
    settings = list(dict.fromkeys([(cores, False), (max(1, cores - 1), False), (1, False), (cores, True)]))
    results = {}
    for busy in (False, True):
        jobs = [mp.Process(target=_busy, daemon=True) for _ in range(cores if busy else 0)]
        for j in jobs:
            j.start()
        time.sleep(1 if busy else 0)
        load = os.getloadavg()[0]
        for threads, passive in settings:
            name = f"{'busy' if busy else 'quiet'} threads={threads}{' passive' if passive else ''}"
            results[name] = round(one(threads, args.rows, passive), 2)
            print(f"{name:<32} {results[name]:6.2f} rows/s  (load {load:.1f})", flush=True)
        for j in jobs:
            j.terminate()
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
