"""``curate audit RECIPE``: plant known corruptions into a sample of the recipe's input, run the recipe
on it in its own folder and report which scores catch which kind and what each subset keeps."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from curate.errors import UserError


def add_parser(subparsers: Any) -> None:
    from curate.auditing.corruptions import FAMILIES, KINDS

    p = subparsers.add_parser(
        "audit", help="plant corruptions into a sample and measure which scores and subsets catch them",
        description="Plant known corruptions (RATE of the rows, kinds equally mixed) into the first LIMIT rows "
                    "of RECIPE's input, run the recipe on that pool in the audit folder (--run-dir; default: the "
                    "recipe's run directory + '-audit', e.g. runs/demo-audit, which `curate app runs/demo` shows), "
                    "and write audit.json and audit.html there: AUROC per score and kind, planted rows per "
                    "subset next to random subsets of the same size, and the kinds no score catches. "
                    "The recipe's own run directory is never touched.",
    )
    p.add_argument("recipe", help="recipe YAML (its input, scorers, validity, dedup and subsets are used)")
    p.add_argument("--rate", type=float, default=0.3, help="share of rows to corrupt, between 0 and 1 (default 0.3)")
    p.add_argument("--kinds", default=None,
                   help=f"comma-separated variants or families, or 'all' (every variant of every family); default "
                        f"the original ten: {','.join(KINDS)}")
    p.add_argument("--families", default=None,
                   help=f"comma-separated families, each with all its variants ({','.join(FAMILIES)}); "
                        "added to --kinds when both are given")
    p.add_argument("--limit", "-n", type=int, default=None,
                   help="rows of the input to audit (default the recipe's input limit, else 1000)")
    p.add_argument("--seed", type=int, default=0, help="which rows, kinds and edits (default 0)")
    p.add_argument("--run-dir", default=None, help="audit folder (default: RUN_DIR-audit beside the recipe's run directory, e.g. runs/demo-audit)")
    p.add_argument("--no-plant", action="store_true",
                   help="plant nothing: count what each flag finds in the data as it is, with examples")
    p.add_argument("--no-progress", action="store_true", help="no progress output")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    import curate
    from curate.rundir import AuditFiles

    kinds = _kinds(args.kinds, args.families)
    if not 0 < args.rate < 1:
        raise UserError(f"--rate must be between 0 and 1 (exclusive), got {args.rate:g}")
    if args.limit is not None and args.limit < 1:
        raise UserError(f"--limit must be >= 1, got {args.limit}")
    result = curate.audit(Path(args.recipe), rate=args.rate, kinds=kinds, limit=args.limit, seed=args.seed,
                          run_dir=args.run_dir, plant=not args.no_plant, progress=not args.no_progress)
    print(result.table())
    print(f"report: {AuditFiles(result.folder).html}")
    return 0


def _kinds(kinds: str | None, families: str | None) -> tuple[str, ...]:
    """The variants --kinds and --families name (the original ten when neither is given)."""
    from curate.auditing.corruptions import FAMILIES, KINDS, resolve_kinds

    if kinds is None and families is None:
        return KINDS
    fams = [f.strip() for f in (families or "").split(",") if f.strip()]
    bad = [f for f in fams if f not in FAMILIES]
    if bad or (families is not None and not fams):
        raise UserError(f"--families: unknown family {bad[0] if bad else '(none)'!r}; allowed: {', '.join(FAMILIES)}")
    try:
        return resolve_kinds([*(kinds or "").split(","), *fams])
    except ValueError as e:
        raise UserError(f"--kinds: {e}") from None
