"""``qa_margin``: does an answer fit its own question better than the run's other questions?

An answer moved to the wrong question (a scrape that shifted answers by a row, a join on the wrong key,
a donor on the same topic) still reads as a good answer, and an on-topic one shares the question's words,
so no score of the row alone gives it away. Beside the run's other questions it does: it matches the
question it was written for better than the one it sits under. ``qa_margin`` is the answer's TF-IDF
cosine to its own question minus its best cosine to another question: one of the reference's or the
conversation's next question, which an answer shifted up a turn was written for (negative: another
question fits it better). It is a detector feature, learned from like any score: the planted misaligned
copies show what a negative margin means in this dataset, and rows whose questions repeat (the same
prompt asked twice) show what a margin near zero means.

The reference is every row's question up to :data:`MAX_REFERENCE` rows; a larger run compares against
the detector's sampled rows and a seeded sample of the rest (cost: about a CPU-second per thousand rows
at the cap; benchmarks/RESULTS.md "generalization"). Words are lowercased letter runs; Han, kana and
Hangul runs count as overlapping character pairs (no spaces to split on).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from curate.schema import Message, first_exchange

MARGIN = "qa_margin"  # column name
MAX_REFERENCE = 20_000  # questions compared against: past it, the cost per row stays flat
MAX_CHARS = 4000  # of each text read: the cost stays flat on long answers
BLOCK_CELLS = 1 << 24  # answer x reference cosines held at once (64 MB of float32)
READ_BATCH = 20_000  # conversations read at once for the run's own margins
_LETTERS = re.compile(r"[^\W\d_]+")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")


def _tokens(text: str) -> list[str]:
    out = []
    for word in _LETTERS.findall(text[:MAX_CHARS].lower()):
        if _CJK.search(word):
            out += [word[i:i + 2] for i in range(max(1, len(word) - 1))]
        elif len(word) >= 2:
            out.append(word)
    return out


class Reference:
    """A run's questions as TF-IDF vectors (vocabulary: those rows' questions and answers), to compare
    any answer against."""

    def __init__(self, conversations: Sequence[Sequence[Message]]):
        from sklearn.feature_extraction.text import TfidfVectorizer

        pairs = [first_exchange(c) for c in conversations]
        self._vectorizer: TfidfVectorizer | None = TfidfVectorizer(analyzer=_tokens, sublinear_tf=True,
                                                                   dtype=np.float32)
        try:
            self._vectorizer.fit([q for q, _, _ in pairs] + [a for _, a, _ in pairs])
            self.questions = self._vectorizer.transform([q for q, _, _ in pairs])
        except ValueError:  # no words anywhere
            self._vectorizer, self.questions = None, None

    def margin(self, conversations: Sequence[Sequence[Message]], own: np.ndarray) -> np.ndarray:
        """Per conversation: cosine(answer, its question) minus the best cosine of the answer to another
        question: reference question ``j`` for ``j != own`` (``own``: the reference position of the row
        itself, or of the original a copy was made from; -1 when it is not in the reference) or the
        conversation's next question (answers shifted up a turn fit it). NaN without an answer or without
        words the reference knows."""
        out = np.full(len(conversations), np.nan)
        if self._vectorizer is None or not len(conversations):
            return out
        questions, texts, following = zip(*(first_exchange(c) for c in conversations), strict=True)
        answers = self._vectorizer.transform(texts)
        mine = _cosines(answers, self._vectorizer.transform(questions))
        best = _cosines(answers, self._vectorizer.transform(following))
        step = max(1, BLOCK_CELLS // max(self.questions.shape[0], 1))
        for start in range(0, len(conversations), step):
            block = (answers[start:start + step] @ self.questions.T).toarray()
            own_here = own[start:start + step]
            rows = np.flatnonzero(own_here >= 0)
            block[rows, own_here[rows]] = 0.0
            best[start:start + step] = np.maximum(best[start:start + step], block.max(axis=1, initial=0.0))
        out = np.round(mine - best, 4)
        out[np.asarray(answers.getnnz(axis=1)) == 0] = np.nan
        return out


def _cosines(a, b) -> np.ndarray:
    """Row-wise cosine of two L2-normalised sparse matrices."""
    return np.asarray(a.multiply(b).sum(axis=1)).ravel()


def reference_ids(ids: list[str], sampled: list[str], seed: int) -> list[str]:
    """Every id when there are at most :data:`MAX_REFERENCE`; else the ``sampled`` ones (the detector's
    originals, whose copies are compared without them) and a seeded sample of the rest, in run order."""
    if len(ids) <= MAX_REFERENCE:
        return ids
    chosen = set(sampled)
    rest = [i for i in ids if i not in chosen]
    extra = np.random.default_rng(seed).permutation(len(rest))[: max(0, MAX_REFERENCE - len(chosen))]
    chosen |= {rest[k] for k in extra}
    return [i for i in ids if i in chosen]


@dataclass
class Alignment:
    """A run's :class:`Reference`, each reference id's position in it, and every id's ``qa_margin``."""

    reference: Reference
    position: dict[str, int]
    margins: pd.Series


def run_margins(ids: list[str], reference: list[str], read: Callable[[list[str]], list[list[Message]]],
                progress: bool = False) -> Alignment:
    """Fit the :class:`Reference` on ``reference`` ids and give every id its ``qa_margin``. The reference's
    conversations are read once; the other ids in batches, so a large run never holds all of them."""
    from tqdm.auto import tqdm

    known = dict(zip(reference, read(reference), strict=True))
    ref = Reference(list(known.values()))
    position = {i: k for k, i in enumerate(reference)}
    out = []
    for start in tqdm(range(0, len(ids), READ_BATCH), desc="qa_margin", unit="batch", disable=not progress):
        batch = ids[start:start + READ_BATCH]
        missing = [i for i in batch if i not in known]
        fetched = dict(zip(missing, read(missing), strict=True)) if missing else {}
        own = np.array([position.get(i, -1) for i in batch], dtype=np.int64)
        out.append(ref.margin([known[i] if i in known else fetched[i] for i in batch], own))
    return Alignment(ref, position, pd.Series(np.concatenate(out) if out else [], index=ids, dtype=float))
