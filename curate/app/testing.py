"""A random LoRA adapter for any causal LM folder: lets the app's tests and benchmarks compare
variants without training anything (tests/helpers.py builds whole fake runs with it)."""

from __future__ import annotations

from pathlib import Path


def make_adapter(base_dir: str | Path, out_dir: str | Path, seed: int = 0) -> Path:
    """Save a random (non-identity) LoRA adapter for ``base_dir`` into ``out_dir``."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(base_dir)
    cfg = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    get_peft_model(model, cfg).save_pretrained(out_dir)
    return Path(out_dir)
