"""How the first answer is written, as numbers a learned detector can weigh: no thresholds here.

Rules like "no terminal punctuation = truncated" mirror one planting code and fail on real chats
(casual answers end without a full stop). These columns describe an answer's texture instead:
repetition at every scale (zlib compression, repeated sentences and lines, and repeated 8-word spans:
one measure for a phrase, a paragraph or the whole answer said twice), residue marks (HTML, escapes as
text, mojibake and markup left open, counted together), markdown, character classes, how it ends
(a colon, an open code fence, a list item), and its length next to the question's. A measure that one
family's variants share lets what the detector learns from one variant transfer to the others
(benchmarks/RESULTS.md "generalization"). Alone none is a verdict; ``curate.detector`` learns per
dataset which combinations mark junk, from corruption planted into that dataset's own rows.
"""

from __future__ import annotations

import math
import re
import zlib
from typing import Any

from curate.schema import Message, first_exchange
from curate.scorers.base import Resources, row_by_row
from curate.scorers.heuristic_rules import MOJIBAKE, SENTENCE_END

COLUMNS = (
    "answer_log_chars", "question_log_chars", "answer_question_log_ratio", "compress_ratio",
    "dup_sentence_frac", "answer_dup_line_frac", "repeated_8gram_frac", "distinct_word_frac", "residue_marks",
    "markdown_per_k", "punct_frac", "upper_frac", "digit_frac", "non_ascii_frac", "ends_terminal",
    "ends_colon", "ends_list_item", "open_code_fence", "starts_lower", "mean_word_chars",
    "mean_sentence_words", "last_sentence_words",
)
_HTML = re.compile(r"</?[a-zA-Z][a-zA-Z0-9]{0,9}(?:\s[^<>]{0,80})?/?>|&(?:[a-zA-Z]{2,8}|#\d{2,5}|#x[0-9a-fA-F]{2,4});")
_ESCAPE = re.compile(r"\\[nrt\"']|\\u[0-9a-fA-F]{4}")
_MARKDOWN = re.compile(r"\[[^\]\n]{1,80}\]\((?:https?://|/)[^)\s]*\)|^\s*\|?\s*:?-{3,}|\*\*|__|^#{1,6}\s|Copy code", re.M)
_SENTENCE = re.compile(r"(?<=[.!?\u3002\uff01\uff1f])\s+|\n+")
_WORD = re.compile(r"\w+")
_LIST_ITEM = re.compile(r"^\s*(?:[-*+\u2022]|\d{1,3}[.)])\s+\S")
_PUNCT = re.compile(r"[^\w\s]")
_UPPER = re.compile("[A-Z\u00c0-\u00de\u0391-\u03a9\u0410-\u042f]")  # Latin, Greek, Cyrillic capitals
_DIGIT = re.compile(r"\d")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(?:\|\s*:?-{3,}:?\s*)*\|?\s*$")
SHINGLE = 8  # words: a span this long said twice is a repeat, not a turn of phrase
HEAD = 8000  # characters of the answer read: the cost stays flat on very long answers


def _per_k(pattern: re.Pattern[str], text: str) -> float:
    return 1000.0 * len(pattern.findall(text)) / max(len(text), 1)


def _share(pattern: re.Pattern[str], text: str) -> float:
    return len(pattern.findall(text)) / max(len(text), 1)


def _repetition(head: str, lowered: list[str], sentences: list[str]) -> dict[str, float | None]:
    """Repeats at every scale of the answer's ``head`` (its ``lowered`` words and ``sentences``, as split by
    :func:`texture`): bytes (zlib), sentences, lines, 8-word spans; None where it is too short."""
    raw = head.encode("utf-8", "replace")
    long_sentences = [s.strip().lower() for s in sentences if len(s.strip()) > 8]
    lines = [ln.strip() for ln in head.splitlines() if ln.strip()]
    shingles = [" ".join(lowered[k: k + SHINGLE]) for k in range(len(lowered) - SHINGLE + 1)]
    return {
        "compress_ratio": len(zlib.compress(raw, 6)) / len(raw) if len(raw) >= 80 else None,
        "dup_sentence_frac": (1 - len(set(long_sentences)) / len(long_sentences)
                              if len(long_sentences) >= 3 else None),
        "answer_dup_line_frac": 1 - len(set(lines)) / len(lines) if len(lines) >= 3 else None,
        # one measure for every scale (a phrase, a sentence, a paragraph, the whole answer twice), so damage
        # learned at one scale transfers to another
        "repeated_8gram_frac": 1 - len(set(shingles)) / len(shingles) if len(shingles) >= 3 else None,
    }


