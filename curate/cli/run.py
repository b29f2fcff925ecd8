"""`curate run RECIPE.yaml`: the same as `curate.run("RECIPE.yaml")` in Python."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run a recipe (input -> scores -> dedup -> subsets -> report)",
                       description="Run a recipe YAML end to end into its run directory; re-running resumes.")
    p.add_argument("recipe", help="path to a recipe YAML (see recipes/)")
    p.add_argument("--out", help="run directory (default: the recipe's `output`, else runs/<name>)")
    p.add_argument("--limit", type=int, help="read at most this many input records (overrides input.limit)")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.add_argument("--executor", choices=["local", "ray"],
                   help="where row-wise scoring runs (overrides the recipe's `executor`; default local)")
    p.add_argument("--address", help="Ray cluster address for --executor ray (e.g. ray://head:10001, or auto); "
                                     "default: start a local Ray instance")
    p.add_argument("--workers", type=int, help="local executor: processes for CPU scorers such as heuristics "
                                               "(overrides executor_settings.workers; default one per core from 100k rows)")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from curate.errors import UserError
    from curate.pipeline import run
    from curate.recipe import parse

    recipe = parse(args.recipe)
    if args.limit:
        recipe.input.limit = args.limit
    if args.executor:
        recipe.executor = args.executor
    if args.address and recipe.executor != "ray":
        raise UserError("--address needs --executor ray (or `executor: ray` in the recipe)")
    if args.workers is not None:
        if args.workers < 1:
            raise UserError(f"--workers must be >= 1; got {args.workers}")
        if recipe.executor != "local":
            raise UserError("--workers applies to the local executor only (not --executor ray)")
        recipe.executor_settings.workers = args.workers
    summary = run(recipe, run_dir=args.out, progress=not args.quiet, address=args.address)
    print(summary.table())
    print(f"report: {summary.run_dir / 'report' / 'report.html'}")
    return 0
