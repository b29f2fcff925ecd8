"""LoRA SFT on tiny models: labels, loss, outputs, backend choice and bad inputs."""

from __future__ import annotations

import json

import pytest
import torch
from helpers import make_run, numbered_conv, write_subset

from curate.errors import UserError
from curate.train.config import TrainConfig
from curate.train.data import IGNORE, encode, load_subset, tokenize_rows

SMOL_TEMPLATE = (  # SmolLM2's own template: ChatML with a default system prompt, no generation markers
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant<|im_end|>\n' }}{% endif %}"
    "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
CHAT = [
    {"role": "system", "content": "be brief"},
    {"role": "user", "content": "what is two plus two"},
    {"role": "assistant", "content": "four"},
    {"role": "user", "content": "and three plus three"},
    {"role": "assistant", "content": "six of course"},
]


@pytest.fixture(scope="module")
def tok(tiny_tokenizer_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_tokenizer_dir)


def _trained_text(tok, enc) -> list[str]:
    """Decode each contiguous run of loss-carrying tokens."""
    runs, cur = [], []
    for t, lab in zip(enc["input_ids"], enc["labels"], strict=True):
        if lab != IGNORE:
            assert lab == t
            cur.append(t)
        elif cur:
            runs.append(cur)
            cur = []
    if cur:
        runs.append(cur)
    return [tok.decode(r).replace(" ", "") for r in runs]


def test_labels_mask_everything_but_assistant_turns(tok):
    enc = encode(tok, CHAT, max_length=512)
    assert _trained_text(tok, enc) == ["four<|im_end|>", "sixofcourse<|im_end|>"]
    # the same tokens as the template's own {% generation %} markers say
    ref = tok.apply_chat_template(CHAT, tokenize=True, return_dict=True, return_assistant_tokens_mask=True)
    assert enc["input_ids"] == list(ref["input_ids"])
    assert [lab != IGNORE for lab in enc["labels"]] == [bool(m) for m in ref["assistant_masks"]]


def test_labels_without_generation_markers(tok):
    """SmolLM2/Llama templates lack the markers: spans come from rendering prefixes instead."""
    smol = type(tok).from_pretrained(tok.name_or_path)
    smol.chat_template = SMOL_TEMPLATE
    enc = encode(smol, CHAT[1:], max_length=512)
    assert _trained_text(smol, enc) == ["four<|im_end|>", "sixofcourse<|im_end|>"]
    text = smol.decode(enc["input_ids"])
    assert "helpful ai assistant" in text  # the default system prompt is rendered but carries no loss
    short = encode(smol, CHAT[1:], max_length=6)  # truncated before any answer: no loss at all
    assert all(lab == IGNORE for lab in short["labels"])
    ds, dropped = tokenize_rows(smol, [CHAT[1:], CHAT[1:]], max_length=6)
    assert ds is None and dropped == 2


def test_bad_subsets_are_clear_errors(tmp_path, tiny_lm_dir):
    from curate.train.sft import train_variant

    with pytest.raises(UserError, match="not found"):
        load_subset(tmp_path / "nope")
    empty = write_subset(tmp_path, "empty", [])
    with pytest.raises(UserError, match="empty"):
        load_subset(empty)
    no_asst = write_subset(tmp_path, "noasst", [[{"role": "user", "content": "hi"}]] * 3)
    with pytest.raises(UserError, match="no assistant turns"):
        load_subset(no_asst)
    good = write_subset(tmp_path, "good", [numbered_conv(i) for i in range(4)])
    with pytest.raises(UserError, match="model not found"):
        train_variant(good, model="./no/such/model", max_steps=1)
    with pytest.raises(UserError, match="bad training settings"):
        train_variant(good, model=str(tiny_lm_dir), r=0)
    with pytest.raises(UserError, match="bad training settings"):
        train_variant(good, model=str(tiny_lm_dir), rank=8)  # unknown key
    with pytest.raises(UserError, match="Unsloth"):
        train_variant(good, model=str(tiny_lm_dir), load_in_4bit=True, backend="trl")


def test_backend_falls_back_to_trl_without_cuda(monkeypatch):
    import curate.train.backends as b

    monkeypatch.setattr(b, "_cuda", lambda: False)
    monkeypatch.setattr(b, "_has_unsloth", lambda: True)
    choice = b.choose_backend("auto")
    assert choice.name == "trl" and "no CUDA GPU" in choice.reason
    with pytest.raises(UserError, match="CUDA"):
        b.choose_backend("unsloth")
    monkeypatch.setattr(b, "_cuda", lambda: True)
    monkeypatch.setattr(b, "_has_unsloth", lambda: False)
    choice = b.choose_backend("auto")
    assert choice.name == "trl" and "unsloth is not installed" in choice.reason
    assert b.default_optim(choice, "auto") == "adamw_torch"
    assert b.default_optim(b.Backend("unsloth", ""), "auto") == "adamw_8bit"


def test_training_evaluation_and_the_app_ask_one_device_lookup():
    """``curate.scorers.model.resolve_device`` is the one place that asks torch which device to use."""
    from pathlib import Path

    import curate

    root = Path(curate.__file__).parent
    asking = [str(p.relative_to(root)) for sub in ("train", "app") for p in sorted((root / sub).rglob("*.py"))
              if "cuda.is_available" in p.read_text() or "mps.is_available" in p.read_text()]
    assert asking == []


def test_auto_device_prefers_mps_for_generation_only(monkeypatch):
    """On a Mac (no CUDA, MPS available) generation uses the GPU; scoring stays on the CPU."""
    import torch

    from curate.scorers.model import resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert resolve_device("auto", mps=True) == "mps" and resolve_device("auto") == "cpu"
    assert resolve_device("cpu", mps=True) == "cpu"


def test_few_steps_lower_loss_and_change_only_lora(tmp_path, tiny_lm_dir, tok):
    from curate.train.backends import Backend, load_model
    from curate.train.sft import fit

    cfg = TrainConfig(model=str(tiny_lm_dir), max_steps=8, learning_rate=5e-3, warmup_steps=0, grad_accum=1,
                      eval_steps=4)
    model, tokenizer, targets = load_model(Backend("trl", "test"), str(tiny_lm_dir), cfg)
    assert targets == cfg.target_modules
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    convs = [numbered_conv(i % 3) for i in range(12)]
    ds, _ = tokenize_rows(tokenizer, convs, 128)
    res = fit(model, tokenizer, ds, ds.select(range(4)), cfg, Backend("trl", "test"), tmp_path / "w")
    assert res.eval_loss < res.initial_eval_loss - 0.05
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert changed and all("lora_" in n for n in changed)
    assert any("lora_B" in n for n in changed)
    assert [h["step"] for h in res.log_history if "eval_loss" in h] == [0, 4, 8]


def test_train_variant_writes_the_contract(tmp_path, tiny_lm_dir):
    from curate.train.sft import train_variant

    run = make_run(tmp_path, {"top": 10})
    m = train_variant(run / "subsets" / "top", model=str(tiny_lm_dir), max_steps=2, max_length=128, merge=True)
    out = run / "models" / "top"
    assert (out / "merged" / "config.json").exists() and not (out / "merged" / "adapter_config.json").exists()
    for f in ("adapter/adapter_config.json", "adapter/adapter_model.safetensors", "adapter/tokenizer_config.json",
              "metrics.json", "log_history.json", "loss.png"):
        assert (out / f).exists(), f
    keys = {"variant", "subset", "rows", "base_model", "backend", "lora", "steps", "max_length", "train_loss",
            "eval_loss", "train_seconds", "tokens_per_second", "seed"}
    assert keys <= set(json.loads((out / "metrics.json").read_text()))
    assert m["variant"] == "top" and m["rows"] == 10 and m["backend"] == "trl" and m["val_rows"] == 1
    assert m["lora"] == {"r": 16, "alpha": 16, "dropout": 0.0, "target_modules": TrainConfig().target_modules}
    assert m["tokens_per_second"] > 0
    # same settings and data: skipped (same metrics back, files untouched)
    mtime = (out / "metrics.json").stat().st_mtime_ns
    assert train_variant(run / "subsets" / "top", model=str(tiny_lm_dir), max_steps=2, max_length=128,
                         merge=True) == m
    assert (out / "metrics.json").stat().st_mtime_ns == mtime
