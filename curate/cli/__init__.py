"""The `curate` command. Each subcommand lives in its own module in this package and exposes
``add_parser(subparsers)`` and ``main(args) -> int``; modules are discovered, so adding a command
touches no shared file. Options shared by several commands are spelled once, in ``_args``."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from curate import __version__
from curate.cli._args import Parser, resolve
from curate.errors import UserError


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="curate",
        description="Score, dedup and select chat fine-tuning data; LoRA-train and compare the variants.",
    )
    parser.add_argument("--version", action="version", version=f"curate {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(module, "add_parser"):
            module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        resolve(args)
        return int(args.func(args) or 0)
    except UserError as e:
        print(f"curate: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("curate: interrupted; run the same command again to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
