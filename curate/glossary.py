"""Plain-language meanings of score names, validity checks, dedup methods and selection reasons: one
glossary, shared by the HTML report and the app's explorer, so a reader sees the same words in both."""

from __future__ import annotations

import re

from curate.validity import CHECKS

SCORES = {
    "ifd": "instruction-following difficulty: how much the instruction helps the model predict the answer "
           "(answer loss with the instruction / without it); below 1 the instruction helps, lower is easier",
    "ppl": "perplexity of the answer under the scoring model: lower means more predictable text",
    "ifd_turns": "IFD of each assistant turn",
    "lm_truncated": "the scoring model saw only the start of the conversation (longer than its max_length)",
    "embed_sim": "cosine similarity of the instruction's and the answer's embeddings: how on-topic the answer is",
    "reward": "reward model score of the answers: higher means the reward model prefers them",
    "turns": "messages in the conversation",
    "user_turns": "messages from the user",
    "assistant_turns": "messages from the assistant",
    "chars": "characters in the whole conversation",
    "user_chars": "characters written by the user",
    "assistant_chars": "characters written by the assistant",
    "words": "words in the whole conversation",
    "tokens": "approximate tokens in the whole conversation (characters / 4)",
    "assistant_tokens": "approximate tokens written by the assistant (characters / 4)",
    "dup_line_frac": "share of lines that repeat an earlier line",
    "dup_ngram_frac": "share of 5-word sequences that repeat an earlier one",
    "truncated": "the last answer stops mid-sentence",
    "refusal": "an answer is refusal boilerplate ('as an AI language model, I cannot ...')",
    "template_leak": "chat-template tokens (like <|im_start|>) appear inside the text",
    "role_order_ok": "the roles alternate user, assistant, ... after an optional system message",
    "ends_with_assistant": "the last message is from the assistant",
    "junk_prob": "the junk detector's probability that the row is damaged, learned from corruption planted "
                 "into this run's own rows (0.5: as likely junk as clean)",
    "atypical": "how far out the row's most unusual score lies among the rows the junk detector calls clean "
                "(-log10 of its tail probability: 2 = only 1 in 100 of them is as far out); damage nobody "
                "planted tends to land there",
    "qa_margin": "how much better the first answer fits its own question than the run's other questions "
                 "and the conversation's next one (TF-IDF cosine to its question minus the best to another; "
                 "negative: another question fits it better, as an answer filed under the wrong question or "
                 "shifted up a turn does)",
}

VALIDITY = {c.name: c.meaning for c in CHECKS}  # the words live in curate.validity's table

DEDUP = {
    "exact": "an exact copy (same text after normalizing case and whitespace)",
    "near": "a near copy (most word sequences shared, MinHash)",
    "semantic": "a semantic copy (says the same thing in other words: embedding cosine)",
}


def score(name: str) -> str:
    """What score column ``name`` measures, or '' when the glossary does not know it."""
    return SCORES.get(name, "")


def validity(reason: str) -> str:
    """``invalid:role_order`` -> 'removed: the roles are out of order: ...'."""
    check = reason.split(":", 1)[1] if reason.startswith("invalid:") else reason
    return f"removed because {VALIDITY.get(check, check.replace('_', ' '))}"


def duplicate(method: str, of: str, similarity: float | None = None) -> str:
    """'removed as a near copy (...) of row X, similarity 0.91'."""
    sim = f", similarity {similarity:.2f}" if similarity is not None and similarity == similarity else ""
    return f"removed as {DEDUP.get(method, f'a {method} duplicate')} of row {of}{sim}"


def _term(term: str) -> str:
    """``rank(ifd)`` / ``0.7*rank(-ppl)`` -> words."""
    m = re.fullmatch(r"(?:([\d.]+)\*)?(?:(rank|z)\()?(-?)([\w.]+)\)?", term)
    if not m:
        return term
    weight, _, minus, col = m.groups()
    words = f"{'low' if minus else 'high'} {col}"
    return f"{words} (weight {weight})" if weight else words


def selection(reason: str) -> str:
    """A subset's reason for choosing a row, as a sentence fragment."""
    main, _, diverse = reason.partition("; diverse (")
    if m := re.fullmatch(r"top-k by (.+)=([-\d.e+]+)", main):
        terms = re.split(r"\+|(?<=[\w)])(?=-)", m.group(1))
        text = f"ranked among the best by {' and '.join(_term(t) for t in terms)} (combined score {m.group(2)})"
    elif m := re.fullmatch(r"longest: (\w+)=(\d+)", main):
        text = f"one of the longest: {int(m.group(2)):,} {m.group(1).replace('_', ' ')}"
    elif m := re.fullmatch(r"random \(seed (\d+)\)", main):
        text = f"drawn at random (seed {m.group(1)}), as a baseline"
    elif main in ("full", "passed filter"):
        text = "passed the subset's filter (every such row is taken)"
    else:
        text = main
    if diverse:
        near, _, limit = diverse.rstrip(")").partition(" < ")
        text += ("; the first of its kind" if near == "first" else
                 f"; no row chosen before it is closer than cosine {limit} (nearest {near.split()[-1]})")
    return text
