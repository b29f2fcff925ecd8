"""Known corruptions of one conversation, the kinds real chat data has, as families of variants.

A *family* is one kind of damage (truncation, repetition, non-answers, misalignment, encoding and
markup, language, ...); its *variants* are different ways the same damage shows up (cut mid-sentence,
cut at a clean sentence end, a list that stops early, ...). ``FAMILIES`` maps family -> variants,
``VARIANTS`` lists them all, ``family_of(variant)`` goes back. A score or detector tuned on some
variants of a family and measured on the others tells whether it caught the damage or one phrasing
of it (``curate.auditing.plant.split_variants``). ``KINDS`` are the ten original variants, the
audit's default so its results stay comparable.

Each function is pure and deterministic: ``(messages, rng) -> Corrupted`` (the ``DONOR_KINDS`` also
take the donor conversation they borrow from). The first assistant answer is the one corrupted (it is
what turn-limited model scores read); the truncations also drop the turns after it, as a scrape cut
off mid-reply would. What changed is recorded in ``Corrupted.detail`` so a test or a reader can verify
it; ``detail["fallback"]`` says when a variant did not fit the row (no list to cut, no code fence, a
single-turn row) and what was done instead (``fits`` tells beforehand, so ``plant`` can pick rows
that fit).
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from curate.schema import Message, first_user
from curate.scorers.heuristic_rules import TERMINAL

KINDS = ("misaligned", "truncated", "word_salad", "loop", "refusal", "template_leak", "mojibake",
         "restate", "wrong_language", "near_dup")  # the original ten: the audit's default
FAMILIES: dict[str, tuple[str, ...]] = {  # the first variant of each family is its original one
    "truncation": ("truncated", "truncated_sentence", "truncated_list", "unclosed_fence", "announced_nothing"),
    "repetition": ("loop", "repeated_sentence", "doubled_answer", "repeated_paragraph"),
    "non_answer": ("refusal", "refusal_paraphrase", "placeholder", "continue_prompt"),
    "misalignment": ("misaligned", "misaligned_topic", "misaligned_next_turn"),
    "encoding": ("mojibake", "html_residue", "escaped_newlines", "markdown_residue"),
    "language": ("wrong_language", "code_switch"),
    "word_salad": ("word_salad",), "template_leak": ("template_leak",), "restate": ("restate",),
    "near_dup": ("near_dup",),
}
VARIANTS = tuple(v for variants in FAMILIES.values() for v in variants)
_FAMILY_OF = {v: fam for fam, variants in FAMILIES.items() for v in variants}
# variants that borrow another conversation (misaligned_next_turn only for rows with one answer)
DONOR_KINDS = ("misaligned", "misaligned_topic", "wrong_language", "code_switch", "near_dup")
OPTIONAL_DONOR_KINDS = ("misaligned_next_turn",)

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

# Refusals without the usual words ("sorry", "cannot", "as an AI", "unable"): what a phrase list misses.
REFUSAL_PARAPHRASES = (
    "That's not something I'm going to get into.",
    "I'd rather not weigh in on this one.",
    "This falls outside what I'm able to talk about here.",
    "Let's leave that topic aside and talk about something else.",
    "I won't be going into that.",
    "That isn't a question I'll answer.",
    "I'm going to pass on this request.",
    "Maybe ask someone who specialises in this; it's not a road I'll go down.",
    "That's beyond what I'm willing to help with.",
    "I'll have to decline this one.",
    "Not a topic I'll discuss, I'm afraid.",
    "You'd be better served by a professional for this; I'll stay out of it.",
    "Hmm, I'd prefer to steer clear of that.",
    "This is something I need to sit out.",
    "Let me stop you there: I don't take on requests like this.",
)
REDIRECTS = ("Is there something else on your mind?", "Happy to help with anything else, though.",
             "Feel free to ask me about something different.", "")
PLACEHOLDERS = ("[insert answer here]", "TODO", "N/A", "...", "[Your answer here]", "<answer>", "TBD",
                "(answer pending)", "[placeholder]", "Lorem ipsum dolor sit amet.", "null", "-", "{response}")
CONTINUES = ("continue", "Please continue.", "Continue", "continue writing please", "Go on.", "keep going",
             "Continue from where you left off.", "(continued)", "Continue.", "please continue",
             "Continue the answer.", "more")
ANNOUNCEMENTS = ("Here is the code:", "Here are the steps:", "Here's an example:", "Sure! Here's the updated version:",
                 "The full list is below:", "Here is a summary of the main points:", "You can use the following script:",
                 "Here's how you can do it:", "Below is the table you asked for:", "Here is the revised text:",
                 "Try this:", "The steps are as follows:", "Here is what I came up with:")
HTML_WRAPPERS = ('<div class="markdown prose w-full break-words dark:prose-invert light">',
                 '<div class="post-content">', '<div class="answer">', '<div class="s-prose js-post-body">')
UI_TEXT = ("Copy code", "Regenerate response", "1 / 1", "Share", "Was this answer helpful?")
_SENTENCE_END = re.compile(r"[.!?][\"')\]]*(?=\s)")
_LIST_ITEM = re.compile(r"(?m)^[ \t]*(?:[-*\u2022+]|\d{1,3}[.)])[ \t]+\S")
_FENCE = re.compile(r"(?m)^[ \t]*```")
_PARAGRAPH = re.compile(r"\n[ \t]*\n")


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
    cut = cut.rstrip().rstrip("".join(TERMINAL) + ",")  # mid-sentence: no ending any scorer reads as finished
    if not cut:
        cut = messages[i]["content"].split()[0].rstrip(".!?") or "The"
    if cut == messages[i]["content"]:  # a 1-2 character answer such as ';)'
        cut = "The"
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
    text = " ".join(shuffled)
    if text == messages[i]["content"]:  # one word: its characters in reverse, else a filler before it
        text = text[::-1] if text[::-1] != text else f"{rng.choice(FILLERS)} {text}"
    return Corrupted("word_salad", _with_answer(messages, i, text), i, {"words": len(words)})


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
    question = " ".join(first_user(messages[:i]).split()[:80]) or messages[i]["content"][:200]
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


# --- helpers for the variants below ---------------------------------------------------------------


def _cut(messages: list[Message], i: int, text: str) -> list[Message]:
    """The answer replaced by ``text`` and the turns after it dropped: a reply that stopped there."""
    return _with_answer(messages, i, text)[: i + 1]


def _cut_detail(messages: list[Message], i: int, text: str, **extra: Any) -> dict[str, Any]:
    return {"chars_before": len(messages[i]["content"]), "chars_after": len(text),
            "turns_dropped": len(messages) - i - 1, **extra}


def _sentence_cuts(text: str, lo: float = 0.2) -> list[int]:
    """Ends of sentences or lines (after . ! ? and closing quotes, not after a list number) at >= ``lo``
    of ``text`` with more text after them."""
    body = text.rstrip()
    return [m.end() for m in _SENTENCE_END.finditer(body)
            if m.end() >= lo * len(body) and not body[m.start() - 1: m.start()].isdigit() and body[m.end():].strip()]


def _pieces(text: str, bounds: list[int]) -> list[str]:
    edges = [0, *bounds, len(text)]
    return [text[a:b] for a, b in zip(edges, edges[1:]) if text[a:b].strip()]


def _other(text: str, bank: tuple[str, ...], rng: random.Random) -> str:
    """An entry of ``bank`` that differs from ``text`` (a real answer may already be 'N/A')."""
    return rng.choice([b for b in bank if b.strip() != text.strip()])


def _fallback_cut(text: str, rng: random.Random) -> str:
    """A cut at a word boundary ended by a full stop, for answers without a sentence end to cut at."""
    words = text.split()
    if len(words) >= 2:
        keep = min(len(words) - 1, max(1, round(len(words) * rng.uniform(0.3, 0.8))))
        return " ".join(words[:keep]).rstrip(",;:-") + "."
    cut = text.strip()[: max(1, len(text.strip()) // 2)].rstrip(".!?") + "."
    return cut if cut != text.strip() else "The."


def _fenced_blocks(text: str) -> list[tuple[int, int]]:
    """(opening fence start, closing fence start) of each closed fenced code block."""
    fences = [m.start() for m in _FENCE.finditer(text)]
    return list(zip(fences[0::2], fences[1::2]))


def _paragraphs(text: str) -> list[str]:
    return [p.strip("\n") for p in _PARAGRAPH.split(text) if p.strip()]


# --- truncation ---------------------------------------------------------------------------------


def truncated_sentence(messages: list[Message], rng: random.Random) -> Corrupted:
    """Cut at a sentence or line end >= 20% into the first answer, so the cut ENDS with terminal
    punctuation (a no-terminal-punctuation rule cannot see it); the turns after it go."""
    i = first_answer(messages)
    text = messages[i]["content"]
    cuts, extra = _sentence_cuts(text), {}
    if cuts:
        cut = text[: rng.choice(cuts)]
    else:
        cut, extra = _fallback_cut(text, rng), {"fallback": "word_cut_full_stop"}
    return Corrupted("truncated_sentence", _cut(messages, i, cut), i, _cut_detail(messages, i, cut, **extra))


def truncated_list(messages: list[Message], rng: random.Random) -> Corrupted:
    """A list that stops early: the answer ends after one of its items (one kept at least, one dropped)."""
    i = first_answer(messages)
    text = messages[i]["content"]
    items = [m.start() for m in _LIST_ITEM.finditer(text)]
    if len(items) < 2:
        out = truncated_sentence(messages, rng)
        return Corrupted("truncated_list", out.messages, i, {**out.detail, "fallback": "no_list_sentence_cut"})
    k = rng.randrange(1, len(items))
    cut = text[: items[k]].rstrip()
    return Corrupted("truncated_list", _cut(messages, i, cut), i,
                     _cut_detail(messages, i, cut, items_kept=k, items=len(items)))


def unclosed_fence(messages: list[Message], rng: random.Random) -> Corrupted:
    """A code block that never closes: the answer stops inside a fenced block, after some of its lines."""
    i = first_answer(messages)
    text = messages[i]["content"]
    blocks = _fenced_blocks(text)
    if not blocks:
        out = truncated_sentence(messages, rng)
        return Corrupted("unclosed_fence", out.messages, i, {**out.detail, "fallback": "no_fence_sentence_cut"})
    start, close = rng.choice(blocks)
    body = text.index("\n", start) + 1
    lines = text[body:close].rstrip().split("\n") if text[body:close].strip() else []
    keep = rng.randint(1, len(lines)) if lines else 0
    cut = (text[:body] + "\n".join(lines[:keep])).rstrip()
    return Corrupted("unclosed_fence", _cut(messages, i, cut), i,
                     _cut_detail(messages, i, cut, code_lines_kept=keep, code_lines=len(lines)))


def announced_nothing(messages: list[Message], rng: random.Random) -> Corrupted:
    """The answer announces content that never comes ("Here is the code:") and stops: at one of its own
    lines ending in a colon when it has one, else its first sentence (or nothing) + an announcement."""
    i = first_answer(messages)
    text = messages[i]["content"]
    colons = [m.end() for m in re.finditer(r":[ \t]*(?=\n)", text) if text[m.end():].strip()]
    if colons and rng.random() < 0.7:
        cut, how = text[: rng.choice(colons)].rstrip(), "own_colon"
    else:
        first = _sentence_cuts(text, 0.0)[:1]
        lead = text[: first[0]].strip() + " " if first and first[0] < 200 and rng.random() < 0.6 else ""
        cut, how = lead + _other(text, ANNOUNCEMENTS, rng), "announcement"
    return Corrupted("announced_nothing", _cut(messages, i, cut), i, _cut_detail(messages, i, cut, how=how))


# --- repetition ---------------------------------------------------------------------------------


def repeated_sentence(messages: list[Message], rng: random.Random) -> Corrupted:
    """One sentence of the answer repeats 3-8 times in a row; half the time the answer ends there."""
    i = first_answer(messages)
    text = messages[i]["content"]
    bounds = [m.end() for m in _SENTENCE_END.finditer(text)]
    edges = [0, *bounds, len(text)]
    spans = [(a, b) for a, b in zip(edges, edges[1:]) if text[a:b].strip()]
    a, b = rng.choice(spans[: max(1, (2 * len(spans)) // 3)])
    sentence, times, stop = text[a:b].strip(), rng.randint(3, 8), rng.random() < 0.5
    sep = "\n" if "\n" in text[b: b + 2] else " "
    out = text[:b].rstrip() + (sep + sentence) * (times - 1) + ("" if stop else text[b:])
    return Corrupted("repeated_sentence", _with_answer(messages, i, out), i,
                     {"sentence": sentence[:200], "times": times, "rest_dropped": stop})


def doubled_answer(messages: list[Message], rng: random.Random) -> Corrupted:
    """The whole answer twice (a scrape that caught the message and its copy)."""
    i = first_answer(messages)
    text = messages[i]["content"].strip()
    sep = rng.choice(("\n\n", "\n", " "))
    return Corrupted("doubled_answer", _with_answer(messages, i, text + sep + text), i, {"separator": sep})


def repeated_paragraph(messages: list[Message], rng: random.Random) -> Corrupted:
    """One paragraph comes 2-3 times, right after itself or again at the end (lines, or the last
    sentences, when the answer has one paragraph)."""
    i = first_answer(messages)
    text = messages[i]["content"]
    units, joiner, unit = _paragraphs(text), "\n\n", "paragraph"
    if len(units) < 2:
        units, joiner, unit = [ln for ln in text.split("\n") if ln.strip()], "\n", "line"
    if len(units) < 2:
        units, joiner, unit = [" ".join(p.strip() for p in _pieces(text, [m.end() for m in _SENTENCE_END.finditer(text)]))], " ", "sentences"
    s, copies, after = rng.randrange(len(units)), rng.randint(1, 2), rng.random() < 0.6
    out = units[: s + 1] + [units[s]] * copies + units[s + 1:] if after else units + [units[s]] * copies
    detail = {"unit": unit, "index": s, "copies": copies, "where": "after_itself" if after else "end"}
    if unit != "paragraph":
        detail["fallback"] = f"one_paragraph_repeat_{unit}"
    return Corrupted("repeated_paragraph", _with_answer(messages, i, joiner.join(out)), i, detail)


# --- non-answers --------------------------------------------------------------------------------


def refusal_paraphrase(messages: list[Message], rng: random.Random) -> Corrupted:
    """A refusal without the usual words ("sorry", "cannot", "as an AI"), sometimes with a redirect."""
    i = first_answer(messages)
    text = rng.choice(REFUSAL_PARAPHRASES)
    redirect = rng.choice(REDIRECTS)
    return Corrupted("refusal_paraphrase", _with_answer(messages, i, f"{text} {redirect}".strip()), i,
                     {"template": REFUSAL_PARAPHRASES.index(text), "redirect": bool(redirect)})


def placeholder(messages: list[Message], rng: random.Random) -> Corrupted:
    """The answer is a placeholder left in a template ("[insert answer here]", "TODO", "N/A", "...")."""
    i = first_answer(messages)
    frame = rng.choice(("{p}", "{p}", "{p}", "Answer: {p}", "Sure! {p}", "Response:\n{p}"))
    text = frame.format(p=_other(messages[i]["content"], PLACEHOLDERS, rng))
    if text.strip() == messages[i]["content"].strip():
        text = "TODO" if text != "TODO" else "N/A"
    return Corrupted("placeholder", _with_answer(messages, i, text), i, {"frame": frame})


def continue_prompt(messages: list[Message], rng: random.Random) -> Corrupted:
    """The answer is a user's nudge ("continue", "Please continue.") landed in the assistant turn."""
    i = first_answer(messages)
    text = _other(messages[i]["content"], CONTINUES, rng)
    return Corrupted("continue_prompt", _with_answer(messages, i, text), i, {"text": text})


