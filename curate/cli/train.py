"""`curate train`: LoRA fine-tune every subset of a run (RUN_DIR) or one subset folder (--subset).

Options are train.config.TrainConfig fields with dashes (``--lora-alpha`` sets ``lora_alpha``)."""

from __future__ import annotations

import argparse
import logging

from curate.cli._args import add_existing_run_dir, deprecated
from curate.errors import UserError


def add_training_args(p: argparse.ArgumentParser) -> None:
    """Options shared by `curate train` and `curate grid` (defaults: the Unsloth Llama-3.2 notebook)."""
    p.add_argument("--model", default="smollm2", help="base model: alias (smollm2), local folder or hub id")
    p.add_argument("--max-steps", type=int, default=60, help="optimizer steps (default 60)")
    p.add_argument("--max-length", type=int, default=2048, help="tokens per conversation, truncated (default 2048)")
    p.add_argument("--learning-rate", type=float, default=2e-4, help="learning rate (default 2e-4, linear schedule)")
    deprecated(p, "--lr", new="--learning-rate", dest="learning_rate", type=float)
    p.add_argument("--batch-size", type=int, default=2, help="per-device batch (default 2)")
    p.add_argument("--grad-accum", type=int, default=4, help="gradient accumulation steps (default 4)")
    p.add_argument("--seed", type=int, default=3407)
    p.add_argument("--eval-steps", type=int, default=None, help="evaluate every N steps (default: ~5 times)")
    p.add_argument("--backend", choices=["auto", "trl", "unsloth"], default="auto",
                   help="auto: Unsloth on CUDA with the gpu extra, else TRL + PEFT")
    p.add_argument("--load-in-4bit", action="store_true", help="QLoRA (Unsloth backend only)")


def training_overrides(args: argparse.Namespace, *extra: str) -> dict:
    """The TrainConfig fields the options set (the shared ones plus ``extra`` field names), checked
    here so a bad value is one line naming its flag, before any model loads."""
    from pydantic import ValidationError

    from curate.train.config import TrainConfig

    fields = ("model", "max_steps", "max_length", "learning_rate", "batch_size", "grad_accum", "seed",
              "eval_steps", "backend", "load_in_4bit", *extra)
    over = {f: getattr(args, f) for f in fields}
    try:
        TrainConfig(**over)
    except ValidationError as e:
        raise UserError("; ".join(f"--{'.'.join(map(str, err['loc'])).replace('_', '-')}: {err['msg']}"
                                  for err in e.errors())) from None
    return over


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("train", help="LoRA fine-tune a subset, or every subset of a run (experiment matrix)",
                              description=__doc__)
    add_existing_run_dir(p, "a run directory: train every subset with the same settings (or give --subset)",
                         old=("--run",), required=False)
    p.add_argument("--subset", help="instead of RUN_DIR: one subset folder RUN_DIR/subsets/NAME")
    p.add_argument("--subsets", nargs="+", help="with RUN_DIR: only these subsets")
    p.add_argument("--out-dir", help="with --subset: output folder (default RUN_DIR/models/NAME)")
    deprecated(p, "--out", new="--out-dir", dest="out_dir")
    p.add_argument("--r", type=int, default=16, help="LoRA rank (default 16)")
    p.add_argument("--lora-alpha", type=int, default=16, help="LoRA alpha (default 16)")
    deprecated(p, "--alpha", new="--lora-alpha", dest="lora_alpha", type=int)
    p.add_argument("--merge", action="store_true", help="also save a merged 16-bit model")
    p.add_argument("--force", action="store_true", help="retrain variants that are up to date")
    add_training_args(p)
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from curate.train.config import TrainConfig

    if (args.run_dir is None) == (args.subset is None):
        raise UserError("train: give a RUN_DIR (every subset) or --subset FOLDER (one), not both")
    cfg = TrainConfig(**training_overrides(args, "r", "lora_alpha", "merge"))
    if args.subset:
        from curate.train.sft import train_variant

        m = train_variant(args.subset, args.out_dir, config=cfg, force=args.force)
        print(f"{m['variant']}: train loss {m['train_loss']:.4f}, eval loss {m['eval_loss']}, "
              f"{m['train_seconds']:.1f}s ({m['backend']})")
        return 0
    from curate.train.matrix import train_run
    from curate.train.tables import markdown_table

    df = train_run(args.run_dir, model=cfg.model, max_steps=cfg.max_steps, subsets=args.subsets, config=cfg,
                   force=args.force)
    print(markdown_table(df))
    return 0
