"""Plant known corruptions into a sample: which rows, which kind, from which donor, all by one seed.

A planted pool keeps the sample's size: ``round(rate * n)`` rows are replaced by corrupted versions,
the kinds in equal shares. ``near_dup`` rows are edited copies of a clean row that stays in the pool;
``misaligned`` rows take the answer of another conversation; ``wrong_language`` rows take an answer
in another language than their question (from the sample; a small built-in bank when the sample has
none). Only rows whose first answer follows a user turn are corrupted (``eligible``); scores are
compared against the eligible clean rows, so a malformed row never counts as a catch. The labels stay
beside the pool, never inside it, so no score can read them.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass

import pandas as pd

from curate.auditing.corruptions import KINDS, corrupt, first_answer, first_question
from curate.schema import Message, conversation_id
from curate.scorers.consistency import language

# Answers in other languages for samples that have none (a generic helpful reply in each).
FOREIGN = {
    "es": "Claro, con gusto te ayudo. Primero hay que revisar los datos y después elegir el método "
          "que mejor se adapte a lo que necesitas. Si tienes más preguntas, no dudes en escribirme.",
    "fr": "Bien sûr, je peux vous aider. Il faut d'abord vérifier les données, puis choisir la méthode "
          "qui convient le mieux à votre besoin. N'hésitez pas si vous avez d'autres questions.",
    "de": "Natürlich helfe ich Ihnen gerne. Zuerst sollten Sie die Daten prüfen und dann die Methode "
          "wählen, die am besten zu Ihrem Ziel passt. Wenn Sie weitere Fragen haben, melden Sie sich.",
    "zh": "当然可以，我很乐意帮助你。首先需要检查数据，然后选择最适合你需求的方法。如果你还有其他问题，请随时告诉我。",
    "ru": "Конечно, я с радостью помогу. Сначала нужно проверить данные, а затем выбрать метод, "
          "который лучше всего подходит для вашей задачи. Если у вас есть вопросы, пишите.",
}


@dataclass
class PlantedPool:
    """The pool (conversations in order) and one label row per pool row."""

    conversations: list[list[Message]]
    labels: pd.DataFrame  # position, id, kind ('' = clean), source_id, eligible, detail (JSON)

    def __len__(self) -> int:
        return len(self.conversations)


def planted_count(n: int, rate: float) -> int:
    return round(rate * n)


def check_plantable(n: int, rate: float, kinds: tuple[str, ...]) -> None:
    """ValueError unless every kind gets a row and clean rows remain to compare with and copy from."""
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise ValueError(f"unknown corruption kind {unknown[0]!r}; allowed: {', '.join(KINDS)}")
    if not kinds:
        raise ValueError(f"no corruption kinds; allowed: {', '.join(KINDS)}")
    if not 0 < rate < 1:
        raise ValueError(f"rate must be between 0 and 1 (exclusive), got {rate:g}")
    k = planted_count(n, rate)
    if k < len(kinds) or n - k < 2:
        need = max(len(kinds) / rate, 2 / (1 - rate))
        raise ValueError(f"{n} rows are too few to plant {len(kinds)} kinds at rate {rate:g}: need at least {int(need) + 1}")


def _wrong_language_donor(question: str, answers: dict[int, str], languages: dict[int, str],
                          rng: random.Random) -> tuple[list[Message], str]:
    """An answer in another language than ``question`` (the sample's main language when the question's
    own cannot be told)."""
    own = language(question)
    if own == "und":
        own = max(sorted(set(languages.values()) - {"und"}) or ["en"], key=list(languages.values()).count)
    others = sorted(p for p, lang in languages.items() if lang not in ("und", own))
    if others:
        p = rng.choice(others)
        return [{"role": "assistant", "content": answers[p]}], f"row:{p}"
    lang = rng.choice(sorted(k for k in FOREIGN if k != own))
    return [{"role": "assistant", "content": FOREIGN[lang]}], f"bank:{lang}"


def _answers_a_question(messages: list[Message]) -> bool:
    """A user turn comes before the first answer (the rows whose first exchange can be corrupted)."""
    try:
        return bool(first_question(messages[: first_answer(messages)]).strip())
    except ValueError:
        return False


def plant(conversations: list[list[Message]], rate: float = 0.3, kinds: tuple[str, ...] = KINDS,
          seed: int = 0) -> PlantedPool:
    """Replace ``round(rate * n)`` rows of ``conversations`` by corrupted ones (kinds equally mixed)."""
    kinds = tuple(kinds)
    n = len(conversations)
    check_plantable(n, rate, kinds)
    rng = random.Random(seed)
    eligible = [p for p, msgs in enumerate(conversations) if _answers_a_question(msgs)]
    if len(eligible) < planted_count(n, rate):
        raise ValueError(f"only {len(eligible)} of {n} rows have a user turn before an answer; "
                         f"{planted_count(n, rate)} are needed at rate {rate:g}")
    positions = rng.sample(eligible, planted_count(n, rate))
    eligible_set = set(eligible)
    kind_at = {p: kinds[j % len(kinds)] for j, p in enumerate(positions)}
    clean = [p for p in eligible if p not in kind_at]  # near-duplicate sources: well-formed clean rows
    answers = {p: conversations[p][first_answer(conversations[p])]["content"] for p in range(n)}
    languages = {p: language(a) for p, a in answers.items()} if "wrong_language" in kinds else {}
    pool, rows = [], []
    for p, msgs in enumerate(conversations):
        kind = kind_at.get(p, "")
        source, detail = None, {}
        if kind:
            row_rng = random.Random(f"{seed}:{p}")
            donor = None
            if kind == "misaligned":
                q = row_rng.choice([x for x in range(n) if x != p])
                donor, source = conversations[q], conversation_id(conversations[q])
            elif kind == "wrong_language":
                donor, source = _wrong_language_donor(first_question(msgs), answers, languages, row_rng)
            elif kind == "near_dup":
                q = row_rng.choice(clean)
                donor, source = conversations[q], conversation_id(conversations[q])
            done = corrupt(kind, msgs, row_rng.randrange(2**31), donor)
            msgs, detail = done.messages, {"turn": done.turn, **done.detail}
        pool.append(msgs)
        rows.append({"position": p, "id": conversation_id(msgs), "kind": kind, "source_id": source,
                     "eligible": p in eligible_set, "detail": json.dumps(detail, ensure_ascii=False)})
    return PlantedPool(pool, pd.DataFrame(rows))
