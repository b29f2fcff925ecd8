"""The facts behind an exported model, read from its run (through ``RunDir`` only): recipe, input
counts, the subset's rule, the rows and tokens trained on, score distributions of the subset next to the
pool's, the planted-corruption audit and the evaluation. ``lineage.json`` is this dict; the model card
renders it for people."""

from __future__ import annotations

import hashlib
import re
from typing import Any

import numpy as np
import pandas as pd

from curate.errors import UserError
from curate.rundir import RunDir, fingerprint

# Below these, numbers prove the pipeline, not that a subset is better (docs/training.md).
SMOKE = {"steps": 200, "rows": 1000, "prompts": 50}
MAX_PLOTTED = 6


def ids_digest(ids: list[str]) -> str:
    """sha256 of the sorted ids joined by newlines: compare two trainings' rows without listing them."""
    return hashlib.sha256("\n".join(sorted(ids)).encode()).hexdigest()


def _columns(spec: dict, frame: pd.DataFrame) -> list[str]:
    """Score columns the subset's rule names (rank keys, filter words), then other numeric ones."""
    named = list((spec.get("rank") or {}).keys())
    named += re.findall(r"[A-Za-z_][A-Za-z0-9_]*", str(spec.get("filter") or ""))
    numeric = [c for c in frame.columns if c not in ("id", "row") and pd.api.types.is_numeric_dtype(frame[c])
               and not pd.api.types.is_bool_dtype(frame[c]) and frame[c].nunique() > 1]  # a constant says nothing
    ordered = [c for c in dict.fromkeys(named) if c in numeric] + [c for c in numeric if c not in named]
    return ordered[:MAX_PLOTTED]


def _summary(values: pd.Series) -> dict[str, Any]:
    v = pd.to_numeric(values, errors="coerce").dropna().to_numpy(dtype=float)
    if not len(v):
        return {"n": 0}
    q = np.quantile(v, [0.1, 0.5, 0.9])
    return {"n": int(len(v)), "mean": round(float(v.mean()), 4), "p10": round(float(q[0]), 4),
            "median": round(float(q[1]), 4), "p90": round(float(q[2]), 4)}


