"""Distilled proxies on the bundled ShareGPT sample: a SmolLM2 IFD / perplexity teacher on a 1k-row
stratified sample, a proxy fitted on MiniLM embeddings (static and torch backends) + heuristics, applied
to every row. Prints held-out agreement per teacher and backend, and the cost of the proxy path
(teacher on the sample + features + fit + apply) against the teacher on every row.

The teacher on every row is NOT run: its seconds per row are measured on the sample (a stratified
random slice of the same rows) and multiplied by the row count; the output says so. The torch MiniLM
backend runs at ~2.6 rows/s on this CPU (benchmarks/RESULTS.md), so its features are computed on the
teacher's sample only; agreement is measured on the same held-out rows as the static backend's.

    python benchmarks/bench_distill.py --run runs/bench-distill --sample 1000
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import torch

import curate
from curate.proxy.distill import Pool, ProxyResult

TEACHER = {"name": "lm", "model": "smollm2", "max_length": 128, "max_turns": 1}
STATIC = {"name": "embedding", "backend": "static"}
TORCH = {"name": "embedding", "backend": "torch", "max_length": 256}
COLUMNS = {"ifd": "high", "ppl": "low"}  # Cherry-style selection keeps high IFD; low perplexity is fluent


def timed(fn, *a, **kw):
    w, c = time.perf_counter(), time.process_time()
    out = fn(*a, **kw)
    return out, time.perf_counter() - w, time.process_time() - c


def remember(run: Path, name: str, value: dict) -> dict:
    """First measurement of a stage wins: a re-run that reuses stored scores keeps the real timing."""
    path = run / "bench_timings.json"
    seen = json.loads(path.read_text()) if path.exists() else {}
    if name not in seen or value.get("measured"):
        seen.setdefault(name, value)
    path.write_text(json.dumps(seen, indent=1))
    return seen[name]


def teacher_seconds_per_row(run: Path, results: list[ProxyResult]) -> dict:
    """Seconds per teacher row: from this run when it scored rows, else the primer's log."""
    for r in results:
        n = r.costs["teacher_rows_scored_now"]
        if n:
            return remember(run, "teacher", {"rows": n, "wall_s": r.costs["seconds"]["teacher"], "measured": True})
    primer = run / "teacher_timings.json"  # written by a separate process that scored the sample first
    if primer.exists():
        steps = json.loads(primer.read_text())
        rows = max(s["scored"] for s in steps)
        return remember(run, "teacher", {"rows": rows, "wall_s": sum(s["wall_s"] for s in steps),
                                         "cpu_s": sum(s["cpu_s"] for s in steps), "measured": True})
    return remember(run, "teacher", {})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", default="runs/bench-distill")
    ap.add_argument("--sample", type=int, default=1000)
    ap.add_argument("--limit", type=int, default=None, help="first N rows only (a smoke test)")
    ap.add_argument("--skip-torch", action="store_true", help="static backend only")
    args = ap.parse_args()
    torch.set_num_threads(1)
    run = Path(args.run)
    run.mkdir(parents=True, exist_ok=True)
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load {os.getloadavg()}", flush=True)
    data = curate.load("sharegpt-sample", n=args.limit)
    n_all = len(Pool(run, data.table).frame)

    feat = {}
    for name, spec in (("heuristics", "heuristics"), ("static", STATIC)):
        _, w, c = timed(curate.score, data, [spec], run=run, progress=False)
        feat[name] = remember(run, f"features_{name}", {"rows": n_all, "wall_s": w, "cpu_s": c, "measured": w > 20})
    results: dict[tuple[str, str], ProxyResult] = {}
    for column, better in COLUMNS.items():
        cfg = {"teacher": TEACHER, "column": column, "sample": args.sample, "better": better,
               "features": ["heuristics", STATIC]}
        results[(column, "static")] = curate.distill(run, cfg, data=data, progress=False)
    if not args.skip_torch:
        sample_ids = results[("ifd", "static")]
        ids = curate.scores(run, [sample_ids.key]).query("ifd_teacher_scored")["id"].tolist()
        sub = data.table.filter(pc.is_in(data.table["id"], value_set=pa.array(ids)))
        _, w, c = timed(curate.score, sub, [TORCH], run=run, progress=False)
        feat["torch"] = remember(run, "features_torch", {"rows": len(ids), "wall_s": w, "cpu_s": c, "measured": w > 20})
        for column, better in COLUMNS.items():
            cfg = {"teacher": TEACHER, "column": column, "sample": len(ids), "better": better,
                   "features": ["heuristics", TORCH]}
            results[(column, "torch")] = curate.distill(run, cfg, data=sub, progress=False)

    teach = teacher_seconds_per_row(run, list(results.values()))
    per_row = teach["wall_s"] / teach["rows"]
    print(f"\nteacher {TEACHER}: {teach['rows']} rows in {teach['wall_s']:.0f} s wall "
          f"({per_row:.2f} s/row, measured on the sample; teacher on all {n_all} rows EXTRAPOLATED: "
          f"{per_row * n_all / 3600:.1f} h)")
    for name, f in feat.items():
        print(f"features {name}: {f['rows']} rows in {f['wall_s']:.0f} s wall, {f.get('cpu_s', 0):.0f} s CPU"
              + ("" if f["rows"] == n_all else f" (all {n_all} rows EXTRAPOLATED: {f['wall_s'] * n_all / f['rows']:.0f} s)"))
    print("\n| teacher | backend | model | held-out | spearman | r2 | top10 | top25 | top50 | teacher rows | "
          "features s | proxy path s | teacher-all s (extrap.) | ratio | ratio, features already stored |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    out = {"teacher": TEACHER, "teacher_timing": teach, "features": feat, "rows": n_all, "results": []}
    for (column, backend), r in results.items():
        a, s = r.agreement, r.costs["seconds"]
        teacher_rows = r.costs["teacher_rows"]
        emb = feat[backend]
        features_s = feat["heuristics"]["wall_s"] + emb["wall_s"] * n_all / emb["rows"]
        proxy_s = per_row * teacher_rows + features_s + s["fit"] + s["apply"] * (n_all / r.costs["all_rows"])
        full_s = per_row * n_all
        print(f"| {column} | {backend} | {r.model} | {a['rows']} | {a['spearman']:.3f} | {a['r2']:.3f} | "
              f"{a['top10']:.2f} | {a['top25']:.2f} | {a['top50']:.2f} | {teacher_rows} | {features_s:.0f} | "
              f"{proxy_s:.0f} | {full_s:.0f} | {full_s / proxy_s:.1f}x | {full_s / (proxy_s - features_s):.1f}x |")
        out["results"].append({"column": column, "backend": backend, "model": r.model, "cv": r.cv,
                               "agreement": a, "seconds": s, "features_s": features_s, "proxy_path_s": proxy_s, "teacher_all_s": full_s,
                               "key": r.key})
    (run / "bench_distill.json").write_text(json.dumps(out, indent=1))
    print(f"\nload {os.getloadavg()}; details in {run / 'bench_distill.json'}")


if __name__ == "__main__":
    main()
