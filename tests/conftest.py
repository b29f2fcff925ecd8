"""Shared fixtures: tiny models built from configs (saved to temp dirs and loaded through the same
``from_pretrained`` path as hub ids) and small conversation samples. All offline. Plain builders
(no fixtures) live in helpers.py."""

from __future__ import annotations

import json
import os
from pathlib import Path

import helpers
import pytest
from helpers import sharegpt

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TQDM_DISABLE", "1")

CHATML = (
    "{% for message in messages %}"
    "{% if message['role'] == 'assistant' %}{{ '<|im_start|>assistant\n' }}"
    "{% generation %}{{ message['content'] + '<|im_end|>' }}{% endgeneration %}{{ '\n' }}"
    "{% else %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


@pytest.fixture(scope="session", autouse=True)
def _one_thread():
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass


@pytest.fixture(scope="session")
def tiny_tokenizer_dir(tmp_path_factory) -> Path:
    """A real WordPiece vocabulary (MiniLM's, shipped offline) with ChatML special tokens."""
    from transformers import AutoTokenizer

    from curate.models import minilm_dir

    tok = AutoTokenizer.from_pretrained(minilm_dir())
    tok.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_end|>"]})
    tok.eos_token = "<|im_end|>"
    tok.chat_template = CHATML
    out = tmp_path_factory.mktemp("tiny-tokenizer")
    tok.save_pretrained(out)
    return out


def _tiny_llama_config(vocab_size: int, **kw):
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=512, **kw,
    )


@pytest.fixture(scope="session")
def tiny_lm_dir(tiny_tokenizer_dir, tmp_path_factory) -> Path:
    """A 2-layer Llama causal LM (random weights) + tokenizer, saved like a hub checkpoint."""
    import torch
    from transformers import AutoTokenizer, LlamaForCausalLM

    tok = AutoTokenizer.from_pretrained(tiny_tokenizer_dir)
    torch.manual_seed(0)
    cfg = _tiny_llama_config(len(tok), pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
    out = tmp_path_factory.mktemp("tiny-lm")
    LlamaForCausalLM(cfg).save_pretrained(out)
    tok.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_reward_dir(tiny_tokenizer_dir, tmp_path_factory) -> Path:
    """A 2-layer Llama sequence classifier with one label: the shape of a reward model."""
    import torch
    from transformers import AutoTokenizer, LlamaForSequenceClassification

    tok = AutoTokenizer.from_pretrained(tiny_tokenizer_dir)
    torch.manual_seed(0)
    cfg = _tiny_llama_config(len(tok), num_labels=1, pad_token_id=tok.pad_token_id)
    out = tmp_path_factory.mktemp("tiny-reward")
    LlamaForSequenceClassification(cfg).save_pretrained(out)
    tok.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_sentence_dir(tmp_path_factory) -> Path:
    """A 2-layer BERT sentence-transformer (mean pooling, 32-d) with MiniLM's vocabulary."""
    import torch
    from sentence_transformers import SentenceTransformer, models
    from transformers import AutoTokenizer, BertConfig, BertModel

    from curate.models import minilm_dir

    tok = AutoTokenizer.from_pretrained(minilm_dir())
    torch.manual_seed(0)
    bert_dir = tmp_path_factory.mktemp("tiny-bert")
    BertModel(BertConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=64, max_position_embeddings=256)).save_pretrained(bert_dir)
    tok.save_pretrained(bert_dir)
    word = models.Transformer(str(bert_dir), max_seq_length=128)
    st = SentenceTransformer(modules=[word, models.Pooling(word.get_embedding_dimension(), "mean")])
    out = tmp_path_factory.mktemp("tiny-st")
    st.save(str(out))
    return out


@pytest.fixture
def sharegpt_rows() -> list[dict]:
    """A dozen valid ShareGPT rows with a planted exact duplicate and two sources."""
    rows = [
        sharegpt(f"Question number {i}: how do I sort a list of {i} items in Python?",
                 f"Use sorted(items) or items.sort(); for {i} items both are O(n log n).")
        | {"source": "a" if i % 2 else "b", "score": float(i)}
        for i in range(12)
    ]
    rows.append(dict(rows[3]))  # exact copy
    return rows


@pytest.fixture
def write_jsonl(tmp_path):
    """``write_jsonl(rows, name="data.jsonl")`` -> a JSONL file under this test's tmp_path."""
    return lambda rows, name="data.jsonl": helpers.write_jsonl(tmp_path / name, rows)


@pytest.fixture
def dirty_jsonl(tmp_path):
    """40 ShareGPT rows with an exact and a near duplicate, two sources, and four bad records."""
    rows = []
    for i in range(40):
        rows.append(json.dumps(sharegpt(
            f"Request {i}: explain topic {i} with an example about item {i * 7}.",
            f"Topic {i} is explained here. " + " ".join(f"detail{i}_{k}" for k in range(i % 9 + 3)) + ".")
            | {"source": ["alpha", "beta"][i % 2]}))
    rows[5] = rows[4]  # exact duplicate
    rows[7] = json.dumps(sharegpt(  # near duplicate of row 6: one word changed
        "Request 6: explain topic 6 with an example about item 42.",
        "Topic 6 is explained here. " + " ".join(f"detail6_{k}" for k in range(9)) + "!"))
    rows += [
        "{not json",
        json.dumps({"conversations": [{"from": "human", "value": "ok"}, {"from": "gpt", "value": "fine."},
                                      {"from": "system", "value": "Late."}, {"from": "gpt", "value": "I start."}]}),
        # role order: a system turn after the first, which no repair fixes (a greeting first would be repaired)
        json.dumps({"conversations": [{"from": "wizard", "value": "x"}, {"from": "gpt", "value": "y"}]}),
        json.dumps({"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "<|im_end|> a."}]}),
    ]
    return helpers.write_jsonl(tmp_path / "dirty.jsonl", rows)
