"""``curate distill RUN_DIR --teacher lm --column ifd --sample 2000``: a cheap proxy of an expensive score."""

from __future__ import annotations

import argparse
from typing import Any

import yaml

from curate.errors import UserError


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "distill", help="score a sample with an expensive teacher and apply a learned cheap proxy to every row",
        description="The teacher scores a stratified sample (kept in RUN's score store, so re-runs reuse it); "
                    "a scikit-learn model learns it from cheap features and scores every row as "
                    "<column>_proxy, plus <column>_best (teacher where scored, else proxy). Prints the "
                    "held-out agreement with the teacher and the cost.",
    )
    p.add_argument("run_dir", help="run directory (its conversations in data/, or --input)")
    p.add_argument("--input", default=None, help="the rows, when RUN_DIR has no conversations (e.g. sharegpt-sample)")
    p.add_argument("--teacher", default=None,
                   help="teacher scorer: a name (lm, reward, ...) or a YAML mapping like '{name: lm, max_length: 256}', "
                        "or a store key; omit to use --column as already stored")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="a teacher setting, e.g. model=smollm2 or max_turns=1; repeatable")
    p.add_argument("--column", required=True, help="the teacher column to distill (e.g. ifd, ppl, reward)")
    p.add_argument("--sample", default=None, help="teacher rows: a count (1000) or a fraction of the pool (0.02)")
    p.add_argument("--features", default=None,
                   help="YAML list of feature scorer specs or store keys, "
                        "e.g. '[heuristics, {name: embedding, backend: static}]'")
    p.add_argument("--model", default=None, help="auto (by cross-validation), ridge, logistic or hgb")
    p.add_argument("--target", default=None, help="rank (default), log or raw")
    p.add_argument("--better", default=None, help="high (default) or low: the good end of the teacher")
    p.add_argument("--active-rounds", type=int, default=None, help="extra teacher rounds (active sampling)")
    p.add_argument("--active-by", default=None, help="uncertain or cut: which rows an active round scores")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=main)


def _yaml(flag: str, text: str) -> Any:
    """``text`` parsed as YAML; a one-line error naming ``flag`` when it is not."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise UserError(f"{flag} {text!r}: not valid YAML: {' '.join(str(e).split())}") from None


def teacher_spec(teacher: str | None, sets: list[str]) -> str | dict[str, Any] | None:
    """``--teacher`` (a name or a YAML mapping) plus ``--set KEY=VALUE`` overrides."""
    if teacher is None:
        if sets:
            raise UserError("--set needs a --teacher to apply to")
        return None
    spec = _yaml("--teacher", teacher) if teacher.lstrip().startswith("{") else teacher
    if not sets:
        return spec
    spec = dict(spec) if isinstance(spec, dict) else {"name": spec}
    for item in sets:
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise UserError(f"--set {item!r}: expected KEY=VALUE")
        spec[key] = value if key == "model" else _yaml(f"--set {key}", value)
    return spec


def config_from_args(args: argparse.Namespace) -> dict[str, Any]:
    cfg: dict[str, Any] = {"column": args.column, "teacher": teacher_spec(args.teacher, args.set)}
    if args.sample is not None:
        try:
            cfg["sample"] = float(args.sample) if "." in args.sample else int(args.sample)
        except ValueError:
            raise UserError(f"--sample {args.sample!r}: give a row count (1000) or a fraction (0.02)") from None
    if args.features is not None:
        cfg["features"] = _yaml("--features", args.features)
    for name in ("model", "target", "better", "seed"):
        if getattr(args, name) is not None:
            cfg[name] = getattr(args, name)
    if args.active_rounds is not None or args.active_by is not None:
        cfg["active"] = {k: v for k, v in (("rounds", args.active_rounds), ("by", args.active_by)) if v is not None}
    return cfg


def main(args: argparse.Namespace) -> int:
    import curate

    result = curate.distill(args.run_dir, config_from_args(args), data=args.input,
                            progress=not args.no_progress, device=args.device)
    print(result.table())
    return 0
