"""benchmarks/bench_curation.py end to end at toy size (a 2-layer model, a few steps): its recipe run
goes into its own folder, never the demo's run directory, and every variant gets a result."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_bench_runs_at_toy_size_beside_the_demo_run(tmp_path, tiny_lm_dir):
    out = tmp_path / "bench"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "bench_curation.py"), "--out", str(out), "--pool", "40",
           "--offset", "0", "--heldout", "4", "--seeds", "1", "--steps", "2", "--max-length", "64",
           "--variants", "recipe", "--parallel", "2", "--poll", "0.5", "--model", str(tiny_lm_dir)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    # budget 20 of a 40-row pool with 30% planted: the detector's junk_prob < 0.5 may leave a row or two short
    assert set(summary["variants"]) == {"recipe", "base"} and 15 <= summary["variants"]["recipe"]["rows"] <= 20
    assert (out / "run-recipe" / "subsets" / "quality" / "data.parquet").exists()
    manifest = json.loads((out / "run-recipe" / "manifest.json").read_text())
    assert manifest["recipe"]["name"] == "bench-recipe" and manifest["status"] == "done"
