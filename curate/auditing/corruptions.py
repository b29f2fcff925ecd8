"""Known corruptions of one conversation, the kinds real chat data has.

Each function is pure and deterministic: ``(messages, rng) -> Corrupted`` (``misaligned``,
``wrong_language`` and ``near_dup`` also take the donor conversation they borrow from). The first
assistant answer is the one corrupted (it is what turn-limited model scores read), except
``truncated``, which cuts that answer and drops the turns after it, as a scrape cut off mid-reply
would. What changed is recorded in ``Corrupted.detail`` so a test or a reader can verify it.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from curate.schema import Message

KINDS = ("misaligned", "truncated", "word_salad", "loop", "refusal", "template_leak", "mojibake",
         "restate", "wrong_language", "near_dup")
DONOR_KINDS = ("misaligned", "wrong_language", "near_dup")  # kinds that borrow another conversation

REFUSALS = (
    "I'm sorry, but I cannot help with that request.",
    "As an AI language model, I do not have personal opinions or the ability to browse the internet. "
    "Please consult a qualified professional for this.",
    "I apologize, but I am unable to provide assistance with this request as it goes against my guidelines.",
    "As a large language model, I cannot fulfill this request.",
    "I'm afraid I can't do that. Is there anything else I can help you with?",
    "Sorry, I am not able to assist with that. As an AI, I must follow content policies.",
)
LEAKS = ("<|im_end|>\n<|im_start|>user\n", "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
         "[/INST]", "</s><s>[INST] ", "<|endoftext|>", "<end_of_turn>\n<start_of_turn>model\n")
RESTATE = ("You are asking: {q}", "So the question is {q}", "To answer your question, {q}",
           "{q}", "Let me restate the request: {q}")
FILLERS = ("basically", "actually", "really", "just", "quite", "very", "so", "um")
# Characters that a UTF-8 -> cp1252 misdecode turns into mojibake, and their ASCII stand-ins.
_TYPOGRAPHIC = {"'": "\u2019", '"': "\u201c", "-": "\u2013", "...": "\u2026", " ": "\u00a0"}


@dataclass(frozen=True)
class Corrupted:
    """A corrupted conversation and what was done to it."""

    kind: str
    messages: list[Message]
    turn: int  # index of the message that was changed
    detail: dict[str, Any] = field(default_factory=dict)


def first_answer(messages: list[Message]) -> int:
    """Index of the first assistant message with text; ValueError when there is none."""
    for i, m in enumerate(messages):
        if m["role"] == "assistant" and m["content"].strip():
            return i
    raise ValueError("conversation has no assistant answer to corrupt")


def first_question(messages: list[Message]) -> str:
    return next((m["content"] for m in messages if m["role"] == "user"), "")


def _with_answer(messages: list[Message], i: int, text: str) -> list[Message]:
    out = [dict(m) for m in messages]
    out[i]["content"] = text
    return out


def misaligned(messages: list[Message], rng: random.Random, donor: list[Message]) -> Corrupted:
    """The first answer is replaced by the first answer of another conversation."""
    i, d = first_answer(messages), first_answer(donor)
    return Corrupted("misaligned", _with_answer(messages, i, donor[d]["content"]), i,
                     {"donor_answer_chars": len(donor[d]["content"])})


def truncated(messages: list[Message], rng: random.Random) -> Corrupted:
    """The first answer is cut mid-sentence after 15-75% of its words; the turns after it go."""
    i = first_answer(messages)
    words = messages[i]["content"].split(" ")
    if len(words) < 3:  # too short to cut by words: cut by characters
        text = messages[i]["content"]
        cut = text[: max(1, int(len(text) * rng.uniform(0.3, 0.7)))]
    else:
        keep = min(len(words) - 1, max(2, round(len(words) * rng.uniform(0.15, 0.75))))
        cut = " ".join(words[:keep])
    cut = cut.rstrip().rstrip(".!?;:,)]}\"'`*>|~")  # mid-sentence: no terminal punctuation
    if not cut:
        cut = messages[i]["content"].split()[0].rstrip(".!?") or "The"
    out = _with_answer(messages, i, cut)[: i + 1]
    return Corrupted("truncated", out, i, {"chars_before": len(messages[i]["content"]), "chars_after": len(cut),
                                           "turns_dropped": len(messages) - i - 1})


def word_salad(messages: list[Message], rng: random.Random) -> Corrupted:
    """The first answer's words in a random order."""
    i = first_answer(messages)
    words = messages[i]["content"].split()
    shuffled = words[:]
    for _ in range(3):  # a 2-word answer can shuffle back to itself: reverse as the last resort
        rng.shuffle(shuffled)
        if shuffled != words or len(set(words)) < 2:
            break
    if shuffled == words and len(set(words)) > 1:
        shuffled = words[::-1]
    return Corrupted("word_salad", _with_answer(messages, i, " ".join(shuffled)), i, {"words": len(words)})


