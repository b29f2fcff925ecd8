"""The experiment matrix: every subset of a run trained with the same model, steps and seed, so the
variants differ only in their data, and one results table with a row per variant."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from curate.errors import UserError
from curate.rundir import RunDir
from curate.train.config import TrainConfig
from curate.train.sft import train_variant
from curate.train.tables import write_tables

COLUMNS = ["variant", "subset", "rows", "base_model", "backend", "r", "steps", "train_loss", "eval_loss",
           "train_seconds", "tokens_per_second", "seed"]


def run_subsets(run_dir: str | Path) -> list[str]:
    """Subset names of a run: folders under ``RUN/subsets/`` holding data.parquet or data.jsonl."""
    run = RunDir(run_dir)
    if not run.subsets_dir.is_dir():
        raise UserError(f"no subsets in {run_dir}: {run.subsets_dir} does not exist (run the recipe first)")
    return run.subsets()


def results_table(run_dir: str | Path) -> Any:
    """One row per trained variant in ``RUN/models/`` (read back from each ``metrics.json``)."""
    import pandas as pd

    rows = []
    for d in RunDir(run_dir).models().values():
        rows.append({**{k: d.get(k) for k in COLUMNS}, "r": d.get("lora", {}).get("r")})
    return pd.DataFrame(rows, columns=COLUMNS)


def train_run(run_dir: str | Path, model: str = "smollm2", max_steps: int = 60, subsets: Sequence[str] | None = None,
              config: TrainConfig | None = None, force: bool = False, **overrides: Any) -> Any:
    """Train every subset (or the named ones) of ``run_dir``; returns the results table (pandas) and
    writes ``RUN/models/results.csv`` and ``results.md``. Finished variants are skipped on re-run."""
    run = RunDir(run_dir)
    names = list(subsets) if subsets else run_subsets(run.root)
    if not names:
        raise UserError(f"run {run} has no subsets to train")
    missing = [n for n in names if not (run.subsets_dir / n).is_dir()]
    if missing:
        raise UserError(f"unknown subset(s) {missing}; this run has {run_subsets(run.root)}")
    try:
        cfg = TrainConfig.model_validate({**(config or TrainConfig()).model_dump(), "model": model,
                                          "max_steps": max_steps, **overrides})
    except ValueError as e:
        raise UserError(f"bad training settings: {e}") from e
    for name in tqdm(names, desc="experiment matrix"):
        train_variant(run.subsets_dir / name, config=cfg, force=force)
    df = results_table(run.root)
    write_tables(df, run.results_table, "Experiment matrix: one LoRA variant per subset",
                 f"Same base model ({model}), {max_steps} steps, seed {cfg.seed}; losses are on assistant tokens. "
                 "At a few dozen steps on a 135M model these are smoke-scale numbers, not a quality verdict.")
    return df
