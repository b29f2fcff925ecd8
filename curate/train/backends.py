"""Which trainer runs: Unsloth on a CUDA GPU when the ``gpu`` extra is installed (2x faster, less memory,
optional 4-bit), TRL ``SFTTrainer`` + PEFT everywhere else, CPU included. Both get the same pre-tokenized
dataset (``input_ids`` + assistant-only ``labels``) and write the same outputs.

Unsloth patches transformers/TRL/PEFT when imported, so it must be imported before them: this module
imports nothing heavy at the top, and :func:`choose_backend` imports unsloth first thing when it picks it.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from curate.errors import UserError
from curate.scorers.model import resolve_device
from curate.train.config import TrainConfig

log = logging.getLogger("curate.train")


@dataclass(frozen=True)
class Backend:
    """The chosen trainer and the reason, which is logged and recorded in ``metrics.json``."""

    name: str  # "unsloth" | "trl"
    reason: str


def _cuda() -> bool:
    return resolve_device() == "cuda"


def _has_unsloth() -> bool:
    return importlib.util.find_spec("unsloth") is not None


def choose_backend(requested: str = "auto") -> Backend:
    """Unsloth when asked or when CUDA and unsloth are both present; TRL + PEFT otherwise, saying why."""
    cuda, unsloth = _cuda(), _has_unsloth()
    if requested == "trl":
        choice = Backend("trl", "TRL SFTTrainer + PEFT, as requested")
    elif requested == "unsloth":
        if not cuda:
            raise UserError("backend 'unsloth' needs a CUDA GPU and none is visible; use --backend trl")
        if not unsloth:
            raise UserError("backend 'unsloth' is not installed: pip install 'curate-chat[gpu]'")
        choice = Backend("unsloth", "Unsloth FastLanguageModel, as requested")
    elif requested != "auto":
        raise UserError(f"unknown backend {requested!r}; use auto, trl or unsloth")
    elif cuda and unsloth:
        choice = Backend("unsloth", "CUDA GPU and unsloth found: Unsloth FastLanguageModel")
    elif cuda:
        choice = Backend("trl", "CUDA GPU found but unsloth is not installed (pip install 'curate-chat[gpu]'): "
                                "falling back to TRL SFTTrainer + PEFT")
    else:
        choice = Backend("trl", "no CUDA GPU: falling back to TRL SFTTrainer + PEFT on CPU "
                                "(Unsloth needs CUDA)")
    if choice.name == "unsloth":
        if "transformers" in sys.modules:
            log.warning("transformers was imported before unsloth; Unsloth's patches may be incomplete")
        importlib.import_module("unsloth")  # before transformers/trl/peft, as Unsloth requires
    log.info("training backend: %s (%s)", choice.name, choice.reason)
    return choice


def present_targets(model: Any, wanted: list[str]) -> list[str]:
    """The wanted LoRA target modules that exist in this architecture (a GPT-2 has no q_proj)."""
    names = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    found = [t for t in wanted if t in names]
    if not found:
        raise UserError(f"none of the LoRA target modules {wanted} exist in this model; set target_modules "
                        f"(linear layers here include: {sorted(n for n in names if 'proj' in n or 'attn' in n)[:8]})")
    return found


def load_model(backend: Backend, model_path: str, cfg: TrainConfig) -> tuple[Any, Any, list[str]]:
    """(PEFT model with fresh LoRA adapters, tokenizer, the target modules used)."""
    if backend.name == "unsloth":
        return _load_unsloth(model_path, cfg)
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(model_path)
        dtype = torch.bfloat16 if _cuda() and torch.cuda.is_bf16_supported() else torch.float32
        model = AutoModelForCausalLM.from_pretrained(model_path, dtype=dtype)
    except (OSError, ValueError) as e:
        raise UserError(f"cannot load model {model_path!r}: {e}") from e
    targets = present_targets(model, cfg.target_modules)
    torch.manual_seed(cfg.seed)  # LoRA A matrices are random: same seed, same start
    lora = LoraConfig(r=cfg.r, lora_alpha=cfg.alpha, lora_dropout=cfg.lora_dropout, target_modules=targets,
                      bias="none", task_type="CAUSAL_LM")
    return get_peft_model(model, lora), tok, targets


def _load_unsloth(model_path: str, cfg: TrainConfig) -> tuple[Any, Any, list[str]]:
    from curate._optional import require

    FastLanguageModel = require("unsloth").FastLanguageModel

    model, tok = FastLanguageModel.from_pretrained(model_name=model_path, max_seq_length=cfg.max_length,
                                                   dtype=None, load_in_4bit=cfg.load_in_4bit)
    targets = present_targets(model, cfg.target_modules)
    model = FastLanguageModel.get_peft_model(
        model, r=cfg.r, target_modules=targets, lora_alpha=cfg.alpha, lora_dropout=cfg.lora_dropout,
        bias="none", use_gradient_checkpointing="unsloth", random_state=cfg.seed, use_rslora=False,
        loftq_config=None,
    )
    return model, tok, targets


def precision_kwargs(backend: Backend) -> dict[str, Any]:
    """bf16 where the GPU supports it, fp16 on older GPUs, fp32 on CPU (TRL needs bf16=False there)."""
    import torch

    if not _cuda():
        return {"bf16": False, "fp16": False, "use_cpu": True}
    if backend.name == "unsloth":
        from unsloth import is_bfloat16_supported

        bf16 = bool(is_bfloat16_supported())
    else:
        bf16 = bool(torch.cuda.is_bf16_supported())
    return {"bf16": bf16, "fp16": not bf16}


def default_optim(backend: Backend, optim: str) -> str:
    if optim != "auto":
        return optim
    return "adamw_8bit" if backend.name == "unsloth" else "adamw_torch"


def save_merged(backend: Backend, model: Any, tokenizer: Any, out: Path) -> None:
    """A merged 16-bit model, for serving without PEFT (vLLM, llama.cpp conversion)."""
    if backend.name == "unsloth":
        model.save_pretrained_merged(str(out), tokenizer, save_method="merged_16bit")
        return
    import torch

    merged = model.merge_and_unload()
    merged.to(torch.bfloat16).save_pretrained(out)
    tokenizer.save_pretrained(out)
