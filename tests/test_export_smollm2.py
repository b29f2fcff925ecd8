"""The shipped SmolLM2-135M-Instruct (tied embeddings, 9 query / 3 KV heads, its own BPE vocabulary):
a LoRA variant trained for two steps, exported with GGUF f16 and q8_0, read back alone by transformers.
Slow: loads and trains the real model on CPU (~1 min)."""

from __future__ import annotations

import os

import pytest
import torch
from helpers import make_run

from curate.rundir import RunDir, write_json

pytestmark = pytest.mark.slow
PROMPTS = [[{"role": "user", "content": "What is the capital of France?"}],
           [{"role": "user", "content": "Give me three tips for a good night's sleep."}],
           [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Explain recursion."}]]
# max |logit difference| vs the merged fp32 model; SmolLM2's logits span about -30..+30
F16_TOL, Q8_TOL = 0.25, 2.5


def _logits(model, tok) -> list[torch.Tensor]:
    with torch.no_grad():
        return [model(input_ids=tok.apply_chat_template(c, add_generation_prompt=True, return_tensors="pt",
                                                        return_dict=True)["input_ids"]).logits[0] for c in PROMPTS]


def test_smollm2_export_round_trip(tmp_path):
    from gguf import GGUFReader
    from transformers import AutoModelForCausalLM, AutoTokenizer

    import curate
    from curate.exporting.merge import load_adapted
    from curate.models import resolve
    from curate.train.sft import train_variant

    run = make_run(tmp_path, {"top": 12})
    train_variant(run / "subsets" / "top", model="smollm2", max_steps=2, max_length=128, learning_rate=1e-3,
                  warmup_steps=0)
    write_json(RunDir(run).manifest_path, {"counts": {"read": 12, "kept": 12, "removed": {}, "quarantined": 0}})
    out = curate.export(run, "top", tmp_path / "out", gguf="f16,q8_0")
    adapted_model, tok = load_adapted(resolve("smollm2"), RunDir(run).model_dir("top") / "adapter")
    adapted = _logits(adapted_model, tok)
    merged = _logits(AutoModelForCausalLM.from_pretrained(out.path).eval(), tok)
    report = {"merged": max(float((a - b).abs().max()) for a, b in zip(merged, adapted, strict=True))}
    assert report["merged"] < 1e-3
    for kind, tol in (("f16", F16_TOL), ("q8_0", Q8_TOL)):
        alone = tmp_path / kind
        alone.mkdir()
        os.link(out.path / f"model-{kind}.gguf", alone / f"model-{kind}.gguf")
        model = AutoModelForCausalLM.from_pretrained(alone, gguf_file=f"model-{kind}.gguf").eval()
        assert model.config.tie_word_embeddings and model.config.num_key_value_heads == 3
        got = _logits(model, tok)
        report[kind] = max(float((a - b).abs().max()) for a, b in zip(got, merged, strict=True))
        top1 = sum(int((a.argmax(-1) == b.argmax(-1)).sum()) for a, b in zip(got, merged, strict=True))
        report[f"{kind}_top1"] = top1 / sum(len(a) for a in got)
        assert report[kind] < tol and report[f"{kind}_top1"] > 0.9, report
        fields = GGUFReader(alone / f"model-{kind}.gguf").fields
        assert fields["tokenizer.ggml.pre"].contents() == "smollm"
        assert fields["tokenizer.ggml.eos_token_id"].contents() == 2  # <|im_end|>, SmolLM2's end of turn
        assert fields["tokenizer.chat_template"].contents() == AutoTokenizer.from_pretrained(out.path).chat_template
    print("SmolLM2 export max |logit diff|:", report)
