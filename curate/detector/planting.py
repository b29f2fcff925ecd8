"""Corrupted copies of a sample of the run's own rows: the detector's positive examples.

The corruption library is the audit's (``curate.auditing.corruptions``): families of variants, planted
by ``curate.auditing.plant`` with its donors (nearest question, another language). Here each planted
row is kept *beside* its original, so the detector learns the damage, not the topic of the row.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import pandas as pd

from curate.auditing.corruptions import VARIANTS, resolve_kinds
from curate.schema import Message

NOT_LEARNED = ("near_dup",)  # dedup's job: an edited copy is good text, only repeated
MAX_RATE = 0.9  # of a round's rows planted: plant() keeps some clean rows (donors, comparison)


def expand(names: Iterable[str]) -> tuple[str, ...]:
    """Variant names from variant and family names (``all`` included); ValueError naming the allowed ones."""
    names = list(names)
    return resolve_kinds(names) if names else ()


def learnable() -> tuple[str, ...]:
    """Every variant the detector plants by default: all but the ones dedup owns (edited copies)."""
    return tuple(v for v in VARIANTS if v not in NOT_LEARNED)


def plant_copies(conversations: list[list[Message]], variants: tuple[str, ...], copies: float,
                 seed: int) -> tuple[list[list[Message]], pd.DataFrame]:
    """About ``copies * n`` corrupted copies of the rows of ``conversations``, in rounds of at most 0.9 per
    row (each round a different seed, so a row gets different damage), variants equally mixed on rows
    they fit; one label row per copy: ``position`` (of its original), ``kind``, ``family``."""
    from curate.auditing.plant import plant, planted_count

    rounds = math.ceil(copies / MAX_RATE)
    per_round = planted_count(len(conversations), copies / rounds)
    out, labels = [], []
    for r in range(rounds):  # a small sample takes the variants in turns, as many a round as it plants rows
        turn = [variants[(r * per_round + j) % len(variants)] for j in range(min(per_round, len(variants)))]
        pool = plant(conversations, copies / rounds, tuple(dict.fromkeys(turn)), seed + 1000 * r)
        planted = pool.labels[pool.labels["kind"] != ""]
        out += [pool.conversations[p] for p in planted["position"]]
        labels.append(planted[["position", "kind", "family"]])
    return out, pd.concat(labels, ignore_index=True)