# --- misalignment -------------------------------------------------------------------------------


def misaligned_topic(messages: list[Message], rng: random.Random, donor: list[Message]) -> Corrupted:
    """The first answer is replaced by the answer of a conversation on the same topic (``plant`` passes
    the one whose question is nearest): on-topic words, wrong answer."""
    out = misaligned(messages, rng, donor)
    return Corrupted("misaligned_topic", out.messages, out.turn, out.detail)


def misaligned_next_turn(messages: list[Message], rng: random.Random, donor: list[Message] | None = None) -> Corrupted:
    """Answers shifted one turn up (an off-by-one scrape): the second answer stands as the first, and
    so on; the last question, left without an answer, goes. A row with one answer takes ``donor``'s
    answer instead (``detail['fallback']``)."""
    answers = [k for k, m in enumerate(messages) if m["role"] == "assistant" and m["content"].strip()]
    if len(answers) >= 2 and messages[answers[1]]["content"] != messages[answers[0]]["content"]:
        out = [dict(m) for m in messages]
        for a, b in zip(answers, answers[1:]):
            out[a]["content"] = messages[b]["content"]
        return Corrupted("misaligned_next_turn", out[: answers[-2] + 1], answers[0],
                         {"shifted_answers": len(answers) - 1, "turns_dropped": len(messages) - answers[-2] - 1})
    if donor is None:
        raise ValueError("corruption 'misaligned_next_turn' needs a donor conversation for a row with one answer")
    out = misaligned(messages, rng, donor)
    return Corrupted("misaligned_next_turn", out.messages, out.turn, {**out.detail, "fallback": "donor"})


