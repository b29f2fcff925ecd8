"""The one conversation shape curate works on, and the formats it reads and writes.

Every input (ShareGPT, OpenAI ``messages``, Alpaca) becomes a list of ``{"role", "content"}``
messages with roles ``system | user | assistant | tool``. A record that cannot be normalized raises
:class:`InvalidRecord` with a short machine-readable reason, so loaders can quarantine it instead
of dropping it silently.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from curate.errors import UserError

ROLES = ("system", "user", "assistant", "tool")

# ShareGPT speaker names seen in the wild (FineTome, The Tome, ShareGPT V3, Glaive, ...).
SHAREGPT_ROLES: dict[str, str] = {
    "system": "system",
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "chatgpt": "assistant",
    "bing": "assistant",
    "bard": "assistant",
    "model": "assistant",
    "function_call": "assistant",
    "observation": "tool",
    "tool": "tool",
    "function_response": "tool",
}
ROLE_TO_SHAREGPT = {"system": "system", "user": "human", "assistant": "gpt", "tool": "tool"}

Message = dict[str, str]


class InvalidRecord(ValueError):
    """A record that cannot become a conversation; ``reason`` is a stable key for counting."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


def detect_format(record: Mapping[str, Any]) -> str:
    if "conversations" in record:
        return "sharegpt"
    if "messages" in record:
        return "messages"
    if "instruction" in record and "output" in record:
        return "alpaca"
    raise InvalidRecord(
        "missing_column",
        f"expected 'conversations', 'messages' or 'instruction'+'output', got {sorted(record)[:8]}",
    )


def _check(messages: list[Message]) -> list[Message]:
    if not messages:
        raise InvalidRecord("empty_conversation")
    for i, m in enumerate(messages):
        if not m["content"].strip():
            raise InvalidRecord("empty_turn", f"message {i} ({m['role']}) is empty")
    if not any(m["role"] == "assistant" for m in messages):
        raise InvalidRecord("no_assistant_turn")
    return messages


# --- repairs: malformed conversations that still hold a good exchange are fixed, not dropped ----------


def _whitespace(messages: list[Message]) -> list[Message]:
    """Each turn stripped; blank-line runs inside a turn are kept (code and markdown rely on them)."""
    return [{"role": m["role"], "content": m["content"].strip()} for m in messages]


def _empty_turns(messages: list[Message]) -> list[Message]:
    return [m for m in messages if m["content"].strip()]


def _merge_same_role(messages: list[Message]) -> list[Message]:
    """Consecutive user (or assistant) turns joined with a blank line; tool results stay separate calls."""
    out: list[Message] = []
    for m in messages:
        if out and m["role"] == out[-1]["role"] and m["role"] in ("user", "assistant"):
            out[-1] = {"role": m["role"], "content": out[-1]["content"] + "\n\n" + m["content"]}
        else:
            out.append(m)
    return out


def _leading_assistant(messages: list[Message]) -> list[Message]:
    """Assistant turns before the first user turn (after an optional system prompt): a greeting."""
    start = 1 if messages and messages[0]["role"] == "system" else 0
    end = start
    while end < len(messages) and messages[end]["role"] == "assistant":
        end += 1
    return messages[:start] + messages[end:]


def _trailing_user(messages: list[Message]) -> list[Message]:
    """User turns after the last answer: a question nobody answered teaches nothing."""
    end = len(messages)
    while end and messages[end - 1]["role"] == "user":
        end -= 1
    return messages[:end]


# Applied in this order: whitespace first so a blank turn is seen as empty, empty turns before merging
# so the turns around a removed one merge. curate.arrow_normalize does the same on columns.
_REPAIRS = {"whitespace": _whitespace, "empty_turns": _empty_turns, "merge_same_role": _merge_same_role,
            "leading_assistant": _leading_assistant, "trailing_user": _trailing_user}
REPAIRS = tuple(_REPAIRS)


