"""What a scorer is: a named, batched function from conversations to score columns.

A scorer's ``key`` covers everything that changes its numbers (name, model, revision, settings),
so the score store never mixes results of different settings. Failures are ``None`` in the
columns plus a message in ``error``; never a made-up default.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from curate.rundir import fingerprint
from curate.schema import Message


@dataclass(frozen=True)
class Resources:
    """What a scorer needs, so executors can place it (NeMo Curator's stage resources)."""

    device: str = "cpu"  # "cpu" | "cuda" | "auto"
    batch_size: int = 256
    gpus: float = 0.0


@runtime_checkable
class Scorer(Protocol):
    name: str
    columns: tuple[str, ...]
    resources: Resources

    def settings(self) -> dict[str, Any]:
        """Everything that changes the numbers (model id, revision, max length, ...)."""

    def score(self, conversations: list[list[Message]]) -> dict[str, list[Any]]:
        """One list per column, aligned with ``conversations``; ``None`` where a row failed."""


def scorer_key(scorer: Scorer) -> str:
    """``name-<hash of settings>``: a changed setting gives a new key, never an overwrite."""
    return f"{scorer.name}-{fingerprint(scorer.name, scorer.settings())[:10]}"


def row_by_row(score_row: Callable[[list[Message]], dict[str, Any]], conversations: list[list[Message]],
               columns: tuple[str, ...]) -> dict[str, list[Any]]:
    """A scorer's columns from a function that scores one conversation into a dict (the no-model scorers)."""
    rows = [score_row(c) for c in conversations]
    return {col: [r[col] for r in rows] for col in columns}