# --- encoding and markup ------------------------------------------------------------------------


def _entities(text: str, rng: random.Random) -> str:
    apostrophe = rng.choice(("&#39;", "&#x27;", "&rsquo;"))
    for plain, entity in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ('"', "&quot;"), ("'", apostrophe)):
        text = text.replace(plain, entity)
    return text


def _nbsp(text: str, rng: random.Random) -> str:
    parts = text.split(" ")
    forced, share = rng.randrange(len(parts) - 1), rng.uniform(0.03, 0.2)
    return "".join(p + ("&nbsp;" if k == forced or rng.random() < share else " ") for k, p in enumerate(parts[:-1])) + parts[-1]


_HTML_OPS: dict[str, tuple[Callable[[str], bool], Callable[[str, random.Random], str]]] = {
    "entities": (lambda t: any(c in t for c in "&<>\"'"), _entities),
    "nbsp": (lambda t: " " in t, _nbsp),
    "br": (lambda t: "\n" in t, lambda t, r: t.replace("\n", r.choice(("<br>", "<br/>", "<br>\n", "<br />")))),
    "p": (lambda t: True, lambda t, r: r.choice(("", "\n")).join(f"<p>{p}</p>" for p in _paragraphs(t) or [t])),
    "div": (lambda t: True, lambda t, r: r.choice(HTML_WRAPPERS) + t + r.choice(("</div>", ""))),
}


