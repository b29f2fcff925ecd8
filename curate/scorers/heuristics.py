"""Cheap validity and quality signals that need no model: lengths, turn structure, truncation,
repetition, chat-template token leakage and refusal boilerplate. Computed once per row; the
thresholds live in recipes and selection expressions, not here (data-juicer's stats/threshold split).
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from curate.schema import Message
from curate.scorers.base import Resources
from curate.scorers.heuristic_rules import REFUSAL_RE, TEMPLATE_RE, TEMPLATE_TOKENS, TERMINAL

COLUMNS = (
    "turns", "user_turns", "assistant_turns", "chars", "user_chars", "assistant_chars", "words", "tokens",
    "assistant_tokens", "role_order_ok", "ends_with_assistant", "truncated", "dup_line_frac",
    "dup_ngram_frac", "template_leak", "refusal",
)


def _role_order_ok(messages: list[Message]) -> bool:
    """system? then user first, no two user or two assistant turns in a row (tools may follow calls)."""
    roles = [m["role"] for m in messages]
    if "system" in roles[1:]:
        return False
    body = roles[1:] if roles and roles[0] == "system" else roles
    if not body or body[0] != "user":
        return False
    return all(not (a == b and a in ("user", "assistant")) for a, b in zip(body, body[1:]))


def _dup_line_frac(text: str) -> float:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return 1.0 - len(set(lines)) / len(lines) if len(lines) > 1 else 0.0


def _dup_ngram_frac(words: list[str], n: int = 5) -> float:
    """Share of word n-grams that repeat an earlier one (Gopher-style repetition)."""
    if len(words) <= n:
        return 0.0
    grams = set(zip(*(words[i:] for i in range(n))))  # the same tuples as words[i:i+n], built in C
    return 1.0 - len(grams) / (len(words) - n + 1)


def _truncated(messages: list[Message]) -> bool:
    last = messages[-1]
    if last["role"] != "assistant":
        return True
    text = last["content"].rstrip()
    return not text.endswith(TERMINAL) and not text[-1:].isdigit() and len(text) > 200 or text.endswith("...")


def _approx_tokens(text: str) -> int:
    """~4 characters per token for English BPE vocabularies; exact counts come from the trainer's
    tokenizer, this one only has to rank and budget rows without loading a model."""
    return (len(text) + 3) // 4


def heuristics(messages: list[Message]) -> dict[str, Any]:
    """The per-row definition of every column (the scorer computes the same values on columns)."""
    user = [m["content"] for m in messages if m["role"] == "user"]
    assistant = [m["content"] for m in messages if m["role"] == "assistant"]
    answer = "\n".join(assistant)
    answer_lower = answer.lower()
    all_text = "\n".join(m["content"] for m in messages)
    return {
        "turns": len(messages),
        "user_turns": len(user),
        "assistant_turns": len(assistant),
        "chars": len(all_text),
        "user_chars": sum(map(len, user)),
        "assistant_chars": len(answer),
        "words": len(all_text.split()),
        "tokens": _approx_tokens(all_text),
        "assistant_tokens": _approx_tokens(answer),
        "role_order_ok": _role_order_ok(messages),
        "ends_with_assistant": messages[-1]["role"] == "assistant",
        "truncated": _truncated(messages),
        "dup_line_frac": round(_dup_line_frac(answer), 4),
        "dup_ngram_frac": round(_dup_ngram_frac(answer_lower.split()), 4),
        "template_leak": bool(TEMPLATE_RE.search(all_text)),
        "refusal": bool(REFUSAL_RE.search(answer_lower)),
    }


class HeuristicsScorer:
    """No model, CPU only; ``tokens`` is a tokenizer-free estimate (characters / 4). Scores whole
    Arrow batches with column operations (``heuristic_columns``); ``heuristics`` above is the
    per-row definition it is tested against."""

    name = "heuristics"
    columns = COLUMNS
    resources = Resources(device="cpu", batch_size=2048)
    arrow_input = True  # score() takes the messages column as Arrow (lists are converted)

    def settings(self) -> dict[str, Any]:
        return {"version": 3, "template_tokens": len(TEMPLATE_TOKENS)}

    def score(self, conversations: list[list[Message]] | pa.Array | pa.ChunkedArray) -> dict[str, list[Any]]:
        from curate.loaders import MESSAGE_TYPE
        from curate.scorers.heuristic_columns import heuristic_values

        if not isinstance(conversations, (pa.Array, pa.ChunkedArray)):
            conversations = pa.array(conversations, MESSAGE_TYPE)
        return heuristic_values(conversations)
