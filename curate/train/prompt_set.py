"""The prompt set: the shipped ``prompts/default.jsonl`` or a user's JSONL/JSON file in our format
(``prompt``), MT-Bench (``turns``), AlpacaEval (``instruction``) or ``messages``/``conversations``. One
parser serves the evaluation and the app, so the app offers exactly the prompts the evaluation asks."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from curate.errors import UserError
from curate.schema import SHAREGPT_ROLES

DEFAULT_PROMPTS = Path(__file__).parent / "prompts" / "default.jsonl"


def _messages(rec: Any, where: str) -> list[dict]:
    if isinstance(rec, str):
        rec = {"prompt": rec}
    if not isinstance(rec, dict):
        raise UserError(f"{where}: a prompt is a JSON object or string, got {type(rec).__name__}")
    if "messages" in rec or "conversations" in rec:
        raw = rec.get("messages") or rec.get("conversations") or []
        msgs = [{"role": SHAREGPT_ROLES.get(m.get("role") or m.get("from"), m.get("role") or m.get("from")),
                 "content": m.get("content", m.get("value", ""))} for m in raw]
        while msgs and msgs[-1]["role"] == "assistant":  # a reference answer is not part of the prompt
            msgs.pop()
    elif "turns" in rec:  # MT-Bench: the first turn
        msgs = [{"role": "user", "content": rec["turns"][0]}]
    elif "instruction" in rec:  # AlpacaEval / Alpaca
        text = rec["instruction"] + (f"\n\n{rec['input']}" if rec.get("input") else "")
        msgs = [{"role": "user", "content": text}]
    elif "prompt" in rec:
        msgs = [{"role": "user", "content": rec["prompt"]}]
    else:
        raise UserError(f"{where}: a prompt needs 'prompt', 'instruction', 'turns' or 'messages'")
    if not msgs or not any(str(m["content"]).strip() for m in msgs):
        raise UserError(f"{where}: empty prompt")
    return msgs


def _read(path: Path) -> list[tuple[str, Any]]:
    """``(where, record)`` per JSON array item or non-blank JSONL line; a line that is not JSON is a
    ``UserError`` naming it."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"prompt file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"cannot read prompt file {path}: {e}") from e
    if path.suffix == ".json":
        try:
            recs = json.loads(text)
        except json.JSONDecodeError as e:
            raise UserError(f"{path}: not valid JSON ({e})") from e
        if not isinstance(recs, list):
            raise UserError(f"{path}: a JSON prompt file holds a list of prompts")
        return [(f"{path} item {i}", rec) for i, rec in enumerate(recs)]
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                out.append((f"{path} line {n}", json.loads(line)))
            except json.JSONDecodeError as e:
                raise UserError(f"{path} line {n}: not valid JSON ({e.msg} at column {e.colno})") from e
    return out


def load_prompts(prompts: str | Path | Sequence[Any] | None = None, n: int | None = None) -> list[dict]:
    """``[{"id", "messages"}]`` from the shipped set (None), a prompt file or a list of records (or
    strings); the first ``n``. Bad records, unreadable files and duplicate ids are ``UserError``s."""
    if prompts is None or isinstance(prompts, (str, Path)):
        path = Path(prompts) if prompts is not None else DEFAULT_PROMPTS
        recs, where = _read(path), str(path)
    else:
        recs, where = [(f"prompts item {i}", rec) for i, rec in enumerate(prompts)], "prompts"
    out = []
    for i, (at, rec) in enumerate(recs):
        fields = rec if isinstance(rec, dict) else {}
        pid = str(fields.get("id", fields.get("prompt_id", fields.get("question_id", i))))
        out.append({"id": pid, "messages": _messages(rec, at)})
    if not out:
        raise UserError(f"{where}: no prompts")
    dupes = sorted({p["id"] for p in out if sum(q["id"] == p["id"] for q in out) > 1})
    if dupes:
        raise UserError(f"{where}: duplicate prompt ids {dupes[:5]}")
    return out[:n] if n else out


def prompt_text(prompt: dict) -> str:
    """The question a loaded prompt asks: its last turn (what the answers record and the app offers)."""
    return prompt["messages"][-1]["content"]
