"""Train one LoRA variant on one subset and write what the app and the results table read:
``adapter/`` (PEFT weights + tokenizer), ``metrics.json``, ``log_history.json`` and ``loss.png``."""

from __future__ import annotations

import json
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from curate.errors import UserError
from curate.models import resolve_model
from curate.rundir import ModelFiles, RunDir, fingerprint, write_json
from curate.scorers.model import resolve_device
from curate.train.backends import (
    Backend,
    choose_backend,
    default_optim,
    load_model,
    precision_kwargs,
    save_merged,
)
from curate.train.config import TrainConfig
from curate.train.data import load_subset, split_indices, tokenize_rows
from curate.train.plots import plot_loss

log = logging.getLogger("curate.train")


@dataclass
class FitResult:
    """What one training run measured."""

    log_history: list[dict]
    train_loss: float
    eval_loss: float | None
    initial_eval_loss: float | None
    seconds: float
    tokens: int


def _trainer_class() -> type:
    """TRL's ``SFTTrainer``, counting trained tokens, with a plain-loss fallback.

    TRL 1.15 computes the SFT loss with a Triton kernel (a fused LM head). CPU-only torch has no Triton,
    so there the loss falls back to the model's own cross-entropy on the same (assistant-only) labels,
    which is what ``transformers.Trainer`` computes.
    """
    from transformers import Trainer
    from trl import SFTTrainer
    from trl.trainer import utils as trl_utils

    fused = getattr(trl_utils, "_ChunkedLogProbFunction", None) is not None

    class CurateSFTTrainer(SFTTrainer):
        trained_tokens = 0

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            if model.training and "attention_mask" in inputs:
                self.trained_tokens += int(inputs["attention_mask"].sum())
            if fused:
                return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            inputs["use_cache"] = False
            return Trainer.compute_loss(self, model, inputs, return_outputs=return_outputs,
                                        num_items_in_batch=num_items_in_batch)

    return CurateSFTTrainer


def _checkpointing(cfg: TrainConfig) -> bool:
    if cfg.gradient_checkpointing is not None:
        return cfg.gradient_checkpointing
    return resolve_device() == "cuda"


def _align_eos(model: Any, tok: Any) -> None:
    """Use the model's generation end-of-turn token when the tokenizer disagrees (SmolLM2's converted
    GGUF tokenizer says ``<|im_start|>``); otherwise the trainer rewrites the model's eos to the wrong id."""
    gen = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    eos = gen[0] if isinstance(gen, list) and gen else gen
    if isinstance(eos, int) and eos != tok.eos_token_id and eos < len(tok):
        tok.eos_token = tok.convert_ids_to_tokens(eos)


def fit(model: Any, tokenizer: Any, train_ds: Any, eval_ds: Any, cfg: TrainConfig, backend: Backend,
        workdir: Path) -> FitResult:
    """Run the SFT loop (TRL's trainer, patched by Unsloth when that backend is active)."""
    from trl import SFTConfig

    has_eval = eval_ds is not None and len(eval_ds) > 0
    args = SFTConfig(
        output_dir=str(workdir), max_steps=cfg.max_steps, per_device_train_batch_size=cfg.batch_size,
        per_device_eval_batch_size=cfg.batch_size, gradient_accumulation_steps=cfg.grad_accum,
        learning_rate=cfg.learning_rate, lr_scheduler_type=cfg.lr_scheduler_type, warmup_steps=cfg.warmup_steps,
        weight_decay=cfg.weight_decay, seed=cfg.seed, data_seed=cfg.seed, optim=default_optim(backend, cfg.optim),
        logging_steps=1, eval_strategy="steps" if has_eval else "no", eval_steps=cfg.effective_eval_steps,
        save_strategy="no", report_to="none", max_length=cfg.max_length, assistant_only_loss=False,
        dataloader_num_workers=0, gradient_checkpointing=_checkpointing(cfg), **precision_kwargs(backend),
    )
    trainer = _trainer_class()(model=model, args=args, train_dataset=train_ds, eval_dataset=eval_ds if has_eval else None,
                         processing_class=tokenizer)
    initial = float(trainer.evaluate()["eval_loss"]) if has_eval else None
    start = time.perf_counter()
    result = trainer.train()
    seconds = time.perf_counter() - start
    history = [dict(h) for h in trainer.state.log_history]
    final = None
    if has_eval:
        last = [h for h in history if "eval_loss" in h and h.get("step") == trainer.state.global_step]
        final = float(last[-1]["eval_loss"]) if last else float(trainer.evaluate()["eval_loss"])
        if not last:
            history.append({"step": trainer.state.global_step, "eval_loss": final})
        history.insert(0, {"step": 0, "eval_loss": initial})
    return FitResult(history, float(result.training_loss), final, initial, seconds, trainer.trained_tokens)