def html_residue(messages: list[Message], rng: random.Random) -> Corrupted:
    """HTML left by a scrape: entities (&amp; &#39; &nbsp;), <br>, <p> around paragraphs, a <div class=...>
    wrapper; 1-3 of those the answer allows, applied in that order."""
    i = first_answer(messages)
    text = messages[i]["content"]
    fit = [name for name, (ok, _) in _HTML_OPS.items() if ok(text)]
    chosen = set(rng.sample(fit, rng.randint(1, min(3, len(fit)))))
    ops = [name for name in _HTML_OPS if name in chosen]
    for name in ops:
        text = _HTML_OPS[name][1](text, rng)
    return Corrupted("html_residue", _with_answer(messages, i, text), i, {"ops": ops})


def escaped_newlines(messages: list[Message], rng: random.Random) -> Corrupted:
    """Line breaks stored as a literal backslash-n (text encoded twice): every newline (and tab, and
    sometimes quotes) escaped; a one-line answer gets escaped breaks at sentence ends or at its end."""
    i = first_answer(messages)
    text = messages[i]["content"]
    if "\n" in text:
        out, ops = text.replace("\r\n", "\n").replace("\n", "\\n").replace("\t", "\\t"), ["newlines"]
        if '"' in out and rng.random() < 0.3:
            out, ops = out.replace('"', '\\"'), [*ops, "quotes"]
    else:
        cuts = _sentence_cuts(text, 0.0)
        at = sorted(rng.sample(cuts, min(len(cuts), rng.randint(1, 3))), reverse=True) if cuts else [len(text)]
        out, ops = text, ["inserted"]
        for c in at:
            out = out[:c] + rng.choice(("\\n", "\\n\\n")) + out[c:].lstrip(" ")
    return Corrupted("escaped_newlines", _with_answer(messages, i, out), i, {"ops": ops, "escapes": out.count("\\n")})


