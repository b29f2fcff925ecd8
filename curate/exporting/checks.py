"""What ``curate export`` refuses before writing anything, each with one line: a run without trained
models, an unknown variant (the known ones listed), an output folder that exists (without ``force``), and
too little disk for the merge and the GGUF files."""

from __future__ import annotations

import shutil
from pathlib import Path

from curate.errors import UserError
from curate.rundir import RunDir

# bytes per parameter of each GGUF type (q8_0: 32 int8 + one f16 scale per block)
GGUF_BYTES = {"f32": 4.0, "f16": 2.0, "bf16": 2.0, "q8_0": 34 / 32}
MARGIN = 1.1  # headroom for metadata, the tokenizer and the card


def trained_variant(run: RunDir, variant: str) -> tuple[dict, Path]:
    """``(metrics, adapter folder)`` of ``variant``.

    Raises:
        UserError: the run does not exist, has no trained models, or has no variant of that name.
    """
    if not run.root.is_dir():
        raise UserError(f"run directory not found: {run.root}")
    trained = {name: m for name, m in run.models().items() if run.model_files(name).adapter.is_dir()}
    if not trained:
        raise UserError(f"run {run.root} has no trained models (no {run.models_dir}/<variant>/adapter); "
                        f"train some first: curate train {run.root}")
    if variant not in trained:
        raise UserError(f"unknown variant {variant!r}; trained variants in {run.root}: {', '.join(sorted(trained))}")
    return trained[variant], run.model_files(variant).adapter


def output_folder(to: Path, force: bool, run: RunDir | None = None) -> None:
    """Refuse an existing ``to`` unless ``force``; refuse a file there always, and (with ``run``) a ``to``
    that holds the run or lies among its models, which ``force`` would delete."""
    root = run.root.resolve() if run is not None else None
    if root is not None and (to == root or to in root.parents or root / run.models_dir.name in (to, *to.parents)):
        raise UserError(f"--to {to} would overwrite the run {root} or its models; export outside them")
    if to.exists() and not to.is_dir():
        raise UserError(f"{to} exists and is not a folder")
    if to.exists() and not force:
        raise UserError(f"{to} already exists; pass --force (force=True) to replace it")


def needed_bytes(parameters: int, dtype_bytes: int, gguf: list[str]) -> int:
    """Disk the export writes: the merged safetensors plus each GGUF file, with a margin."""
    return int(MARGIN * parameters * (dtype_bytes + sum(GGUF_BYTES[k] for k in gguf)))


def disk_space(parent: Path, needed: int) -> None:
    """Refuse when the filesystem holding ``parent`` has less than ``needed`` bytes free."""
    probe = parent
    while not probe.exists():
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    if free < needed:
        raise UserError(f"not enough disk in {probe}: the export needs about {needed / 1e9:.2f} GB, "
                        f"{free / 1e9:.2f} GB free")
