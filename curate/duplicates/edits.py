"""Edited copies as a scrape or a re-upload makes them: the near duplicates the defaults must find.

A share of the words (2-6% by default) gets one edit each: a case change, stripped punctuation, a
filler word ("really", "just", ...) swapped in, or a doubled space. Used to measure near-dup recall
(benchmarks/dedup_accuracy.py, tests) and to plant near copies in the synthetic Tome; and
conversations that share half their turns, which must not be merged.
"""

from __future__ import annotations

import random
import string

FILLERS = ("really", "just", "quite", "actually", "basically", "simply")
EDITS = ("case", "punct", "filler", "space")
_PUNCT = str.maketrans("", "", string.punctuation)


def edit_word(word: str, kind: str, rng: random.Random) -> str:
    if kind == "punct" and word.translate(_PUNCT) != word:
        return word.translate(_PUNCT)
    if kind == "filler":
        return rng.choice(FILLERS)
    if kind == "space":
        return word + " "  # joined with " ": a doubled space
    return word.lower() if word != word.lower() else word.capitalize()  # case (and punct-free words)


def edit_text(text: str, rate: float, rng: random.Random) -> str:
    """``text`` with each space-separated word edited with probability ``rate``."""
    words = text.split(" ")
    for i, w in enumerate(words):
        if rng.random() < rate:
            words[i] = edit_word(w, rng.choice(EDITS), rng)
    return " ".join(words)


def edited_copy(messages: list[dict[str, str]], rng: random.Random, low: float = 0.02, high: float = 0.06,
                key: str = "content") -> list[dict[str, str]]:
    """A copy of a conversation with a uniform ``[low, high]`` share of its words edited."""
    rate = rng.uniform(low, high)
    return [{**m, key: edit_text(m[key], rate, rng)} for m in messages]


def half_shared(a: list[dict[str, str]], b: list[dict[str, str]], low: float = 0.35, high: float = 0.65,
                key: str = "content") -> list[dict[str, str]] | None:
    """``a``'s first half of turns (whole exchanges) followed by ``b``'s turns after that point: a
    different conversation that must not be merged with ``a``. None unless the shared turns hold
    ``low``-``high`` of the characters of both ``a`` and the result (about half of the text too)."""
    k = len(a) // 4 * 2
    out = a[:k] + b[k:]
    shared = sum(len(m[key]) for m in a[:k])
    share = [shared / max(1, sum(len(m[key]) for m in c)) for c in (a, out)]
    return out if k and len(b) > k and all(low <= x <= high for x in share) else None