def _line_starts(text: str) -> list[int]:
    return [0] + [m.end() for m in re.finditer(r"\n", text)]


def _insert_line(text: str, line: str, rng: random.Random) -> str:
    at = rng.choice(_line_starts(text)[1:] or [len(text)])
    return text[:at] + line + "\n" + text[at:] if at < len(text) else text.rstrip() + "\n" + line


def _word_at(text: str, rng: random.Random) -> tuple[int, int]:
    words = [m.span() for m in re.finditer(r"[^\W\d_]{4,}", text)] or [m.span() for m in re.finditer(r"\S+", text)]
    return rng.choice(words)


def _bold(text: str, rng: random.Random) -> str:
    a, _ = _word_at(text, rng)
    return text[:a] + "**" + text[a:]  # the closing half was lost


def _link(text: str, rng: random.Random) -> str:
    a, b = _word_at(text, rng)
    word = text[a:b]
    url = rng.choice(("https://en.wikipedia.org/wiki/{w}", "https://www.example.com/{w}", "http://docs.google.com/{w}",
                      "https://stackoverflow.com/questions/{n}/{w}")).format(w=word.lower(), n=rng.randint(10**6, 10**8))
    return text[:a] + f"[{word}]({url})" + text[b:]


def _table_rule(text: str, rng: random.Random) -> str:
    return _insert_line(text, "|" + " --- |" * rng.randint(1, 4), rng)


