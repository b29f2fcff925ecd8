"""What the proxy saves: teacher rows against all rows, and GPU-hours by the FLOP model of
docs/SCALING.md (a forward pass costs 2 x params x tokens; an H100 delivers ~350 TFLOP/s of its
989 dense bf16 on padded variable-length batches)."""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np

H100_FLOPS = 350e12
PASSES = {"lm": 2, "reward": 1, "classifier": 1}  # forward passes per row (IFD: with and without the prompt)


def model_params(scorer: Any) -> int | None:
    """Parameter count of a model scorer's model, built on the meta device (no weights loaded);
    None when the scorer has no model or its config cannot be read here (a hub id offline)."""
    if getattr(scorer, "auto_class", None) is None:
        return None
    loaded = getattr(scorer, "_model", None)
    if loaded is not None:
        return int(sum(p.numel() for p in loaded.parameters()))
    with contextlib.suppress(OSError, ValueError, ImportError, FileNotFoundError):
        import torch
        import transformers

        from curate.models import resolve_model

        config = transformers.AutoConfig.from_pretrained(resolve_model(scorer.model))
        with torch.device("meta"):
            model = getattr(transformers, scorer.auto_class).from_config(config)
        return int(sum(p.numel() for p in model.parameters()))
    return None


def gpu_hours(rows: int, params: int | None, tokens_per_row: float, passes: int) -> float | None:
    if params is None:
        return None
    return rows * 2.0 * params * tokens_per_row * passes / H100_FLOPS / 3600


def costs(scorer: Any, all_rows: int, teacher_rows: int, tokens: np.ndarray, seconds: dict[str, float]) -> dict:
    """Teacher rows vs all rows, estimated H100-hours for both, and the measured seconds of this run."""
    cap = getattr(scorer, "max_length", None)
    per_row = float(np.mean(np.minimum(tokens, cap) if cap else tokens)) if len(tokens) else 0.0
    params = model_params(scorer) if scorer is not None else None
    passes = PASSES.get(getattr(scorer, "name", ""), 1)
    full = gpu_hours(all_rows, params, per_row, passes)
    part = gpu_hours(teacher_rows, params, per_row, passes)
    return {
        "all_rows": all_rows, "teacher_rows": teacher_rows,
        "teacher_share": teacher_rows / all_rows if all_rows else 0.0,
        "teacher_params": params, "tokens_per_row": round(per_row, 1), "passes": passes,
        "gpu_hours_teacher_all": full, "gpu_hours_teacher_sample": part,
        "gpu_hours_saved": None if full is None else full - part,
        "seconds": {k: round(v, 2) for k, v in seconds.items()},
    }
