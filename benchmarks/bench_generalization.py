"""Does a recipe's quality subset hold on data it was not tuned on? Per domain and corruption set:
budget filled, planted share next to random's, and the clean rows kept next to an oracle's.

Domains are built offline from the bundled ShareGPT sample (17.6k conversations), each a different
distribution: ``tail`` (the file's last rows, which nothing was tuned on), ``code`` (first answer holds a
code block), ``short`` (short question and answer: casual chat), ``foreign`` (question not in English),
``head`` (the first rows: the slice the old fixed thresholds were picked on), and three checked only after
the shipped settings were picked: ``middle`` (from the file's middle on), ``long`` (first answer over 2,000
characters), ``multi`` (four or more turns). ``foreign-turns`` is a larger non-English pool (the sample holds
~175 first questions in other languages, ~590 questions at any turn): each answered question not in English,
with the conversation from there on (two exchanges at most). Each gets 30% planted
corruption twice:

- ``audit``: the audit's ten original kinds (what `curate audit` plants by default);
- ``held-out``: ``split_variants()``'s held-out variants (every family's variants but its first, the
  audit's original kind), measured leave-one-variant-out: the detector refit without each variant in
  turn (``curate.auditing.holdout``), so each meets the subset as damage it was never shown;
- ``held-out-group``: the same variants, the detector told to exclude all of them at once (harsher: it
  then knows one variant per family).

    .venv/bin/python benchmarks/bench_generalization.py --recipe recipes/demo.yaml --domains tail,code,short,foreign \
        --rows 600 --models none

``--models no-lm`` drops the recipe's LM scorer (scoring the detector's copies with it dominates the CPU
time); ``--models none`` keeps only the no-model scorers (and no semantic dedup).
Writes OUT/summary.json and prints one line per domain and set.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
BUDGET = 0.5  # of the pool's rows, as the maintainers' test (300 of 600)


def _first(messages: list[dict], role: str) -> str:
    return next((m["content"] for m in messages if m["role"] == role), "")


def domain_rows(name: str, rows: int) -> list[list[dict]]:
    """``rows`` well-formed conversations of one domain (first user question answered)."""
    from curate import load
    from curate.scorers.consistency import language

    convs = [[{"role": m["role"], "content": m["content"]} for m in c]
             for c in load("sharegpt-sample").table.column("messages").to_pylist()]
    if name == "foreign-turns":
        return _other_language_exchanges(convs)[:rows]
    convs = [c for c in convs if _first(c, "user").strip() and _first(c, "assistant").strip()]
    pick = {
        "head": lambda c: True,
        "tail": lambda c: True,
        "code": lambda c: "```" in _first(c, "assistant"),
        "short": lambda c: len(_first(c, "user")) < 200 and len(_first(c, "assistant")) < 500,
        "foreign": lambda c: language(_first(c, "user")) not in ("en", "und"),
        "middle": lambda c: True,
        "long": lambda c: len(_first(c, "assistant")) > 2000,
        "multi": lambda c: len(c) >= 4,
    }[name]
    order = {"tail": convs[::-1], "middle": convs[len(convs) // 2:]}.get(name, convs)
    return [c for c in order if pick(c)][:rows]


def _other_language_exchanges(convs: list[list[dict]]) -> list[list[dict]]:
    """Every answered question not in English at any turn, with up to one exchange after it."""
    from curate.scorers.consistency import language

    out = []
    for c in convs:
        for j in range(len(c) - 1):
            if (c[j]["role"], c[j + 1]["role"]) == ("user", "assistant") and c[j]["content"].strip() \
                    and c[j + 1]["content"].strip() and language(c[j]["content"]) not in ("en", "und"):
                tail = c[j:j + 4]
                out.append(tail if tail[-1]["role"] == "assistant" else tail[:2])
    return out


def _recipe(path: Path, models: str, exclude: list[str]) -> dict:
    from bench_audit import without_models, without_scorers

    recipe = yaml.safe_load(path.read_text())
    if models == "none":
        recipe = without_models(recipe)
    elif models == "no-lm":
        recipe = without_scorers(recipe, {"lm"})
    recipe["detector"] = {**(recipe.get("detector") or {}), "exclude": exclude}
    return recipe


def measure(folder: Path, subset: str, budget: int) -> dict:
    """Fill, planted share vs the valid pool's, and clean rows kept vs an oracle that takes only clean rows.
    Planted damage counts as the audit counts it (``curate.auditing.metrics.survives``): a near-duplicate
    copy only while its source is there too; after dedup kept one of the two, that one is a good row."""
    import pandas as pd

    from curate.auditing.metrics import survives
    from curate.rundir import RunDir

    run = RunDir(folder / "run")
    pool = run.pool()
    labels = pd.read_parquet(folder / "labels.parquet").drop_duplicates("id")
    labels = labels[labels["id"].isin(pool["id"])]
    damaged = (labels["kind"] != "").to_numpy()
    chosen = set(run.selections()[subset]["id"])
    in_pool = int((damaged & survives(labels, set(pool["id"]))).sum())
    kept = int((damaged & survives(labels, chosen)).sum())
    share, pool_share = kept / max(len(chosen), 1), in_pool / len(pool)
    return {"rows": len(chosen), "budget": budget, "fill": round(len(chosen) / budget, 3),
            "planted_share": round(share, 4), "random_share": round(pool_share, 4),
            "ratio": round(share / pool_share, 3) if pool_share else None,
            "clean_kept_vs_oracle": round((len(chosen) - kept) / min(budget, len(pool) - in_pool), 3)}


def lovo_measure(folder: Path, recipe: dict, subset: str) -> dict:
    """Leave one variant out (``curate.auditing.holdout``): each planted variant's share of the subset when
    the detector is refit without it, pooled over the variants and per variant (1 = random)."""
    import pandas as pd

    from curate.auditing.holdout import leave_one_variant_out, ratios
    from curate.recipe import parse

    specs = [s for s in parse(recipe).subsets if s.name == subset]
    result = leave_one_variant_out(str(folder / "run"), pd.read_parquet(folder / "labels.parquet"), specs)
    return {"lovo_ratio": result["pooled"][subset],
            "lovo_by_variant": {v: r[subset] for v, r in ratios(result).items()}}


def run_one(recipe: dict, convs: list[list[dict]], out: Path, kinds: list[str], subset: str, seed: int,
            lovo: bool = False) -> dict:
    import curate
    from curate.rundir import write_jsonl

    out.mkdir(parents=True, exist_ok=True)
    source = out / "pool-source.jsonl"
    write_jsonl(source, ({"messages": c} for c in convs))
    budget = round(BUDGET * len(convs))
    rec = {**recipe, "name": "gen", "input": {"source": str(source)}, "train": None, "run_dir": str(out / "unused"),
           "subsets": [{**s, "budget": budget} for s in recipe["subsets"] if s["name"] in (subset, "random")]}
    t0, c0 = time.time(), time.process_time()
    curate.audit(rec, limit=len(convs), run_dir=out / "audit", seed=seed, kinds=kinds, progress=False)
    row = measure(out / "audit", subset, budget)
    if lovo:
        row.update(lovo_measure(out / "audit", rec, subset))
    detector = json.loads((out / "audit" / "run" / "detector" / "detector.json").read_text())
    row.update(wall_s=round(time.time() - t0, 1), cpu_s=round(time.process_time() - c0, 1),
               detector_auroc=detector.get("auroc"), detector_flagged=detector.get("flagged_share"))
    return row


def main() -> int:
    from curate.auditing.corruptions import KINDS
    from curate.auditing.plant import split_variants

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--recipe", type=Path, default=ROOT / "recipes" / "demo.yaml")
    ap.add_argument("--subset", default="quality")
    ap.add_argument("--domains", default="tail,code,short,foreign")
    ap.add_argument("--sets", default="audit,held-out,held-out-group")
    ap.add_argument("--rows", type=int, default=600)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--models", choices=["all", "no-lm", "none"], default="all",
                    help="the recipe's model scorers: all, all but the LM, or none (heuristics and consistency only)")
    ap.add_argument("--out", type=Path, default=ROOT / "runs" / "bench-generalization")
    args = ap.parse_args()
    held = list(split_variants()["held_out"])
    # held-out: the detector refit without each variant in turn (leave one variant out);
    # held-out-group: the detector never shown any of them (harsher: their families' other variants too)
    sets = {"audit": (list(KINDS), [], False), "held-out": (held, [], True), "held-out-group": (held, held, False)}
    results = {}
    for domain in args.domains.split(","):
        convs = domain_rows(domain, args.rows)
        for name in args.sets.split(","):
            kinds, exclude, lovo = sets[name]
            row = run_one(_recipe(args.recipe, args.models, exclude), convs, args.out / f"{domain}-{name}", kinds,
                          args.subset, args.seed, lovo)
            results[f"{domain}/{name}"] = {**row, "domain_rows": len(convs)}
            extra = f"  leave-one-variant-out ratio {row['lovo_ratio']}" if lovo else ""
            print(f"{domain:8s} {name:14s} fill {row['fill']:.2f}  planted {row['planted_share']:.3f} vs random "
                  f"{row['random_share']:.3f} (ratio {row['ratio']})  clean kept vs oracle {row['clean_kept_vs_oracle']:.2f}"
                  f"  detector AUROC {row['detector_auroc']}{extra}  {row['wall_s']:.0f}s", flush=True)
    summary = {"recipe": str(args.recipe), "models": args.models, "rows": args.rows, "load": os.getloadavg(),
               "held_out_variants": held, "results": results}
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1))
    ok = [r for r in results.values() if r["ratio"] is not None]
    print(f"worst ratio {max(r['ratio'] for r in ok):.3f}; lowest fill {min(r['fill'] for r in ok):.2f}; "
          f"lowest clean kept {min(r['clean_kept_vs_oracle'] for r in ok):.2f}; mean ratio "
          f"{np.mean([r['ratio'] for r in ok]):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
