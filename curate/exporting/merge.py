"""Base model + a variant's LoRA adapter, merged into one plain ``transformers`` folder (safetensors,
tokenizer, chat template, generation config): what vLLM, TGI, llama.cpp converters and ``from_pretrained``
take without PEFT.

The merge is PEFT's ``merge_and_unload`` on CPU, the same step as the TRL branch of
``curate.train.backends.save_merged``. Unsloth trains the same PEFT LoRA adapters, so a variant trained
with Unsloth on a GPU merges here the same way; only the dtype differs (Unsloth's ``merged_16bit``).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from curate.errors import UserError

DTYPES = ("float32", "bfloat16")
DTYPE_BYTES = {"float32": 4, "bfloat16": 2}


def _torch_dtype(name: str) -> Any:
    import torch

    if name not in DTYPES:
        raise UserError(f"unknown dtype {name!r}; use {' or '.join(DTYPES)}")
    return getattr(torch, name)


def tokenizer_dir(adapter: Path, base_path: str) -> str:
    """Where the variant's tokenizer lives: the adapter folder (training saves its tokenizer there, with
    the end-of-turn and pad tokens it trained with), else the base model."""
    return str(adapter) if (adapter / "tokenizer_config.json").exists() else base_path


def load_adapted(base_path: str, adapter: Path, dtype: str = "float32") -> tuple[Any, Any]:
    """``(PeftModel of the base with the adapter, tokenizer)`` on CPU, in eval mode.

    Raises:
        UserError: the base model or the adapter cannot be loaded.
    """
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        base = AutoModelForCausalLM.from_pretrained(base_path, dtype=_torch_dtype(dtype))
        model = PeftModel.from_pretrained(base, str(adapter)).eval()
        tok = AutoTokenizer.from_pretrained(tokenizer_dir(adapter, base_path))
    except (OSError, ValueError, RuntimeError) as e:
        raise UserError(f"cannot load adapter {adapter} onto base model {base_path!r}: {e}") from e
    return model, tok


def estimate_bytes(base_path: str, dtype: str = "float32") -> int:
    """The merged model's size on disk in ``dtype``, from the base's parameter count (config only)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(base_path)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    return sum(p.numel() for p in model.parameters()) * DTYPE_BYTES[dtype]


def merge_variant(base_path: str, adapter: Path, out: Path, dtype: str = "float32") -> dict:
    """Write the merged model of ``adapter`` on ``base_path`` to ``out``.

    Args:
        base_path: a local model folder (aliases are resolved by the caller).
        adapter: the variant's PEFT adapter folder.
        out: the folder to write (created).
        dtype: ``float32`` (default; exact on CPU) or ``bfloat16`` (half the size; CPU matmuls are slower).
    Returns:
        ``{"dtype", "parameters", "bytes"}``.
    Raises:
        UserError: the model or adapter cannot be loaded.
    """
    model, tok = load_adapted(base_path, adapter, dtype)
    merged = model.merge_and_unload()
    out.mkdir(parents=True, exist_ok=True)
    merged.save_pretrained(out, safe_serialization=True)
    tok.save_pretrained(out)
    eos = merged.generation_config.eos_token_id if merged.generation_config is not None else None
    if isinstance(eos, int) and tok.eos_token_id != eos:  # training aligned the tokenizer; keep them agreeing
        tok.eos_token = tok.convert_ids_to_tokens(eos)
        tok.save_pretrained(out)
    if not getattr(tok, "chat_template", None):
        shutil.rmtree(out, ignore_errors=True)
        raise UserError(f"the tokenizer of {adapter} has no chat template; a chat model needs one")
    return {"dtype": dtype, "parameters": sum(p.numel() for p in merged.parameters()),
            "bytes": sum(f.stat().st_size for f in out.glob("*.safetensors"))}
