"""`curate grid`: the LoRA rank grid (r in 8/16/32/64, optionally x learning rates) on one subset."""

from __future__ import annotations

import argparse
import logging

from curate.cli._args import deprecated
from curate.cli.train import add_training_args, training_overrides


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("grid", help="LoRA rank grid on one subset (80/20 split, best by eval loss)",
                              description=__doc__)
    p.add_argument("--subset", required=True, help="a subset folder RUN_DIR/subsets/NAME")
    p.add_argument("--ranks", type=int, nargs="+", default=[8, 16, 32, 64], help="LoRA ranks (default 8 16 32 64)")
    p.add_argument("--learning-rates", type=float, nargs="+", help="learning rates: an optional second axis")
    deprecated(p, "--lrs", new="--learning-rates", dest="learning_rates", type=float, nargs="+")
    p.add_argument("--val-fraction", type=float, default=0.2, help="validation share (default 0.2)")
    p.add_argument("--out-dir", help="output folder (default RUN_DIR/grid/NAME)")
    deprecated(p, "--out", new="--out-dir", dest="out_dir")
    add_training_args(p)
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from curate.train.grid import rank_grid
    from curate.train.tables import markdown_table

    over = training_overrides(args, "val_fraction")
    df = rank_grid(args.subset, ranks=args.ranks, learning_rates=args.learning_rates, out_dir=args.out_dir, **over)
    print(markdown_table(df))
    return 0
