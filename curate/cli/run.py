"""`curate run RECIPE.yaml`: the same as `curate.run("RECIPE.yaml")` in Python."""

from __future__ import annotations

import argparse
from typing import Any

from curate.cli._args import add_limit, add_progress, add_run_dir


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run a recipe (input -> scores -> dedup -> subsets -> report)",
                       description="Run a recipe YAML end to end into its run directory; re-running resumes. "
                                   "Options override recipe keys and are validated with the recipe.")
    p.add_argument("recipe", help="path to a recipe YAML (see recipes/)")
    add_run_dir(p, "run directory (overrides the recipe's `run_dir`; default runs/<name>)", old=("--out",))
    add_limit(p, "read at most N input records (overrides input.limit)", type=int)  # the recipe checks it
    add_progress(p)
    p.add_argument("--executor", choices=["local", "ray"],
                   help="where row-wise scoring runs (overrides the recipe's `executor`; default local)")
    p.add_argument("--address", help="Ray cluster address for --executor ray (e.g. ray://head:10001, or auto); "
                                     "default: start a local Ray instance")
    p.add_argument("--workers", type=int, help="local executor: processes for CPU scorers such as heuristics "
                                               "(overrides executor_settings.workers; default one per core from 100k rows)")
    p.add_argument("--force", action="store_true",
                   help="replace a run of another input in the run directory (refused otherwise)")
    p.set_defaults(func=main)


FLAG_KEYS = {"--limit": "input.limit", "--run-dir": "run_dir", "--executor": "executor",
             "--workers": "executor_settings.workers"}


def recipe_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The recipe keys the options set; `curate.recipe.parse` validates them with the rest."""
    values = {"--limit": args.limit, "--run-dir": args.run_dir, "--executor": args.executor,
              "--workers": args.workers}
    return {FLAG_KEYS[flag]: v for flag, v in values.items() if v is not None}


def main(args: argparse.Namespace) -> int:
    from curate.errors import UserError
    from curate.pipeline import run
    from curate.recipe import parse
    from curate.rundir import RunDir

    overrides = recipe_overrides(args)
    try:
        recipe = parse(args.recipe, overrides=overrides)
    except UserError as e:
        flags = [f for f, key in FLAG_KEYS.items() if key in overrides and key in str(e)]
        raise (UserError(f"{e} (set by {', '.join(flags)})") if flags else e) from None
    if args.address and recipe.executor != "ray":
        raise UserError("--address needs --executor ray (or `executor: ray` in the recipe)")
    summary = run(recipe, progress=args.progress, address=args.address, force=args.force)
    print(summary.table())
    print(f"report: {RunDir(summary.run_dir).report_path}")
    return 0
