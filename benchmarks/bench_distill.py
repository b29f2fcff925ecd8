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
from types import SimpleNamespace

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


def teacher_per_row(run: Path, results: list[tuple[ProxyResult, float]]) -> dict:
    """Seconds per teacher row (wall and CPU): from this run when it scored rows, else from the
    primer that scored the sample first (its ``teacher_timings.json``); kept in bench_timings.json."""
    path = run / "bench_timings.json"
    saved = json.loads(path.read_text()) if path.exists() else {}
    for r, cpu in results:
        n = r.costs["teacher_rows_scored_now"]
        if n and "teacher" not in saved:
            saved["teacher"] = {"rows": n, "wall_s": r.costs["seconds"]["teacher"], "cpu_s": cpu}
    primer = run / "teacher_timings.json"
    if "teacher" not in saved and primer.exists():
        steps = json.loads(primer.read_text())
        saved["teacher"] = {"rows": sum(s.get("rows", s["n"]) for s in steps), "wall_s": sum(s["wall_s"] for s in steps),
                            "cpu_s": sum(s["cpu_s"] for s in steps)}
    path.write_text(json.dumps(saved, indent=1))
    return saved["teacher"]


def feature_cost(data, spec, rows: int) -> dict:
    """Wall and CPU seconds per row of a feature scorer on the first ``rows`` rows (in memory)."""
    sub = data.table.slice(0, rows)
    _, w, c = timed(curate.score, sub, [spec], run=None, progress=False)
    return {"rows": sub.num_rows, "wall_s": w, "cpu_s": c}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", default="runs/bench-distill")
    ap.add_argument("--sample", type=int, nargs="+", default=[1000],
                    help="teacher rows; more than one: the first with both backends, the others static only")
    ap.add_argument("--teacher-key", default=None,
                    help="use this stored teacher key as is (samples are drawn from the rows it scored; "
                         "--sample 0 = all of them) instead of scoring")
    ap.add_argument("--limit", type=int, default=None, help="first N rows only (a smoke test)")
    ap.add_argument("--slice", type=int, default=2000, help="rows to time the feature scorers on")
    ap.add_argument("--skip-torch", action="store_true", help="static backend only")
    ap.add_argument("--valid-only", action="store_true",
                    help="only rows that pass the role-order check (what a pipeline scores after validity)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    run = Path(args.run)
    run.mkdir(parents=True, exist_ok=True)
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load {os.getloadavg()}", flush=True)
    data = curate.load("sharegpt-sample", limit=args.limit)
    if args.valid_only:  # ShareGPT rows that start with the assistant get IFD = 1 exactly: trivially predictable
        ok = curate.scores(run, ["heuristics"]).query("role_order_ok")["id"]
        data = SimpleNamespace(table=data.table.filter(pc.is_in(data.table["id"], value_set=pa.array(ok.tolist()))))
    n_all = len(Pool(run, data.table).frame)
    teacher = args.teacher_key or TEACHER
    samples = [1.0 if (n == 0 and args.teacher_key) else n for n in args.sample]
    feat = {"heuristics": feature_cost(data, "heuristics", args.slice), "static": feature_cost(data, STATIC, args.slice)}
    results: dict[tuple[str, str, int], tuple[ProxyResult, float]] = {}
    for k, sample in enumerate(samples):
        for column, better in COLUMNS.items():
            cfg = {"teacher": teacher, "column": column, "sample": sample, "better": better,
                   "features": ["heuristics", STATIC]}
            r, _, cpu = timed(curate.distill, run, cfg, data=data, progress=False)
            results[(column, "static", k)] = (r, cpu)
    if not args.skip_torch:
        first = results[("ifd", "static", 0)][0]
        ids = curate.scores(run, [first.key]).query("ifd_teacher_scored")["id"].tolist()
        sub = data.table.filter(pc.is_in(data.table["id"], value_set=pa.array(ids)))
        _, w, c = timed(curate.score, sub, [TORCH], run=run, progress=False)
        primed = run / "torch_timings.json"  # written by a process that embedded the sample first
        feat["torch"] = json.loads(primed.read_text()) if c < 10 and primed.exists() else \
            {"rows": len(ids), "wall_s": w, "cpu_s": c}
        for column, better in COLUMNS.items():
            cfg = {"teacher": teacher, "column": column, "sample": 1.0, "better": better,
                   "features": ["heuristics", TORCH]}
            r, _, cpu = timed(curate.distill, run, cfg, data=sub, progress=False)
            results[(column, "torch", 0)] = (r, cpu)
    name = "bench_distill_valid.json" if args.valid_only else "bench_distill.json"
    report(run, feat, results, n_all, teacher_per_row(run, list(results.values())), name)


def report(run: Path, feat: dict, results: dict, n_all: int, teach: dict, name: str) -> None:
    """The table: agreement per teacher column and backend, and CPU seconds of both paths."""
    cpu_row = teach["cpu_s"] / teach["rows"]
    print(f"\nteacher {TEACHER}: {teach['rows']} rows, {teach['wall_s']:.0f} s wall, {teach['cpu_s']:.0f} s CPU "
          f"({cpu_row:.2f} CPU s/row, measured on the sample). Teacher on all {n_all} rows is EXTRAPOLATED: "
          f"{cpu_row * n_all / 3600:.2f} CPU-hours")
    for kind, f in feat.items():
        print(f"features {kind}: {f['rows']} rows in {f['wall_s']:.1f} s wall, {f['cpu_s']:.1f} s CPU "
              f"(all {n_all} rows extrapolated: {f['cpu_s'] * n_all / f['rows']:.0f} CPU s)")
    print("\nCPU seconds. proxy path = teacher on the sample + features on every row + fit + apply.")
    print("| teacher | backend | model | held-out | spearman | r2 | top10 | top25 | top50 | teacher rows | "
          "features | fit+apply | proxy path | teacher on all (extrap.) | ratio | ratio, features stored |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    out = {"teacher": TEACHER, "teacher_timing": teach, "features": feat, "rows": n_all, "results": []}
    for (column, backend, _), (r, cpu) in results.items():
        a = r.agreement
        rows, scale = r.costs["teacher_rows"], n_all / r.costs["all_rows"]
        fit_apply = cpu if not r.costs["teacher_rows_scored_now"] else r.costs["seconds"]["fit"]
        fit_apply += r.costs["seconds"]["apply"] * (scale - 1)  # only applying grows with the pool
        features = sum(feat[k]["cpu_s"] / feat[k]["rows"] for k in ("heuristics", backend)) * n_all
        proxy, full = cpu_row * rows + features + fit_apply, cpu_row * n_all
        print(f"| {column} | {backend} | {r.model} | {a['rows']} | {a['spearman']:.3f} | {a['r2']:.3f} | "
              f"{a['top10']:.2f} | {a['top25']:.2f} | {a['top50']:.2f} | {rows} | {features:.0f} | {fit_apply:.0f} | "
              f"{proxy:.0f} | {full:.0f} | {full / proxy:.1f}x | {full / (proxy - features):.1f}x |")
        out["results"].append({"column": column, "backend": backend, "model": r.model, "cv": r.cv, "agreement": a,
                               "features_cpu_s": features, "fit_apply_cpu_s": fit_apply, "proxy_cpu_s": proxy,
                               "teacher_all_cpu_s": full, "seconds": r.costs["seconds"], "key": r.key})
    (run / name).write_text(json.dumps(out, indent=1))
    print(f"\nload {os.getloadavg()}; details in {run / name}")


if __name__ == "__main__":
    main()