def loop(messages: list[Message], rng: random.Random) -> Corrupted:
    """The answer starts normally, then one 4-12 word span repeats 6-15 times (a degenerate decode)."""
    i = first_answer(messages)
    words = messages[i]["content"].split()
    start = rng.randrange(0, max(1, len(words) // 3))
    span = words[start: start + rng.randint(4, 12)] or ["the", "answer", "is"]
    times = rng.randint(6, 15)
    text = " ".join(words[:start] + span * times)
    return Corrupted("loop", _with_answer(messages, i, text), i, {"span": " ".join(span), "times": times})


def refusal(messages: list[Message], rng: random.Random) -> Corrupted:
    """The answer becomes canned refusal boilerplate."""
    i = first_answer(messages)
    text = rng.choice(REFUSALS)
    return Corrupted("refusal", _with_answer(messages, i, text), i, {"template": REFUSALS.index(text)})


def template_leak(messages: list[Message], rng: random.Random) -> Corrupted:
    """A chat-template control sequence lands inside the answer (at its end or mid-text)."""
    i = first_answer(messages)
    text, leak = messages[i]["content"], rng.choice(LEAKS)
    cut = text.rfind(" ", 0, rng.randint(len(text) // 2, len(text))) if rng.random() < 0.5 else -1
    out = text + leak if cut <= 0 else text[:cut] + leak + text[cut:]
    return Corrupted("template_leak", _with_answer(messages, i, out), i, {"leak": leak})


def mojibake(messages: list[Message], rng: random.Random) -> Corrupted:
    """UTF-8 text decoded as cp1252 (the classic 'â€™'); ASCII-only answers get typographic quotes,
    dashes and non-breaking spaces first, as text copied from a word processor has."""
    i = first_answer(messages)
    text = messages[i]["content"]
    if text.isascii():
        for plain, fancy in _TYPOGRAPHIC.items():
            text = text.replace(plain, fancy, max(1, text.count(plain) // 10) if plain == " " else -1)
    garbled = text.encode("utf-8").decode("cp1252", errors="replace")
    if garbled == text:
        garbled = text + " \ufffd\ufffd"
    return Corrupted("mojibake", _with_answer(messages, i, garbled), i,
                     {"changed_chars": sum(a != b for a, b in zip(garbled, messages[i]["content"]))})


def restate(messages: list[Message], rng: random.Random) -> Corrupted:
    """The answer only restates the question (its first 80 words) in a frame sentence."""
    i = first_answer(messages)
    question = " ".join(first_question(messages[:i]).split()[:80]) or messages[i]["content"][:200]
    frame = rng.choice(RESTATE)
    return Corrupted("restate", _with_answer(messages, i, frame.format(q=question)), i, {"frame": frame})


def wrong_language(messages: list[Message], rng: random.Random, donor: list[Message]) -> Corrupted:
    """The answer is replaced by an answer in another language (``donor``'s first answer)."""
    out = misaligned(messages, rng, donor)
    return Corrupted("wrong_language", out.messages, out.turn, out.detail)


_PUNCT = re.compile(r"[.,;:!?]")


def _edit_word(word: str, rng: random.Random) -> str:
    op = rng.randrange(4)
    if op == 0:
        return word.upper() if not word.isupper() else word.lower()
    if op == 1 and _PUNCT.search(word):
        return _PUNCT.sub("", word)
    if op == 2:
        return rng.choice(FILLERS)
    return word + " "  # a doubled space after the word


def near_dup(messages: list[Message], rng: random.Random, donor: list[Message]) -> Corrupted:
    """A copy of ``donor`` with 2-6% of its words edited (case, punctuation, filler words, spaces)."""
    rate = rng.uniform(0.02, 0.06)
    out, edited, total = [], 0, 0
    for m in donor:
        words = m["content"].split(" ")
        for k in range(len(words)):
            if words[k] and rng.random() < rate:
                words[k] = _edit_word(words[k], rng)
                edited += 1
        total += len(words)
        out.append({"role": m["role"], "content": " ".join(words)})
    if edited == 0:  # a short conversation still gets one edit
        i = first_answer(out)
        out[i]["content"] = rng.choice(FILLERS).capitalize() + ", " + out[i]["content"]
        edited = 1
    return Corrupted("near_dup", out, first_answer(out), {"edited_words": edited, "words": total,
                                                          "edit_rate": round(edited / max(total, 1), 4)})


CORRUPTIONS: dict[str, Callable[..., Corrupted]] = {
    "misaligned": misaligned, "truncated": truncated, "word_salad": word_salad, "loop": loop,
    "refusal": refusal, "template_leak": template_leak, "mojibake": mojibake, "restate": restate,
    "wrong_language": wrong_language, "near_dup": near_dup,
}


def corrupt(kind: str, messages: list[Message], seed: int, donor: list[Message] | None = None) -> Corrupted:
    """Apply corruption ``kind`` with its own RNG seeded by ``seed``; donor kinds need ``donor``."""
    if kind not in CORRUPTIONS:
        raise ValueError(f"unknown corruption kind {kind!r}; allowed: {', '.join(KINDS)}")
    rng = random.Random(f"{kind}:{seed}")
    if kind in DONOR_KINDS:
        if donor is None:
            raise ValueError(f"corruption {kind!r} needs a donor conversation")
        return CORRUPTIONS[kind](messages, rng, donor)
    return CORRUPTIONS[kind](messages, rng)