def _datasets(tok: Any, rows: Any, cfg: TrainConfig) -> tuple[Any, Any, int]:
    """``(train, validation or None, rows dropped for having no assistant token within max_length)``."""
    train_idx, val_idx = split_indices(len(rows), cfg.val_fraction, cfg.max_val_rows, cfg.seed)
    train_ds, dropped = tokenize_rows(tok, [rows.messages[i] for i in train_idx], cfg.max_length)
    val_ds, val_dropped = tokenize_rows(tok, [rows.messages[i] for i in val_idx], cfg.max_length) if val_idx else (None, 0)
    if train_ds is None:
        raise UserError(f"subset {rows.name!r}: no training row keeps an assistant token within "
                        f"max_length={cfg.max_length}; raise max_length")
    return train_ds, val_ds, dropped + val_dropped


def _save(model: Any, tok: Any, files: ModelFiles, cfg: TrainConfig, backend: Any) -> None:
    """The adapter (written aside and renamed, so never half-written) and, with ``merge``, the merged model."""
    tmp = files.folder / ".adapter.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    shutil.rmtree(files.adapter, ignore_errors=True)
    tmp.rename(files.adapter)
    if cfg.merge:
        save_merged(backend, model, tok, files.merged)


def train_variant(subset: str | Path, out_dir: str | Path | None = None, config: TrainConfig | None = None,
                  variant: str | None = None, force: bool = False, **overrides: Any) -> dict:
    """Fine-tune ``config.model`` with LoRA on the subset folder ``subset``; returns ``metrics.json``.

    ``out_dir`` defaults to ``RUN/models/<variant>`` for ``RUN/subsets/<name>``. A variant whose
    outputs exist with the same settings and data is skipped (``force`` retrains).
    """
    try:
        cfg = TrainConfig.model_validate({**(config or TrainConfig()).model_dump(), **overrides})
    except ValueError as e:
        raise UserError(f"bad training settings: {e}") from e
    rows = load_subset(subset)
    name = variant or rows.name
    files = ModelFiles(out_dir) if out_dir else RunDir(rows.path.parent.parent).model_files(name)
    out = files.folder
    model_path = resolve_model(cfg.model)
    fp = fingerprint(cfg.model_dump(), model_path, rows.ids)
    stamp = out / ".fingerprint"
    if not force and stamp.exists() and stamp.read_text().strip() == fp and files.metrics.exists():
        log.info("variant %s is up to date; skipping (force=True retrains)", name)
        return json.loads(files.metrics.read_text())

    backend = choose_backend(cfg.backend)
    if cfg.load_in_4bit and backend.name != "unsloth":
        raise UserError("load_in_4bit (QLoRA) needs the Unsloth backend (CUDA + the gpu extra)")
    log.info("[train] %s: backend=%s (%s)", name, backend.name, backend.reason)
    model, tok, targets = load_model(backend, model_path, cfg)
    _align_eos(model, tok)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    train_ds, val_ds, dropped = _datasets(tok, rows, cfg)
    out.mkdir(parents=True, exist_ok=True)
    work = out / ".trainer"
    res = fit(model, tok, train_ds, val_ds, cfg, backend, work)
    shutil.rmtree(work, ignore_errors=True)
    _save(model, tok, files, cfg, backend)
    metrics = {
        "variant": name, "subset": rows.name, "rows": len(rows), "base_model": cfg.model,
        "backend": backend.name, "backend_reason": backend.reason,
        "lora": {"r": cfg.r, "alpha": cfg.alpha, "dropout": cfg.lora_dropout, "target_modules": targets},
        "steps": cfg.max_steps, "max_length": cfg.max_length, "learning_rate": cfg.learning_rate,
        "train_rows": len(train_ds), "val_rows": len(val_ds) if val_ds is not None else 0,
        "dropped_rows": {**rows.skipped, "truncated_no_assistant": dropped},
        "train_loss": res.train_loss, "eval_loss": res.eval_loss, "initial_eval_loss": res.initial_eval_loss,
        "train_seconds": round(res.seconds, 3),
        "tokens_per_second": round(res.tokens / res.seconds, 1) if res.seconds > 0 else None,
        "seed": cfg.seed,
    }
    write_json(files.log_history, res.log_history)
    plot_loss(res.log_history, files.loss_plot, f"{name}: LoRA r={cfg.r}, {cfg.max_steps} steps")
    write_json(files.metrics, metrics)
    stamp.write_text(fp)
    return metrics