def repair_names(repairs: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """The given repairs in :data:`REPAIRS` order; an unknown name is a UserError naming the allowed ones."""
    unknown = sorted(set(repairs) - set(REPAIRS))
    if unknown:
        raise UserError(f"unknown repairs {unknown}; allowed: {', '.join(REPAIRS)}")
    return tuple(r for r in REPAIRS if r in repairs)


def repair(messages: list[Message], repairs: tuple[str, ...] | list[str] = REPAIRS) -> tuple[list[Message], list[str]]:
    """``(repaired messages, names of the repairs that changed something)``, in :data:`REPAIRS` order."""
    repair_names(repairs)
    done = []
    for name, fix in _REPAIRS.items():
        if name in repairs and (fixed := fix(messages)) != messages:
            messages = fixed
            done.append(name)
    return messages, done


def _content(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise InvalidRecord("non_string_content", f"{where} is {type(value).__name__}")
    return value


def _from_sharegpt(turns: Any) -> list[Message]:
    if not isinstance(turns, list):
        raise InvalidRecord("bad_structure", f"'conversations' is {type(turns).__name__}, not a list")
    out = []
    for i, t in enumerate(turns):
        if not isinstance(t, Mapping) or "from" not in t or "value" not in t:
            raise InvalidRecord("bad_structure", f"turn {i} lacks 'from'/'value'")
        who = str(t["from"]).strip().lower()
        if who not in SHAREGPT_ROLES:
            raise InvalidRecord("unknown_role", f"turn {i} has role {t['from']!r}")
        out.append({"role": SHAREGPT_ROLES[who], "content": _content(t["value"], f"turn {i} value")})
    return out


def _from_messages(msgs: Any) -> list[Message]:
    if not isinstance(msgs, list):
        raise InvalidRecord("bad_structure", f"'messages' is {type(msgs).__name__}, not a list")
    out = []
    for i, m in enumerate(msgs):
        if not isinstance(m, Mapping) or "role" not in m or "content" not in m:
            raise InvalidRecord("bad_structure", f"message {i} lacks 'role'/'content'")
        role = str(m["role"]).strip().lower()
        role = SHAREGPT_ROLES.get(role, role) if role not in ROLES else role
        if role not in ROLES:
            raise InvalidRecord("unknown_role", f"message {i} has role {m['role']!r}")
        out.append({"role": role, "content": _content(m["content"], f"message {i} content")})
    return out


def _from_alpaca(rec: Mapping[str, Any]) -> list[Message]:
    instruction = _content(rec["instruction"], "instruction")
    extra = rec.get("input") or ""
    extra = _content(extra, "input")
    prompt = f"{instruction}\n\n{extra}" if extra.strip() else instruction
    out = []
    if isinstance(rec.get("system"), str) and rec["system"].strip():
        out.append({"role": "system", "content": rec["system"]})
    out += [{"role": "user", "content": prompt}, {"role": "assistant", "content": _content(rec["output"], "output")}]
    return out


FORMAT_COLUMNS = {"sharegpt": ("conversations",), "messages": ("messages",), "alpaca": ("instruction", "input", "output", "system")}


@dataclass
class Normalized:
    """A readable record: its messages (repaired where that helped), other columns, the repairs done and,
    for a repaired record, the messages as they came (for ``original_id``)."""

    messages: list[Message]
    extra: dict[str, Any]
    repairs: list[str]
    original: list[Message] | None


def _messages(record: Mapping[str, Any], fmt: str | None) -> tuple[list[Message], dict[str, Any]]:
    """The record's messages (unchecked) and its other columns."""
    if not isinstance(record, Mapping):
        raise InvalidRecord("bad_structure", f"record is {type(record).__name__}, not an object")
    fmt = fmt or detect_format(record)
    try:
        if fmt == "sharegpt":
            messages = _from_sharegpt(record["conversations"])
        elif fmt == "messages":
            messages = _from_messages(record["messages"])
        elif fmt == "alpaca":
            messages = _from_alpaca(record)
        else:
            raise ValueError(f"unknown format {fmt!r}; use one of {sorted(FORMAT_COLUMNS)}")
    except KeyError as e:
        raise InvalidRecord("missing_column", f"{fmt} record lacks {e.args[0]!r}") from None
    extra = {k: v for k, v in record.items() if k not in FORMAT_COLUMNS[fmt] and k != "id"}
    if "id" in record:
        extra["source_id"] = record["id"]
    return messages, extra


def read_record(record: Mapping[str, Any], fmt: str | None = None,
                repairs: tuple[str, ...] | list[str] = REPAIRS) -> Normalized:
    """The record normalized and repaired. A repair that leaves no readable conversation is undone: the
    record is then judged as it came (kept, or :class:`InvalidRecord` with its own reason), so a repair
    never turns a readable row into a quarantined one."""
    messages, extra = _messages(record, fmt)
    fixed, done = repair(messages, repairs)
    if done:
        try:
            return Normalized(_check(fixed), extra, done, messages)
        except InvalidRecord:
            pass
    return Normalized(_check(messages), extra, [], None)


def normalize(record: Mapping[str, Any], fmt: str | None = None) -> tuple[list[Message], dict[str, Any]]:
    """Return ``(messages, extra_columns)`` as the record came (no repairs); raises :class:`InvalidRecord`."""
    r = read_record(record, fmt, repairs=())
    return r.messages, r.extra


def conversation_id(messages: list[Message]) -> str:
    """Stable across datasets, runs and machines: the same conversation gets the same id."""
    canon = json.dumps([[m["role"], m["content"].strip()] for m in messages], ensure_ascii=False, separators=(",", ":"))
    return hashlib.blake2b(canon.encode("utf-8"), digest_size=16).hexdigest()


def to_sharegpt(messages: list[Message]) -> list[dict[str, str]]:
    return [{"from": ROLE_TO_SHAREGPT[m["role"]], "value": m["content"]} for m in messages]


def to_messages(messages: list[Message]) -> list[dict[str, str]]:
    return [{"role": m["role"], "content": m["content"]} for m in messages]


def conversation_text(messages: list[Message]) -> str:
    """Plain text of a conversation, for hashing, n-grams and embeddings."""
    return "\n".join(f"{m['role']}: {m['content']}" for m in messages)


def instruction_text(messages: list[Message]) -> str:
    """The prompt side: system and user turns before the first assistant answer."""
    out = []
    for m in messages:
        if m["role"] == "assistant":
            break
        out.append(m["content"])
    return "\n".join(out)


def first_user(messages: Sequence[Message]) -> str:
    """The first user turn's text ('' when there is none)."""
    return next((m["content"] for m in messages if m["role"] == "user"), "")


def first_exchange(messages: Sequence[Message]) -> tuple[str, str, str]:
    """The first user turn, the first assistant answer after it and the user turn after that answer
    ('' for a missing one): what the per-answer scorers read and the detector's alignment compares."""
    question = answer = ""
    for m in messages:
        if m["role"] == "user" and not question:
            question = m["content"]
        elif m["role"] == "assistant" and question and not answer:
            answer = m["content"]
        elif m["role"] == "user" and answer:
            return question, answer, m["content"]
    return question, answer, ""


def response_text(messages: list[Message]) -> str:
    return "\n".join(m["content"] for m in messages if m["role"] == "assistant")
