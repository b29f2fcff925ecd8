"""Plant known corruptions into a sample: which rows, which variant, from which donor, all by one seed.

A planted pool keeps the sample's size: ``round(rate * n)`` rows are replaced by corrupted versions,
the variants (``kinds``) in equal shares; ``labels`` names each row's ``kind`` (the variant) and
``family``. ``near_dup`` rows are edited copies of a clean row that stays in the pool; ``misaligned``
rows take the answer of a random other conversation, ``misaligned_topic`` rows the answer of the
conversation whose question is nearest (TF-IDF cosine over the sample's first questions, computed
once per call), ``misaligned_next_turn`` rows their own next answer (the nearest-question donor for a
single-answer row, ``detail['fallback']``); ``wrong_language`` and ``code_switch`` rows take an answer
in another language than their question (from the sample; a small built-in bank when the sample has
none). A variant that needs a shape (a list to stop early, a code fence to leave open, a second
answer) is moved to an unplanted row that has one when its drawn row has none (``fits``). Only rows
whose first answer follows a user turn are corrupted (``eligible``); scores are compared against the
eligible clean rows, so a malformed row never counts as a catch. The labels stay beside the pool,
never inside it, so no score can read them.

``split_variants`` splits each family's variants into a tuning group and a held-out group, for
measuring whether a detector tuned on some phrasings of a damage catches the others.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass

import pandas as pd

from curate.auditing.corruptions import (
    FAMILIES,
    KINDS,
    VARIANTS,
    corrupt,
    family_of,
    first_answer,
    fits,
)
from curate.schema import Message, conversation_id, first_user
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
    labels: pd.DataFrame  # position, id, kind (variant, '' = clean), family, source_id, eligible, detail (JSON)

    def __len__(self) -> int:
        return len(self.conversations)


def planted_count(n: int, rate: float) -> int:
    return round(rate * n)


def check_plantable(n: int, rate: float, kinds: tuple[str, ...]) -> None:
    """ValueError unless every kind gets a row and clean rows remain to compare with and copy from."""
    unknown = [k for k in kinds if k not in VARIANTS]
    if unknown:
        raise ValueError(f"unknown corruption kind {unknown[0]!r}; allowed: {', '.join(VARIANTS)}")
    if not kinds:
        raise ValueError(f"no corruption kinds; allowed: {', '.join(VARIANTS)}")
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
        return bool(first_user(messages[: first_answer(messages)]).strip())
    except ValueError:
        return False



def _answer_text(messages: list[Message]) -> str:
    try:
        return messages[first_answer(messages)]["content"]
    except ValueError:
        return ""


def _place_fitting(kind_at: dict[int, str], eligible: list[int], conversations: list[list[Message]],
                   seed: int) -> dict[int, str]:
    """Move each variant that needs a shape (a list, a code fence, a second answer) from a drawn row
    without one to a random unplanted eligible row with one; with no such row it stays (and falls back)."""
    rng, out, cache = random.Random(f"{seed}:fit"), dict(kind_at), {}

    def ok(variant: str, q: int) -> bool:
        if (variant, q) not in cache:
            cache[variant, q] = fits(variant, conversations[q])
        return cache[variant, q]

    for p in sorted(kind_at):
        variant = kind_at[p]
        if ok(variant, p):
            continue
        free = [q for q in eligible if q not in out and ok(variant, q)]
        if free:
            del out[p]
            out[rng.choice(free)] = variant
    return out


def _nearest_questions(conversations: list[list[Message]], positions: list[int],
                       answers: dict[int, str]) -> dict[int, tuple[int, float | None]]:
    """For each of ``positions``: the row whose first question is nearest by TF-IDF cosine (one fit over
    the sample), among rows with a different, non-empty first answer; a random such row (similarity
    None) when the questions have no words to compare."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    if not positions:
        return {}
    questions = [first_user(c[: first_answer(c)]) if answers[p] else "" for p, c in enumerate(conversations)]
    try:
        matrix = TfidfVectorizer(sublinear_tf=True, stop_words="english").fit_transform(questions)
    except ValueError:  # empty vocabulary
        matrix = None
    out = {}
    for p in positions:
        allowed = [q for q in range(len(conversations)) if q != p and answers[q] and answers[q] != answers[p]]
        if matrix is None:
            out[p] = (random.Random(p).choice(allowed), None)
            continue
        sims = (matrix[allowed] @ matrix[p].T).toarray().ravel()
        best = int(sims.argmax())
        out[p] = (allowed[best], round(float(sims[best]), 4))
    return out


def _random_donor(p: int, answers: dict[int, str], rng: random.Random) -> int:
    """Another row (the first draw is what the audit always drew; redrawn while its answer is p's own)."""
    n = len(answers)
    q = rng.choice([x for x in range(n) if x != p])
    for _ in range(20):
        if answers[q] and answers[q] != answers[p]:
            break
        q = rng.choice([x for x in range(n) if x != p])
    return q


