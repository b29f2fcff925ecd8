"""`curate report RUN_DIR`: rebuild report.html and its PNGs from a run directory."""

from __future__ import annotations

import argparse

from curate.cli._args import add_existing_run_dir


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("report", help="rebuild RUN_DIR/report/report.html (static HTML + PNGs)",
                              description="Rebuild the static report of a run directory.")
    add_existing_run_dir(p, "a run directory (has manifest.json)")
    p.add_argument("--sample", type=int, default=50_000, help="rows used for plots (default 50000)")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from curate.reporting import report

    print(report(args.run_dir, sample=args.sample))
    return 0