def score_frames(run: RunDir, subset_ids: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(pool, subset)``: scalar scores of the kept rows (the pool selection chose from) and of the subset."""
    pool = run.rows(columns=["id", "row"], kept=True) if run.conversations_path.exists() else run.scores(vectors=False)
    pool = pool.drop_duplicates("id")
    return pool, pool[pool["id"].isin(set(subset_ids))]


def distributions(pool: pd.DataFrame, subset: pd.DataFrame, spec: dict) -> dict[str, dict]:
    """Per score column: the subset's and the pool's n, mean, p10, median, p90."""
    return {c: {"subset": _summary(subset[c]), "pool": _summary(pool[c])} for c in _columns(spec, pool)}


def _evaluation(run: RunDir, variant: str) -> dict[str, Any]:
    heldout = run.heldout() or {}
    winrates = run.winrates() or []
    keys = ("variant", "opponent", "judge", "n", "wins", "losses", "ties", "win_rate", "ci_low", "ci_high",
            "lc_win_rate", "mean_tokens", "opponent_mean_tokens")
    return {
        "heldout": {"rows": heldout.get("rows"), "max_length": heldout.get("max_length"),
                    "skipped": heldout.get("skipped"),
                    "losses": [{k: r.get(k) for k in ("variant", "loss", "perplexity", "tokens")}
                               for r in heldout.get("losses", [])]},
        "winrates": [{k: r.get(k) for k in keys if k in r} for r in winrates
                     if variant in (r.get("variant"), r.get("opponent"))],
        "prompts": max((r.get("n") or 0 for r in winrates), default=0),
    }


def _audit(run: RunDir, subset: str) -> dict | None:
    audit = run.audit()
    if not audit:
        return None
    return {"rows": audit.get("rows"), "planted_rows": audit.get("planted_rows"), "rate": audit.get("rate"),
            "subset": (audit.get("subsets") or {}).get(subset),
            "best": {k: {"column": v.get("column"), "auroc": v.get("auroc")} for k, v in (audit.get("best") or {}).items()}}


def _training(metrics: dict, recipe: dict) -> dict:
    seconds, rate = metrics.get("train_seconds"), metrics.get("tokens_per_second")
    return {
        "base_model": metrics.get("base_model"), "backend": metrics.get("backend"), "lora": metrics.get("lora"),
        "steps": metrics.get("steps"), "learning_rate": metrics.get("learning_rate"),
        "max_length": metrics.get("max_length"), "seed": metrics.get("seed"),
        "rows": metrics.get("rows"), "train_rows": metrics.get("train_rows"), "val_rows": metrics.get("val_rows"),
        "dropped_rows": metrics.get("dropped_rows"),
        "tokens_seen": round(seconds * rate) if seconds and rate else None,
        "train_loss": metrics.get("train_loss"), "eval_loss": metrics.get("eval_loss"),
        "initial_eval_loss": metrics.get("initial_eval_loss"), "train_seconds": seconds,
        "recipe_train": {k: v for k, v in (recipe.get("train") or {}).items() if k != "evaluate"},
    }


def smoke_reasons(facts: dict) -> list[str]:
    """Why the numbers are smoke-scale (empty when they are not)."""
    t, ev = facts["training"], facts["evaluation"]
    out = []
    if (t.get("steps") or 0) < SMOKE["steps"]:
        out.append(f"{t.get('steps')} training steps")
    if (t.get("rows") or 0) < SMOKE["rows"]:
        out.append(f"{t.get('rows')} training rows")
    if ev["winrates"] and ev["prompts"] < SMOKE["prompts"]:
        out.append(f"win rates from {ev['prompts']} prompts")
    return out


def lineage(run: RunDir, variant: str, ids: bool = True) -> dict[str, Any]:
    """Every fact the card states, machine-readable (``lineage.json``).

    Args:
        run: the run the variant was trained in.
        variant: a trained variant (``RUN/models/<variant>``).
        ids: list the training rows' ids (else only their count and digest).
    Returns:
        A JSON-able dict: run, variant, recipe (+ fingerprint), input counts, subset (rule, counts,
        tokens, source mix), training, training_rows, score_distributions, audit, evaluation, smoke_scale.
    Raises:
        UserError: the variant has no metrics or its subset is missing.
    """
    metrics = run.models().get(variant)
    if metrics is None:
        raise UserError(f"variant {variant!r} has no {run.model_files(variant).metrics.name} in {run.models_dir}")
    manifest = run.manifest()
    recipe = manifest.get("recipe") or {}
    subset = metrics.get("subset") or variant
    try:
        meta = run.subset_meta(subset)
    except UserError:  # a subset folder made by hand (curate train --subset) may have no meta.json
        meta = {}
    row_ids = run.subset_ids(subset)
    pool, chosen = score_frames(run, row_ids)
    facts: dict[str, Any] = {
        "run": str(run.root.resolve()), "variant": variant,
        "recipe": recipe, "recipe_fingerprint": fingerprint(recipe), "versions": manifest.get("versions"),
        "input": {"source": (recipe.get("input") or {}).get("source"), "counts": manifest.get("counts")},
        "subset": {"name": subset, "rule": meta.get("spec"), "counts": meta.get("counts"),
                   "tokens": meta.get("tokens"), "source_mix": meta.get("source_mix")},
        "training": _training(metrics, recipe),
        "training_rows": {"count": len(row_ids), "sha256": ids_digest(row_ids), "ids": row_ids if ids else None,
                          "note": "the subset's rows; val_rows of them were held out for the eval loss"},
        "score_distributions": distributions(pool, chosen, meta.get("spec") or {}),
        "audit": _audit(run, subset),
        "evaluation": _evaluation(run, variant),
    }
    facts["smoke_scale"] = smoke_reasons(facts)
    return facts