def _copy_code(text: str, rng: random.Random) -> str:
    out = text
    for start, _ in reversed(_fenced_blocks(text)):
        body = out.index("\n", start) + 1
        lang = out[start:body].strip().strip("`")
        out = out[:body] + rng.choice(("Copy code", f"{lang}Copy code")) + "\n" + out[body:]
    return out


_MARKDOWN_OPS: dict[str, tuple[Callable[[str], bool], Callable[[str, random.Random], str]]] = {
    "copy_code": (lambda t: bool(_fenced_blocks(t)), _copy_code),
    "bold": (lambda t: bool(t.strip()), _bold),
    "link": (lambda t: bool(t.strip()), _link),
    "table_rule": (lambda t: True, _table_rule),
    "ui_text": (lambda t: True, lambda t, r: _insert_line(t, r.choice(UI_TEXT), r)),
}


def markdown_residue(messages: list[Message], rng: random.Random) -> Corrupted:
    """Markdown and page chrome left by a scrape: "Copy code" button text, a stray "**", a
    "[word](http...)" link, a "| --- |" table rule, a UI line ("Regenerate response"); 1-3 of them."""
    i = first_answer(messages)
    text = messages[i]["content"]
    fit = [name for name, (ok, _) in _MARKDOWN_OPS.items() if ok(text)]
    ops = rng.sample(fit, rng.randint(1, min(3, len(fit))))
    for name in ops:
        text = _MARKDOWN_OPS[name][1](text, rng)
    return Corrupted("markdown_residue", _with_answer(messages, i, text), i, {"ops": ops})


# --- language -----------------------------------------------------------------------------------


def code_switch(messages: list[Message], rng: random.Random, donor: list[Message]) -> Corrupted:
    """The answer switches language halfway: its first part (to a sentence end at 25-75%, else a word
    near the middle) stays, the rest comes from ``donor``'s answer in another language."""
    i, d = first_answer(messages), first_answer(donor)
    text, foreign = messages[i]["content"], donor[d]["content"]
    mids = [c for c in _sentence_cuts(text, 0.25) if c <= 0.75 * len(text.rstrip())]
    cut = rng.choice(mids) if mids else text.rfind(" ", 0, int(len(text) * rng.uniform(0.35, 0.65)))
    cut = cut if cut > 0 else len(text)
    starts = [0] + [c for c in _sentence_cuts(foreign, 0.0) if c <= 0.6 * len(foreign)]
    start = rng.choice(starts)
    out = text[:cut].rstrip() + rng.choice((" ", " ", "\n\n")) + foreign[start:].strip()
    return Corrupted("code_switch", _with_answer(messages, i, out), i,
                     {"kept_chars": len(text[:cut].rstrip()), "foreign_chars": len(foreign[start:].strip())})


