"""The options every subcommand spells the same way (docs/ARCHITECTURE.md, "One name per concept"), and
old spellings kept for one release: they still work and print one deprecation line on stderr."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from curate.errors import UserError


class Parser(argparse.ArgumentParser):
    """An argparse parser whose errors are one line, ``curate: error: ...``, exit 2 (like UserError)."""

    def error(self, message: str) -> Any:
        self.exit(2, f"curate: error: {self.prog}: {message} (see `{self.prog} --help`)\n")


def warn_deprecated(old: str, new: str) -> None:
    print(f"curate: warning: {old} is deprecated and goes in the next release; use {new}", file=sys.stderr)


class _Deprecated(argparse.Action):
    """Stores like the new option, after a deprecation line naming it."""

    def __init__(self, option_strings: list[str], dest: str, new: str, const: Any = None, nargs: Any = None,
                 **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0 if const is not None else nargs, const=const,
                         default=argparse.SUPPRESS, help=argparse.SUPPRESS, **kwargs)
        self.new = new

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        warn_deprecated(option_string or self.dest, self.new)
        setattr(namespace, self.dest, self.const if self.nargs == 0 else values)


def deprecated(p: argparse.ArgumentParser, *old: str, new: str, dest: str, **kwargs: Any) -> None:
    """Accept the old option strings ``old`` for ``dest`` (hidden from --help), naming ``new`` when used."""
    p.add_argument(*old, dest=dest, action=_Deprecated, new=new, **kwargs)


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def add_limit(p: argparse.ArgumentParser, help: str, type: Any = positive_int) -> None:
    """``--limit N``: the input cap (Python ``limit=``, recipe ``input.limit``); was ``-n`` / ``--n``.
    Commands that pass it to a recipe use ``type=int``, so the recipe's own check rejects bad values."""
    p.add_argument("--limit", type=type, default=None, metavar="N", help=help)
    deprecated(p, "-n", "--n", new="--limit", dest="limit", type=type)


def add_run_dir(p: argparse.ArgumentParser, help: str, old: tuple[str, ...], required: bool = False) -> None:
    """``--run-dir DIR`` for commands that create or fill a run (Python ``run_dir=``)."""
    p.add_argument("--run-dir", default=None, metavar="DIR", help=help)
    deprecated(p, *old, new="--run-dir", dest="run_dir")
    if required:
        p.set_defaults(required_run_dir="--run-dir")


def add_existing_run_dir(p: argparse.ArgumentParser, help: str, old: tuple[str, ...] = (),
                         required: bool = True) -> None:
    """Positional ``RUN_DIR`` for commands whose subject is an existing run (Python ``run_dir``);
    ``old`` (e.g. ``--run``) is the deprecated option spelling of the same thing."""
    if not old and required:
        p.add_argument("run_dir", metavar="RUN_DIR", help=help)
        return
    p.add_argument("run_dir", metavar="RUN_DIR", nargs="?", default=None, help=help)
    if old:  # a separate dest: argparse would let the empty positional overwrite it
        deprecated(p, *old, new="the positional RUN_DIR", dest="old_run_dir")
    p.set_defaults(required_run_dir="RUN_DIR" if required else None)


def add_progress(p: argparse.ArgumentParser) -> None:
    """``--no-progress`` (Python ``progress=False``); was ``--quiet``."""
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")
    deprecated(p, "--quiet", new="--no-progress", dest="progress", const=False)


class _PromptFile(argparse.Action):
    """``--prompts FILE``; a bare number is the old ``curate demo --prompts N`` (a count)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        if values.isdigit():
            warn_deprecated(f"{option_string} N (a count)", "--n-prompts N")
            namespace.n_prompts = positive_int(values)
        else:
            namespace.prompts = values


def add_prompts(p: argparse.ArgumentParser, default: str) -> None:
    """``--prompts FILE`` and ``--n-prompts N`` (Python ``prompts=`` / ``n_prompts=``); ``default``
    says where the values come from when not given."""
    p.add_argument("--prompts", action=_PromptFile, metavar="FILE",
                   help=f"prompt file (JSONL: prompt / instruction / turns / messages); default: {default}")
    p.add_argument("--n-prompts", type=positive_int, metavar="N", help=f"use only the first N prompts; default: {default}")


def resolve(args: argparse.Namespace) -> None:
    """After parsing: the run directory from its old spelling, and required if the command needs it
    (argparse cannot require one of a positional and an option)."""
    old = vars(args).pop("old_run_dir", None)
    if old is not None:
        if args.run_dir is not None:
            raise UserError(f"{args.command}: give RUN_DIR once (positional), not also with --run")
        args.run_dir = old
    name = vars(args).pop("required_run_dir", None)
    if name and getattr(args, "run_dir", None) is None:
        raise UserError(f"{args.command}: {name} is required")
    run_dir = getattr(args, "run_dir", None)
    if run_dir is not None and Path(run_dir).exists() and not Path(run_dir).is_dir():
        raise UserError(f"{args.command}: run directory {run_dir} is a file; give a folder")
