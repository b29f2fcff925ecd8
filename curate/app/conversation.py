"""Side-by-side chats as data: what each column sends to its model, how each answer ended (in words),
and the whole conversation as JSON or Markdown. Streamlit-free, so it is tested directly.

A column's history is a list of messages: ``{"role": "user", "content": str}`` or
``{"role": "assistant", "answer": Answer, "interrupted": bool}``; the answer fills while it streams.
"""

from __future__ import annotations

import json
from typing import Any

from curate.train.generate import Answer


def assistant(answer: Answer) -> dict[str, Any]:
    return {"role": "assistant", "answer": answer, "interrupted": False}


def text(msg: dict[str, Any]) -> str:
    return msg["answer"].text if "answer" in msg else str(msg["content"])


def model_messages(history: list[dict[str, Any]], system: str = "") -> list[dict[str, str]]:
    """The chat a model sees: the shared system prompt, then every turn (a cut or stopped answer as far
    as it got; a failed answer is left out, as the model never said it)."""
    out = [{"role": "system", "content": system.strip()}] if system.strip() else []
    for m in history:
        if "answer" in m and (m["answer"].error or not m["answer"].text):
            continue
        out.append({"role": m["role"], "content": text(m)})
    return out


def tokens(n: int) -> str:
    return f"{n} token{'' if n == 1 else 's'}"


def ending(msg: dict[str, Any]) -> str:
    """How an answer ended (or that it is still running), for a reader: empty when the model ended it."""
    a: Answer = msg["answer"]
    if a.error:
        return f"error: {a.error}"
    if not a.done:
        return f"generating... {tokens(a.tokens)} ({a.tokens_per_s:.1f} tok/s)"
    if msg.get("interrupted"):
        return f"(interrupted by a new prompt after {tokens(a.tokens)})"
    if a.finish == "stopped":
        return f"(stopped after {tokens(a.tokens)})"
    if a.finish == "length":
        return f"(cut at {tokens(a.tokens)})"
    return ""


def stats(a: Answer) -> str:
    """Tokens, seconds, speed and time to the first token of a finished answer ('' while it runs:
    ``ending`` says so). The first token's delay is the prompt's processing: long chats make it grow."""
    if not a.done or not a.tokens:
        return ""
    first = f", first token after {a.first_token_s:.1f} s" if a.first_token_s is not None else ""
    return f"{tokens(a.tokens)} in {a.seconds:.1f} s ({a.tokens_per_s:.1f} tok/s{first})"


def no_text(msg: dict[str, Any]) -> str:
    """What to show in place of an answer that ended without a single token (an empty bubble reads as a
    display bug)."""
    a: Answer = msg["answer"]
    if a.error:
        return "no answer: it failed before the first token"
    if msg.get("interrupted"):
        return "no answer: interrupted by a new prompt before the first token"
    if a.finish == "stopped":
        return "no answer: stopped before the first token"
    return "the model ended its turn without writing anything"


def _record(msg: dict[str, Any]) -> dict[str, Any]:
    if "answer" not in msg:
        return {"role": msg["role"], "content": msg["content"]}
    a: Answer = msg["answer"]
    finish = "interrupted" if msg.get("interrupted") else a.finish
    return {"role": "assistant", "content": a.text, "finish": finish, "tokens": a.tokens,
            "seconds": round(a.seconds, 3), **({"error": a.error} if a.error else {})}


def to_json(chats: dict[str, list[dict[str, Any]]], labels: dict[str, str], system: str,
            settings: dict[str, Any]) -> str:
    """Every column's chat with how each answer ended, the system prompt and the settings."""
    doc = {"system": system, "settings": settings,
           "variants": [{"name": n, "label": labels.get(n, n), "messages": [_record(m) for m in h]}
                        for n, h in chats.items() if h]}
    return json.dumps(doc, ensure_ascii=False, indent=2)


def to_markdown(chats: dict[str, list[dict[str, Any]]], labels: dict[str, str], system: str,
                settings: dict[str, Any]) -> str:
    """The same as ``to_json``, for reading: one section per variant."""
    lines = ["# Compare", "", "Settings: " + ", ".join(f"{k}={v}" for k, v in settings.items())]
    if system.strip():
        lines += ["", f"System prompt: {system.strip()}"]
    for name, history in chats.items():
        if not history:
            continue
        lines += ["", f"## {labels.get(name, name)}"]
        for m in history:
            who = "User" if m["role"] == "user" else "Assistant"
            note = ending(m) if "answer" in m else ""
            lines += ["", f"**{who}:** {text(m)}" + (f" _{note}_" if note else "")]
    return "\n".join(lines) + "\n"
