"""`curate evaluate`: held-out loss, answers to a prompt set, and pairwise win rates with 95% CIs."""

from __future__ import annotations

import argparse
import logging

from curate.cli._args import add_existing_run_dir, add_prompts


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("evaluate", help="evaluate a run's variants: held-out loss, win rates vs base/random",
                              description=__doc__)
    add_existing_run_dir(p, "a run directory with trained RUN_DIR/models/*/adapter", old=("--run",))
    p.add_argument("--judge", default="lm:smollm2",
                   help="reward:MODEL (reward model) or lm:MODEL (judge LM); model = alias, folder or hub id")
    add_prompts(p, default="the shipped 22 prompts, all of them")
    p.add_argument("--max-new-tokens", type=int, default=128)
    p.add_argument("--variants", nargs="+", help="only these variants (base is always included)")
    p.add_argument("--base-model", help="override the base model recorded in metrics.json")
    p.add_argument("--heldout-rows", type=int, default=64, help="size of the held-out split (default 64)")
    p.add_argument("--temperature", type=float, default=0.7)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from curate.rundir import EvalFiles
    from curate.train.evaluate import evaluate_run

    res = evaluate_run(args.run_dir, judge=args.judge, prompts=args.prompts, max_new_tokens=args.max_new_tokens,
                       n_prompts=args.n_prompts, variants=args.variants, base_model=args.base_model,
                       temperature=args.temperature, seed=args.seed, heldout_rows=args.heldout_rows,
                       device=args.device)
    print(EvalFiles(res["dir"]).results.read_text())
    return 0