def _unpaired_markup(text: str) -> int:
    """Markup that does not close or stands alone: an odd number of code fences, of ``**``, of inline
    backticks, and table rules under a line that is not a table row. Clean text pairs its markup."""
    fences = text.count("```")
    lines = text.splitlines()
    orphan_rules = sum(1 for k, ln in enumerate(lines) if _TABLE_RULE.match(ln) and "|" in ln
                       and (k == 0 or "|" not in lines[k - 1]))
    return fences % 2 + text.count("**") % 2 + (text.count("`") - 3 * fences) % 2 + orphan_rules


def residue_marks(answer: str) -> int:
    """Marks a rendered, well-decoded answer does not hold, counted together: HTML tags and entities,
    escapes as text (``\\n``, ``\\u00e9``), mojibake, markup left open. One count for the whole family
    (not one column per kind), so what the detector learns from escaped newlines also flags a stray
    ``**``; a count, not a rate, because one stray mark is damage in a long answer too."""
    head = answer[:HEAD]
    return (len(_HTML.findall(head)) + len(_ESCAPE.findall(head)) + len(MOJIBAKE.findall(head))
            + _unpaired_markup(answer))


def _ending(answer: str) -> dict[str, Any]:
    """How the answer stops: punctuation, a colon announcing what never comes, a list item, an open fence."""
    end = answer.rstrip()
    tail = end[-2000:]
    lines = [ln for ln in tail.splitlines() if ln.strip()]
    sentences = [s for s in _SENTENCE.split(tail) if s.strip()]
    return {
        "ends_terminal": bool(end) and (end.endswith(SENTENCE_END) or end[-1].isdigit()),
        "ends_colon": end.endswith(":"),
        "ends_list_item": bool(lines) and bool(_LIST_ITEM.match(lines[-1])),
        "open_code_fence": end.count("```") % 2 == 1,
        "starts_lower": bool(answer.lstrip()) and answer.lstrip()[0].islower(),
        "last_sentence_words": len(_WORD.findall(sentences[-1])) if sentences else 0,
    }


def texture(messages: list[Message]) -> dict[str, Any]:
    """The texture columns of the first user question and the first assistant answer."""
    question, answer, _ = first_exchange(messages)
    head = answer[:HEAD]
    words = _WORD.findall(head)
    lowered = [w.lower() for w in words]
    sentences = [s for s in _SENTENCE.split(head) if s.strip()]
    return {
        "answer_log_chars": math.log1p(len(answer)),
        "question_log_chars": math.log1p(len(question)),
        "answer_question_log_ratio": math.log1p(len(answer)) - math.log1p(len(question)),
        **_repetition(head, lowered, sentences),
        "distinct_word_frac": len(set(lowered)) / len(words) if len(words) >= 5 else None,
        "residue_marks": residue_marks(answer),
        "markdown_per_k": _per_k(_MARKDOWN, head),
        "punct_frac": _share(_PUNCT, head),
        "upper_frac": _share(_UPPER, head),
        "digit_frac": _share(_DIGIT, head),
        "non_ascii_frac": 1 - len(head.encode("ascii", "ignore")) / max(len(head), 1),
        **_ending(answer),
        "mean_word_chars": sum(map(len, words)) / len(words) if words else None,
        "mean_sentence_words": len(words) / len(sentences) if sentences else None,
    }


class TextureScorer:
    """No model, CPU only: the first answer's texture (repetition, markup, characters, ending, length)."""

    name = "texture"
    columns = COLUMNS
    resources = Resources(device="cpu", batch_size=2048)

    def settings(self) -> dict[str, Any]:
        return {"version": 4}  # 2: the first answer after the first question; 3-4: repeated spans, residue marks

    def score(self, conversations: list[list[Message]]) -> dict[str, list[Any]]:
        return row_by_row(texture, conversations, COLUMNS)
