"""End to end on the shipped SmolLM2-135M-Instruct: a few LoRA steps on CPU, assistant-only labels
with its own (marker-less) chat template, and the adapter loads back through the app's Generator."""

from __future__ import annotations

import json

import pytest
from helpers import make_run


@pytest.mark.slow
def test_smollm2_lora_steps_on_cpu(tmp_path):
    from curate.train.generate import Generator, list_variants
    from curate.train.sft import train_variant

    run = make_run(tmp_path, {"quality": 4})
    m = train_variant(run / "subsets" / "quality", model="smollm2", max_steps=2, max_length=64, batch_size=1,
                      grad_accum=1, eval_steps=2)
    assert m["backend"] == "trl" and m["base_model"] == "smollm2"
    assert m["train_loss"] > 0 and m["eval_loss"] is not None
    tok_cfg = json.loads((run / "models" / "quality" / "adapter" / "tokenizer_config.json").read_text())
    assert tok_cfg["eos_token"] == "<|im_end|>"  # the converted GGUF tokenizer said <|im_start|>
    hist = json.loads((run / "models" / "quality" / "log_history.json").read_text())
    assert any("loss" in h for h in hist)
    variants = list_variants(run)
    assert [v.name for v in variants] == ["base", "quality"]
    gen = Generator(variants, device="cpu")
    text = gen.generate("quality", [{"role": "user", "content": "Question 1 about sorting?"}], max_new_tokens=4,
                        temperature=0.0)
    assert isinstance(text, str)
