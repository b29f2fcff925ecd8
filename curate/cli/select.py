"""`curate select RUN_DIR --name NAME ...`: one more subset from a scored run, in seconds (no scoring)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from curate.cli._args import add_existing_run_dir
from curate.errors import UserError

if TYPE_CHECKING:
    import pandas as pd

    from curate.rundir import RunDir
    from curate.selection import Selection, SubsetSpec


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "select", help="select a subset from a scored run directory (filter, rank, budget, diversity)",
        description="Select a subset from RUN_DIR's conversations and scores into RUN_DIR/subsets/NAME/. "
                    "Rows removed by dedup are left out unless --keep-duplicates.",
    )
    add_existing_run_dir(p, "a scored run directory (from `curate run` or `curate score`)")
    p.add_argument("--spec", help="a YAML/JSON file holding one subset spec (the keys of a recipe's subsets: entry)")
    p.add_argument("--name", help="subset name (folder under RUN_DIR/subsets/)")
    p.add_argument("--filter", help="expression, e.g. \"reward > 0.5 and turns <= 8\"")
    p.add_argument("--rank", help="column=weight,... e.g. reward=0.7,-ppl=0.3 ('-' = lower is better)")
    p.add_argument("--normalize", choices=["rank", "zscore", "none"])
    p.add_argument("--baseline", choices=["random", "longest", "full"])
    p.add_argument("--rows", type=int, help="row budget")
    p.add_argument("--tokens", type=int, help="token budget")
    p.add_argument("--diversity", type=float, help="cosine threshold, e.g. 0.9 (needs embeddings)")
    p.add_argument("--seed", type=int)
    p.add_argument("--format", choices=["sharegpt", "messages"])
    p.add_argument("--keep-duplicates", action="store_true", help="do not drop rows listed in RUN_DIR/dedup/")
    p.add_argument("--explain", metavar="SUBSET", help="say which rules removed which rows of an existing "
                   "subset (rows removed, rows removed by a rule alone, examples); writes nothing")
    p.set_defaults(func=main)


def _rank(text: str) -> dict[str, float]:
    out = {}
    for part in text.split(","):
        key, _, weight = part.partition("=")
        try:
            out[key.strip()] = float(weight) if weight else 1.0
        except ValueError:
            raise UserError(f"--rank: weight of {key.strip()!r} is {weight!r}, not a number") from None
    return out


def spec_from_args(args: argparse.Namespace) -> dict:
    spec: dict = {}
    if args.spec:
        import yaml

        path = Path(args.spec)
        if not path.exists():
            raise UserError(f"--spec: {path} does not exist")
        spec = yaml.safe_load(path.read_text()) or {}
        if not isinstance(spec, dict):
            raise UserError(f"--spec: {path} must hold a mapping of subset settings")
    for key in ("name", "filter", "normalize", "baseline", "seed", "format"):
        if getattr(args, key) is not None:
            spec[key] = getattr(args, key)
    if args.rank:
        spec["rank"] = _rank(args.rank)
    if args.rows or args.tokens:
        spec["budget"] = {k: v for k, v in (("rows", args.rows), ("tokens", args.tokens)) if v}
    if args.diversity is not None:
        spec["diversity"] = {"threshold": args.diversity}
    if "name" not in spec:
        raise UserError("select: give --name (the subset's folder name) or a --spec with 'name'")
    return spec


def _select(run: RunDir, spec: SubsetSpec, keep_duplicates: bool) -> tuple[Selection, pd.DataFrame]:
    from curate.selection import select
    from curate.selection.data import load_pool

    df = load_pool(run.root, drop_duplicates=not keep_duplicates)
    embeddings = None
    if spec.diversity is not None:
        embeddings = run.embeddings(spec.diversity.embedding, spec.diversity.column)
    return select(df, spec, embeddings=embeddings), df


def _explain(run: RunDir, name: str, keep_duplicates: bool) -> int:
    from curate.selection import explain, format_explanation, make_spec

    spec = make_spec(run.subset_meta(name).get("spec", {}), where=f"subset {name!r}")
    selection, pool = _select(run, spec, keep_duplicates)
    print(format_explanation(selection, explain(selection, pool)))
    return 0


def main(args: argparse.Namespace) -> int:
    from curate.rundir import RunDir
    from curate.selection import make_spec, shortfall, write_subset

    run = RunDir(args.run_dir)
    if args.explain:
        return _explain(run, args.explain, args.keep_duplicates)
    spec = make_spec(spec_from_args(args), where="select")
    selection, _ = _select(run, spec, args.keep_duplicates)
    out = write_subset(selection, run.subset_dir(spec.name))
    run.unretire(spec.name)
    if (short := shortfall(selection, str(run.root))) is not None:
        print(f"curate: warning: {short}", file=sys.stderr)
    print(json.dumps({"subset": str(out), **selection.counts, "fill": selection.fill}))
    return 0