# --- the registry -------------------------------------------------------------------------------


def _answer(messages: list[Message]) -> str:
    return messages[first_answer(messages)]["content"]


# Variants that only apply to some rows (else they fall back, recorded in detail): what fits.
FITS: dict[str, Callable[[list[Message]], bool]] = {
    "truncated_sentence": lambda m: bool(_sentence_cuts(_answer(m))),
    "truncated_list": lambda m: len(_LIST_ITEM.findall(_answer(m))) >= 2,
    "unclosed_fence": lambda m: bool(_fenced_blocks(_answer(m))),
    "repeated_paragraph": lambda m: len(_paragraphs(_answer(m))) >= 2,
    "misaligned_next_turn": lambda m: sum(x["role"] == "assistant" and bool(x["content"].strip()) for x in m) >= 2,
}


def fits(variant: str, messages: list[Message]) -> bool:
    """Whether ``variant`` applies to this conversation as described, without its fallback."""
    check = FITS.get(variant)
    return check is None or check(messages)


CORRUPTIONS: dict[str, Callable[..., Corrupted]] = {
    "misaligned": misaligned, "truncated": truncated, "word_salad": word_salad, "loop": loop,
    "refusal": refusal, "template_leak": template_leak, "mojibake": mojibake, "restate": restate,
    "wrong_language": wrong_language, "near_dup": near_dup,
    "truncated_sentence": truncated_sentence, "truncated_list": truncated_list, "unclosed_fence": unclosed_fence,
    "announced_nothing": announced_nothing, "repeated_sentence": repeated_sentence, "doubled_answer": doubled_answer,
    "repeated_paragraph": repeated_paragraph, "refusal_paraphrase": refusal_paraphrase, "placeholder": placeholder,
    "continue_prompt": continue_prompt, "misaligned_topic": misaligned_topic,
    "misaligned_next_turn": misaligned_next_turn, "html_residue": html_residue, "escaped_newlines": escaped_newlines,
    "markdown_residue": markdown_residue, "code_switch": code_switch,
}
assert set(CORRUPTIONS) == set(VARIANTS)


def family_of(variant: str) -> str:
    """The family a variant belongs to (``family_of("truncated_list") == "truncation"``)."""
    if variant not in _FAMILY_OF:
        raise ValueError(f"unknown corruption variant {variant!r}; allowed: {', '.join(VARIANTS)}")
    return _FAMILY_OF[variant]


def resolve_kinds(names: str | Iterable[str]) -> tuple[str, ...]:
    """Variant names from a mix of ``all``, family names and variant names (a comma-separated string or
    a list), in order, each once; ValueError naming the first unknown one."""
    items = [n.strip() for n in (names.split(",") if isinstance(names, str) else names) if n and n.strip()]
    out: list[str] = []
    for name in items:
        if name == "all":
            out += VARIANTS
        elif name in CORRUPTIONS:
            out.append(name)
        elif name in FAMILIES:
            out += FAMILIES[name]
        else:
            raise ValueError(f"unknown kind {name!r}; allowed: all, a family ({', '.join(FAMILIES)}) "
                             f"or a variant ({', '.join(VARIANTS)})")
    if not out:
        raise ValueError("no corruption kinds given")
    return tuple(dict.fromkeys(out))


def corrupt(kind: str, messages: list[Message], seed: int, donor: list[Message] | None = None) -> Corrupted:
    """Apply corruption variant ``kind`` with its own RNG seeded by ``seed``; donor variants need ``donor``
    (``misaligned_next_turn`` only for a row with one answer)."""
    if kind not in CORRUPTIONS:
        raise ValueError(f"unknown corruption kind {kind!r}; allowed: {', '.join(VARIANTS)}")
    rng = random.Random(f"{kind}:{seed}")
    if kind in DONOR_KINDS:
        if donor is None:
            raise ValueError(f"corruption {kind!r} needs a donor conversation")
        return CORRUPTIONS[kind](messages, rng, donor)
    if kind in OPTIONAL_DONOR_KINDS:
        return CORRUPTIONS[kind](messages, rng, donor)
    return CORRUPTIONS[kind](messages, rng)
