"""The model-centric search of the seed study: a LoRA rank grid (r in 8/16/32/64, optionally x learning
rate) on one subset with an 80/20 train/validation split, eval loss every N steps, the best point picked
by final eval loss. Every grid point uses the same split, seed and steps, so only the rank (and lr) differ.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from curate.errors import UserError
from curate.rundir import GridFiles, RunDir, write_json
from curate.train.config import TrainConfig
from curate.train.data import load_subset
from curate.train.plots import plot_grid
from curate.train.sft import train_variant
from curate.train.tables import write_tables

RANKS = (8, 16, 32, 64)


def rank_grid(subset: str | Path, ranks: Sequence[int] = RANKS, learning_rates: Sequence[float] | None = None,
              out_dir: str | Path | None = None, config: TrainConfig | None = None, **overrides: Any) -> Any:
    """Train one adapter per (rank, lr) and return the table (pandas), best row first flagged ``best``.

    Writes ``grid.csv``/``grid.md``, ``grid.png`` (eval loss per rank over steps) and ``best.json`` to
    ``out_dir`` (default ``RUN/grid/<subset>``). ``alpha`` follows the rank (alpha = r) unless
    ``lora_alpha`` is given, so the grid compares capacity, not a changing LoRA scale.
    """
    import pandas as pd

    if not ranks or any(int(r) <= 0 for r in ranks):
        raise UserError(f"ranks must be positive integers, got {list(ranks)}")
    base = (config or TrainConfig(val_fraction=0.2, max_val_rows=10_000, lora_alpha=None))
    try:
        base = TrainConfig.model_validate({**base.model_dump(), **overrides})
    except ValueError as e:
        raise UserError(f"bad training settings: {e}") from e
    if base.val_fraction <= 0:
        raise UserError("the rank grid needs a validation split: val_fraction > 0 (default 0.2)")
    rows = load_subset(subset)
    out = GridFiles(out_dir) if out_dir else RunDir(rows.path.parent.parent).grid_files(rows.name)
    lrs = list(learning_rates) if learning_rates else [base.learning_rate]
    points = [(int(r), float(lr)) for lr in lrs for r in ranks]
    results, curves = [], {}
    for r, lr in tqdm(points, desc=f"rank grid on {rows.name}"):
        label = f"r={r}" + (f", lr={lr:g}" if len(lrs) > 1 else "")
        name = f"r{r}" + (f"-lr{lr:g}" if len(lrs) > 1 else "")
        cfg = base.model_copy(update={"r": r, "learning_rate": lr})
        point = out.point(name)
        m = train_variant(rows.path, point.folder, config=cfg, variant=f"{rows.name}-{name}")
        curves[label] = json.loads(point.log_history.read_text())
        evals = [h["eval_loss"] for h in curves[label] if "eval_loss" in h]
        results.append({"r": r, "alpha": m["lora"]["alpha"], "learning_rate": lr, "steps": m["steps"],
                        "final_eval_loss": m["eval_loss"], "min_eval_loss": min(evals) if evals else None,
                        "train_loss": m["train_loss"], "train_seconds": m["train_seconds"]})
    df = pd.DataFrame(results)
    best_i = int(df["final_eval_loss"].astype(float).idxmin())
    df["best"] = [i == best_i for i in range(len(df))]
    best = df.iloc[best_i].to_dict()
    title = f"LoRA rank grid on {rows.name} ({len(rows)} rows, 80/20 split)"
    plot_grid(curves, out.plot, title)
    write_tables(df, out.table, title, f"Best by final eval loss: r={int(best['r'])}, lr={best['learning_rate']:g} "
                                       f"(eval loss {best['final_eval_loss']:.4f}).")
    write_json(out.best, {k: (v.item() if hasattr(v, "item") else v) for k, v in best.items()})
    return df
