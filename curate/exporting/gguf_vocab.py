"""A Hugging Face byte-level BPE tokenizer as llama.cpp's ``tokenizer.ggml.*`` metadata.

llama.cpp calls byte-level BPE (GPT-2, SmolLM2, Llama-3.x) ``gpt2``: the token strings, a type per token
(normal, control for special tokens, user-defined for other added tokens, unused for padding up to the
model's vocabulary size), the merges as ``"a b"`` strings, and the special token ids. ``pre`` names the
pre-tokenizer regex llama.cpp should use; it is recognized from the vocabulary (see :func:`pre_tokenizer`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gguf

from curate.errors import UserError

# llama.cpp's names for the pre-tokenizers of the models we export; anything else is "default", which
# llama.cpp accepts with a warning (and splits text like GPT-2).
KNOWN_PRE = {"smollm": ("<|endoftext|>", 49152), "llama-bpe": ("<|begin_of_text|>", 128256)}


@dataclass
class Vocab:
    """What the GGUF writer needs of a tokenizer."""

    tokens: list[str]
    types: list[int]
    merges: list[str]
    pre: str
    special: dict[str, int] = field(default_factory=dict)  # bos / eos / pad / unk -> id
    add_bos: bool = False


def _merges(model: dict) -> list[str]:
    """Merges as ``"a b"`` (tokenizers writes pairs as two-item lists since 0.20)."""
    return [m if isinstance(m, str) else " ".join(m) for m in model.get("merges", [])]


def pre_tokenizer(tokens: list[str]) -> str:
    """llama.cpp's pre-tokenizer name for a vocabulary it knows (by its first special token and size)."""
    present = set(tokens)
    for name, (first, size) in KNOWN_PRE.items():
        if len(tokens) == size and first in present:
            return name
    return "default"


def _special_ids(tok: Any) -> dict[str, int]:
    out = {}
    for key in ("bos", "eos", "pad", "unk"):
        value = getattr(tok, f"{key}_token_id", None)
        if isinstance(value, int):
            out[key] = value
    return out


def read_vocab(model_dir: str | Path, vocab_size: int, eos_token_id: int | None = None) -> Vocab:
    """The ``tokenizer.json`` of ``model_dir`` as GGUF metadata, padded to ``vocab_size`` tokens.

    Args:
        model_dir: a folder saved by ``save_pretrained`` with a fast tokenizer (``tokenizer.json``).
        vocab_size: the model's embedding rows (``config.vocab_size``); extra rows get unused tokens.
        eos_token_id: the model's end-of-turn id when it differs from the tokenizer's ``eos``.
    Returns:
        A :class:`Vocab`.
    Raises:
        UserError: the tokenizer is not byte-level BPE (WordPiece, SentencePiece unigram) or is larger
            than the model's vocabulary.
    """
    from transformers import AutoTokenizer

    path = Path(model_dir) / "tokenizer.json"
    if not path.exists():
        raise UserError(f"GGUF export needs a fast tokenizer (tokenizer.json) in {model_dir}")
    spec = json.loads(path.read_text(encoding="utf-8"))
    model = spec.get("model") or {}
    if model.get("type") != "BPE" or "ByteLevel" not in json.dumps(spec.get("pre_tokenizer")):
        raise UserError(f"GGUF export supports byte-level BPE tokenizers (SmolLM2, Llama-3.x); this one is "
                        f"{model.get('type')} with pre-tokenizer {(spec.get('pre_tokenizer') or {}).get('type')}")
    by_id = {i: t for t, i in model["vocab"].items()}
    added = {a["id"]: a for a in spec.get("added_tokens", [])}
    by_id.update({i: a["content"] for i, a in added.items()})
    if max(by_id) >= vocab_size:
        raise UserError(f"the tokenizer has token id {max(by_id)} but the model only {vocab_size} embeddings")
    tokens, types = [], []
    for i in range(vocab_size):
        if i not in by_id:
            tokens.append(f"[PAD{i}]")
            types.append(gguf.TokenType.UNUSED)
        elif i in added:
            tokens.append(by_id[i])
            types.append(gguf.TokenType.CONTROL if added[i].get("special") else gguf.TokenType.USER_DEFINED)
        else:
            tokens.append(by_id[i])
            types.append(gguf.TokenType.NORMAL)
    tok = AutoTokenizer.from_pretrained(model_dir)
    special = _special_ids(tok)
    if eos_token_id is not None:
        special["eos"] = eos_token_id
    return Vocab(tokens, [int(t) for t in types], _merges(model), pre_tokenizer(tokens), special,
                 add_bos=bool(getattr(tok, "add_bos_token", False)))


def add_vocab(writer: gguf.GGUFWriter, vocab: Vocab, chat_template: str | None) -> None:
    """Write ``vocab`` (and the chat template) as ``tokenizer.ggml.*`` / ``tokenizer.chat_template``."""
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(vocab.pre)
    writer.add_token_list(vocab.tokens)
    writer.add_token_types(vocab.types)
    writer.add_token_merges(vocab.merges)
    adders = {"bos": writer.add_bos_token_id, "eos": writer.add_eos_token_id, "pad": writer.add_pad_token_id,
              "unk": writer.add_unk_token_id}
    for key, value in vocab.special.items():
        adders[key](value)
    writer.add_add_bos_token(vocab.add_bos)
    if chat_template:
        writer.add_chat_template(chat_template)
