"""A subset folder becomes token ids with labels that carry loss on assistant tokens only.

Labels are built here, not by the trainer, so every backend (TRL, Unsloth) trains on exactly the same
tokens. The assistant spans come from the model's own chat template: for each assistant turn, the text
rendered up to the generation prompt is a prefix of the text rendered with the turn, and the characters
in between are the answer (plus its end-of-turn token). That works for any prefix-stable template
(ChatML, SmolLM2, Llama-3.x) without ``{% generation %}`` markers; templates that carry the markers
but are not prefix-stable fall back to ``return_assistant_tokens_mask``.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from curate.errors import UserError
from curate.rundir import SubsetFiles

IGNORE = -100


@dataclass
class SubsetRows:
    """The conversations of one subset, with where they came from."""

    name: str
    path: Path
    ids: list[str]
    messages: list[list[dict[str, str]]]
    skipped: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ids)


def _clean(messages: Any) -> list[dict[str, str]]:
    return [{"role": str(m["role"]), "content": str(m["content"])} for m in (messages or [])]


def load_subset(path: str | Path) -> SubsetRows:
    """Read ``RUN/subsets/NAME/data.parquet`` (or ``data.jsonl`` in ShareGPT/messages form).

    Rows without an assistant turn carry no training signal and are skipped (counted); a subset that is
    empty, or has no assistant turn at all, is a ``UserError``.
    """
    path = Path(path)
    if path.is_file():
        path = path.parent
    if not path.is_dir():
        raise UserError(f"subset folder not found: {path}")
    files = SubsetFiles(path)
    parquet, jsonl = files.data, files.jsonl
    ids: list[str] = []
    convs: list[list[dict[str, str]]] = []
    if parquet.exists():
        import pyarrow.parquet as pq

        table = pq.read_table(parquet)
        if "messages" not in table.column_names:
            raise UserError(f"{parquet} has no 'messages' column (columns: {table.column_names})")
        raw_ids = table.column("id").to_pylist() if "id" in table.column_names else [None] * table.num_rows
        raw = table.column("messages").to_pylist()
    elif jsonl.exists():
        import json

        from curate.schema import InvalidRecord, normalize

        raw_ids, raw = [], []
        for n, line in enumerate(jsonl.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                msgs, _ = normalize(rec)
            except (json.JSONDecodeError, InvalidRecord) as e:
                raise UserError(f"{jsonl}:{n}: unreadable conversation ({e})") from e
            raw_ids.append(rec.get("id"))
            raw.append(msgs)
    else:
        raise UserError(f"subset folder {path} has neither {parquet.name} nor {jsonl.name}")
    if not raw:
        raise UserError(f"subset {path.name!r} is empty ({path}); select at least a few rows to train on")
    from curate.schema import conversation_id

    no_assistant = 0
    for rid, msgs in zip(raw_ids, raw, strict=True):
        m = _clean(msgs)
        if not any(t["role"] == "assistant" and t["content"].strip() for t in m):
            no_assistant += 1
            continue
        ids.append(rid or conversation_id(m))
        convs.append(m)
    if not convs:
        raise UserError(f"subset {path.name!r} has no assistant turns in any of its {len(raw)} rows: "
                        "nothing to learn from (assistant-only loss)")
    skipped = {"no_assistant_turn": no_assistant} if no_assistant else {}
    return SubsetRows(path.name, path, ids, convs, skipped)


def _has_generation_markers(tokenizer: Any) -> bool:
    return re.search(r"{%-?\s*generation\s*-?%}", getattr(tokenizer, "chat_template", None) or "") is not None


def assistant_char_spans(tokenizer: Any, messages: list[dict[str, str]]) -> tuple[str, list[tuple[int, int]]] | None:
    """The rendered conversation and the character spans of its assistant answers, or None when the
    template is not prefix-stable (it rewrites earlier turns once later ones exist)."""
    render = tokenizer.apply_chat_template
    text = render(messages, tokenize=False)
    spans = []
    for i, m in enumerate(messages):
        if m["role"] != "assistant":
            continue
        before = render(messages[:i], tokenize=False, add_generation_prompt=True) if i else ""
        upto = render(messages[: i + 1], tokenize=False).rstrip()
        if not (upto.startswith(before) and text.startswith(upto)):
            return None
        spans.append((len(before), len(upto)))
    return text, spans


def encode(tokenizer: Any, messages: list[dict[str, str]], max_length: int) -> dict[str, list[int]]:
    """``input_ids`` and ``labels`` (``-100`` on every token that is not part of an assistant answer)."""
    rendered = assistant_char_spans(tokenizer, messages)
    if rendered is not None:
        text, spans = rendered
        enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        ids = list(enc["input_ids"])
        mask = [any(s <= a < e for s, e in spans) and b > a for a, b in enc["offset_mapping"]]
    elif _has_generation_markers(tokenizer):
        enc = tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True,
                                            return_assistant_tokens_mask=True)
        ids, mask = list(enc["input_ids"]), [bool(x) for x in enc["assistant_masks"]]
    else:
        raise UserError("the chat template rewrites earlier turns and has no {% generation %} markers: "
                        "assistant-only labels cannot be derived; use a template with generation markers")
    ids, mask = ids[:max_length], mask[:max_length]
    return {"input_ids": ids, "labels": [t if keep else IGNORE for t, keep in zip(ids, mask, strict=True)]}


def tokenize_rows(tokenizer: Any, convs: list[list[dict[str, str]]], max_length: int) -> tuple[Any, int]:
    """A ``datasets.Dataset`` of ``input_ids``/``labels`` and how many rows were dropped because
    truncation to ``max_length`` left no assistant token."""
    from datasets import Dataset
    from tqdm.auto import tqdm

    rows, dropped = [], 0
    for msgs in tqdm(convs, desc="tokenizing", leave=False):
        enc = encode(tokenizer, msgs, max_length)
        if all(x == IGNORE for x in enc["labels"]):
            dropped += 1
            continue
        rows.append(enc)
    return Dataset.from_list(rows) if rows else None, dropped


def split_indices(n: int, val_fraction: float, max_val: int, seed: int) -> tuple[list[int], list[int]]:
    """A seeded train/validation split; validation gets at least one row when asked for and possible."""
    order = list(range(n))
    random.Random(seed).shuffle(order)
    n_val = min(max_val, round(n * val_fraction)) if val_fraction > 0 else 0
    if val_fraction > 0 and n_val == 0 and n >= 2 and max_val > 0:
        n_val = 1
    return sorted(order[n_val:]), sorted(order[:n_val])
