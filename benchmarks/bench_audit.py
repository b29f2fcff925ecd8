"""``curate audit`` of a recipe on disjoint slices of the ShareGPT sample: a tuning slice and a
confirmation slice the recipe was not tuned on, each with 30% planted corruption, every subset at a
budget of half the slice (the issue's target: a subset keeps at most 1/4 of random's planted share).

    .venv/bin/python benchmarks/bench_audit.py --recipe recipes/demo.yaml --slices 0:500,500:1000 [--no-models] [--kinds all]

Writes ``OUT/<slice>/audit.json`` (+ html, heatmap) and ``OUT/summary.json``; prints the per-kind table
(best score per family and per variant on each slice; ``--kinds all`` or family names plant
every variant, docs/audit.md) and each subset's planted share next to random's. A second run on
the same slices reuses the stored scores, so re-checking a changed subset costs seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def write_slice(lo: int, hi: int, path: Path) -> int:
    from curate import load
    from curate.rundir import write_jsonl

    if not path.exists():
        table = load("sharegpt-sample", limit=hi).table
        rows = table.column("messages").to_pylist()[lo:hi]
        write_jsonl(path, ({"messages": [{"role": m["role"], "content": m["content"]} for m in c]} for c in rows))
    return sum(1 for line in path.read_text(encoding="utf-8").split("\n") if line.strip())


CHEAP = ("heuristics", "consistency")  # scorers without a model


def _name(spec: str | dict) -> str:
    return spec if isinstance(spec, str) else spec["name"]


def without_scorers(recipe: dict, dropped: set[str]) -> dict:
    """The recipe without the scorers named in ``dropped``: proxies taught by them or learning from them go,
    rank terms on their columns go (with the model off, the term has nothing to add), and so do subsets
    that filter on them or rank on nothing else; dedup that kept the best by one keeps the longest."""
    from curate.scorers import get_class
    from curate.selection.expr import parse_filter
    from curate.selection.rank import split_column

    gone = {c for name in dropped for c in get_class(name).columns}
    proxies, lost = [], []
    for p in recipe.get("proxies") or []:
        (lost if {_name(p["teacher"]), *map(_name, p.get("features") or [])} & dropped else proxies).append(p)
    gone |= {p["column"] + end for p in lost for end in ("_proxy", "_best", "_teacher_scored")}
    subsets = []
    for s in recipe["subsets"]:
        rank = {k: w for k, w in (s.get("rank") or {}).items() if split_column(k)[0] not in gone}
        if (s.get("rank") and not rank) or (s.get("filter") and gone & set(parse_filter(s["filter"]).columns)):
            continue
        subsets.append({**s, "rank": rank} if s.get("rank") else s)
    out = {**recipe, "scorers": [s for s in recipe["scorers"] if _name(s) not in dropped], "subsets": subsets}
    if "proxies" in recipe:
        out["proxies"] = proxies
    if (recipe.get("train") or {}).get("subsets"):
        names = {s["name"] for s in subsets}
        out["train"] = {**recipe["train"], "subsets": [n for n in recipe["train"]["subsets"] if n in names]}
    dedup = recipe.get("dedup") or {}
    if split_column(str(dedup.get("keep", "first")))[0] in gone:
        out["dedup"] = {**dedup, "keep": "longest"}
    return out


def without_models(recipe: dict) -> dict:
    """The recipe with only its no-model scorers and no semantic dedup (minutes instead of hours on CPU);
    a detector learning from named scorers keeps those that are left (and its own texture scorer)."""
    out = without_scorers(recipe, {_name(s) for s in recipe["scorers"]} - set(CHEAP))
    dedup = out.get("dedup") or {}
    out["dedup"] = {**dedup, "methods": [m for m in dedup.get("methods", ["exact"]) if m != "semantic"]}
    if (recipe.get("detector") or {}).get("scorers"):
        left = (*CHEAP, "texture")
        out["detector"] = {**recipe["detector"], "scorers": [s for s in recipe["detector"]["scorers"] if s in left]}
    return out


def audit_slice(recipe: dict, lo: int, hi: int, out: Path, budget: float, seed: int, kinds: list[str] | None) -> dict:
    import curate

    folder = out / f"rows-{lo}-{hi}"
    n = write_slice(lo, hi, out / f"slice-{lo}-{hi}.jsonl")
    rec = {**recipe, "input": {"source": str(out / f"slice-{lo}-{hi}.jsonl")}, "train": None,
           "subsets": [{**s, "budget": round(budget * n)} for s in recipe["subsets"] if "diversity" not in s]}
    t0, c0 = time.time(), time.process_time()
    result = curate.audit(rec, limit=n, run_dir=folder, seed=seed, kinds=kinds, progress=False)
    result.summary["bench"] = {"wall_s": round(time.time() - t0, 1), "cpu_s": round(time.process_time() - c0, 1),
                               "load": os.getloadavg(), "rows": n}
    return result.summary


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--recipe", default=str(ROOT / "recipes" / "demo.yaml"))
    ap.add_argument("--slices", default="0:500,500:1000", help="row ranges of the ShareGPT sample, tuning first")
    ap.add_argument("--budget", type=float, default=0.5, help="every subset's size as a share of the slice")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="runs/bench-audit")
    ap.add_argument("--no-models", action="store_true", help="only the recipe's no-model scorers, no semantic dedup")
    ap.add_argument("--kinds", default=None, help="variants, families or 'all' (default: the original ten kinds)")
    args = ap.parse_args()
    recipe = yaml.safe_load(Path(args.recipe).read_text())
    if args.no_models:
        recipe = without_models(recipe)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = {}
    for part in args.slices.split(","):
        lo, hi = map(int, part.split(":"))
        s = audit_slice(recipe, lo, hi, out, args.budget, args.seed, args.kinds.split(",") if args.kinds else None)
        results[part] = s
        print(f"\nslice {part}: {s['rows']} rows, {s['planted_rows']} planted; audit {s['bench']['wall_s']:.0f}s wall, "
              f"{s['bench']['cpu_s']:.0f}s CPU, load {s['bench']['load'][0]:.1f}")
        for family, b in s["best_family"].items():
            print(f"  {family + ' (family)':<24} {b['auroc']:.3f}  {b['column']} ({b['direction']} = bad)")
        for kind, b in s["best"].items():
            print(f"    {kind:<22} {b['auroc']:.3f}  {b['column']} ({b['direction']} = bad)")
        for name, sub in s["subsets"].items():
            print(f"  subset {name:<12} planted {sub['planted_share']:.1%} vs random {sub['random_planted_share']:.1%}"
                  f"  ratio {sub['ratio']:.2f}")
    usage = resource.getrusage(resource.RUSAGE_SELF)
    summary = {"recipe": args.recipe, "no_models": args.no_models, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
               "cpu_s": round(usage.ru_utime + usage.ru_stime, 1), "slices": {
                   k: {"best": v["best"], "best_family": v["best_family"], "subsets": v["subsets"], "uncaught": v["uncaught"],
                       "uncaught_families": v["uncaught_families"], "bench": v["bench"]}
                   for k, v in results.items()}}
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
