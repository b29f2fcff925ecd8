"""``curate score INPUT --scorers heuristics,lm,embedding --run-dir RUN``: score once into a run's store."""

from __future__ import annotations

import argparse
import time
from typing import Any

import pandas as pd
import yaml

from curate.cli._args import add_limit, add_progress, add_run_dir
from curate.errors import UserError


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "score", help="score conversations with heuristics and models into RUN/scores (resumable)",
        description="Score every conversation of INPUT; rows already in RUN's score store are skipped, "
                    "so a re-run (or a run after a crash) only scores what is missing.",
    )
    p.add_argument("input", help="dataset: hub id, folder, .jsonl/.json/.parquet, or sharegpt-sample")
    p.add_argument("--scorers", default="heuristics",
                   help="comma-separated scorer names (heuristics, lm, embedding, reward, classifier)")
    add_run_dir(p, "run directory (required); scores go to DIR/scores/<scorer-key>/", old=("--run",), required=True)
    p.add_argument("--model", action="append", default=[], metavar="SCORER=MODEL",
                   help="model for a scorer: alias (smollm2, minilm), local path or hub id; repeatable")
    p.add_argument("--set", action="append", default=[], metavar="SCORER.KEY=VALUE",
                   help="any scorer setting, e.g. reward.aggregate=min or lm.max_length=1024; repeatable")
    add_limit(p, "score only the first N conversations")
    p.add_argument("--device", default="auto", help="auto (CUDA if available, else CPU), cpu, cuda, cuda:1")
    p.add_argument("--retry-failed", action="store_true", help="re-score rows whose earlier try failed")
    add_progress(p)
    p.set_defaults(func=main)


def parse_specs(scorers: str, models: list[str], sets: list[str]) -> list[dict[str, Any]]:
    """``--scorers`` plus ``--model``/``--set`` overrides -> scorer setting dicts."""
    names = [s.strip() for s in scorers.split(",") if s.strip()]
    if not names:
        raise UserError("--scorers is empty; name at least one scorer")
    specs: dict[str, dict[str, Any]] = {n: {"name": n} for n in names}
    for flag, items in (("--model", [f"{m.partition('=')[0]}.model={m.partition('=')[2]}" for m in models]),
                        ("--set", sets)):
        for item in items:
            target, eq, value = item.partition("=")
            scorer, dot, key = target.partition(".")
            if not eq or not dot or not key or not value:
                raise UserError(f"{flag} {item!r}: expected {'SCORER=MODEL' if flag == '--model' else 'SCORER.KEY=VALUE'}")
            if scorer not in specs:
                raise UserError(f"{flag} names scorer {scorer!r} which is not in --scorers ({', '.join(names)})")
            specs[scorer][key] = value if key == "model" else yaml.safe_load(value)
    return list(specs.values())


def summary(df: pd.DataFrame) -> pd.DataFrame:
    """count / failed / mean / p10 / p50 / p90 of every numeric score column."""
    rows = []
    for col in df.columns:
        if col == "id" or col.endswith("_error") or not pd.api.types.is_numeric_dtype(df[col]):
            continue
        s = df[col].astype(float)
        rows.append({"column": col, "scored": int(s.notna().sum()), "mean": s.mean(),
                     "p10": s.quantile(0.1), "p50": s.median(), "p90": s.quantile(0.9)})
    return pd.DataFrame(rows)


def main(args: argparse.Namespace) -> int:
    import curate
    from curate.rundir import RunDir

    specs = parse_specs(args.scorers, args.model, args.set)
    t0 = time.perf_counter()
    loaded = curate.load(args.input, limit=args.limit)
    df = curate.score(loaded, specs, run_dir=args.run_dir, device=args.device, progress=args.progress,
                      retry_failed=args.retry_failed)
    took = time.perf_counter() - t0
    quarantined = len(getattr(loaded, "quarantine", []) or [])
    print(f"{len(df)} conversations scored with {', '.join(s['name'] for s in specs)} in {took:.1f} s"
          f" ({quarantined} records quarantined); scores in {RunDir(args.run_dir).scores_dir}")
    errors = {c: int(df[c].notna().sum()) for c in df.columns if c.endswith("_error")}
    with pd.option_context("display.width", 120, "display.float_format", "{:.4g}".format):
        print(summary(df).to_string(index=False))
    for col, n in errors.items():
        if n:
            print(f"{col}: {n} rows failed (null scores); first: {df[col].dropna().iloc[0]}")
    return 0