@dataclass
class _Donors:
    """What donor choice needs from the whole sample, computed once per plant call."""

    conversations: list[list[Message]]
    answers: dict[int, str]
    languages: dict[int, str]
    clean: list[int]
    nearest: dict[int, tuple[int, float | None]]

    def pick(self, kind: str, p: int, rng: random.Random) -> tuple[list[Message] | None, str | None, dict]:
        """(donor conversation, its source id, detail to record) for variant ``kind`` at row ``p``."""
        convs = self.conversations
        if kind == "misaligned":
            q = _random_donor(p, self.answers, rng)
            return convs[q], conversation_id(convs[q]), {}
        if kind in ("wrong_language", "code_switch"):
            donor, source = _wrong_language_donor(first_user(convs[p]), self.answers, self.languages, rng)
            return donor, source, {}
        if kind == "near_dup":
            q = rng.choice(self.clean)
            return convs[q], conversation_id(convs[q]), {}
        if kind in ("misaligned_topic", "misaligned_next_turn"):
            q, sim = self.nearest[p]
            return convs[q], conversation_id(convs[q]), {"question_similarity": sim}
        return None, None, {}


def _plant_row(kind: str, p: int, msgs: list[Message], seed: int, donors: _Donors) -> tuple[list[Message], str | None, dict]:
    row_rng = random.Random(f"{seed}:{p}")
    donor, source, extra = donors.pick(kind, p, row_rng)
    done = corrupt(kind, msgs, row_rng.randrange(2**31), donor)
    if kind == "misaligned_next_turn" and "fallback" not in done.detail:
        source, extra = None, {}  # its own next answer: no donor
    return done.messages, source, {"turn": done.turn, **done.detail, **extra}


def plant(conversations: list[list[Message]], rate: float = 0.3, kinds: tuple[str, ...] = KINDS,
          seed: int = 0) -> PlantedPool:
    """Replace ``round(rate * n)`` rows of ``conversations`` by corrupted ones (variants equally mixed)."""
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
    kind_at = _place_fitting({p: kinds[j % len(kinds)] for j, p in enumerate(positions)}, eligible, conversations, seed)
    answers = {p: _answer_text(c) for p, c in enumerate(conversations)}
    donors = _Donors(
        conversations, answers,
        {p: language(a) for p, a in answers.items()} if {"wrong_language", "code_switch"} & set(kinds) else {},
        [p for p in eligible if p not in kind_at],  # near-duplicate sources: well-formed clean rows
        _nearest_questions(conversations, sorted(p for p, k in kind_at.items()
                                                 if k in ("misaligned_topic", "misaligned_next_turn")), answers))
    pool, rows = [], []
    for p, msgs in enumerate(conversations):
        kind = kind_at.get(p, "")
        source, detail = None, {}
        if kind:
            msgs, source, detail = _plant_row(kind, p, msgs, seed, donors)
        pool.append(msgs)
        rows.append({"position": p, "id": conversation_id(msgs), "kind": kind, "family": family_of(kind) if kind else "",
                     "source_id": source, "eligible": p in eligible_set, "detail": json.dumps(detail, ensure_ascii=False)})
    return PlantedPool(pool, pd.DataFrame(rows))


def split_variants(families: dict[str, tuple[str, ...]] = FAMILIES, seed: int | None = None) -> dict[str, tuple[str, ...]]:
    """Each family's variants split into ``tune`` and ``held_out`` (a detector or threshold is fit on the
    first and judged on the second). ``seed=None``: the family's first variant (the audit's original
    kind) tunes and its other variants are held out. An int: a seeded shuffle of each family, half of
    its variants (rounded down, at least one) held out. A one-variant family only tunes."""
    tune: list[str] = []
    held: list[str] = []
    for family, variants in families.items():
        order = list(variants)
        if len(order) < 2:
            tune += order
            continue
        if seed is not None:
            random.Random(f"{seed}:{family}").shuffle(order)
        k = 1 if seed is None else len(order) // 2
        tune += order[:k] if seed is None else order[:-k]
        held += order[k:] if seed is None else order[-k:]
    return {"tune": tuple(tune), "held_out": tuple(held)}


def variant_folds(families: dict[str, tuple[str, ...]] = FAMILIES) -> list[tuple[str, tuple[str, ...]]]:
    """Leave one variant out: ``(held-out variant, the other variants)`` for every variant of a family
    with two or more (a one-variant family has nothing to hold out)."""
    every = [v for variants in families.values() for v in variants]
    return [(v, tuple(x for x in every if x != v)) for variants in families.values() if len(variants) > 1
            for v in variants]
