"""What the steps of a run share: the :class:`Context` they read and extend, the :class:`Step` contract
and the :class:`StepCounts` each returns."""

from __future__ import annotations

import logging
import sys
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from tqdm.auto import tqdm

from curate.recipe import Recipe
from curate.rundir import RunDir


@dataclass
class StepCounts:
    """Rows a step saw and passed on; ``removed`` (reason -> rows) accounts for every difference."""

    rows_in: int
    rows_out: int
    removed: dict[str, int] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)  # what ``restore`` needs, kept in the marker

    def reconciles(self) -> bool:
        return self.rows_in == self.rows_out + sum(self.removed.values())


@dataclass
class Context:
    """The state one run builds up, step by step, in the run directory ``rundir``. ``table`` holds the
    compact per-row columns (id, row, source; never the text, which stays in ``shards``); ``alive`` marks
    the rows no step removed yet."""

    recipe: Recipe
    rundir: RunDir
    executor: Any
    progress: bool = True
    fingerprint: str = ""  # of the step now running: its inputs and settings
    shards: list[Path] = field(default_factory=list)
    table: pa.Table | None = None
    alive: np.ndarray | None = None
    scores: pd.DataFrame | None = None
    scorers: list[Any] = field(default_factory=list)
    subsets: dict[str, int] = field(default_factory=dict)
    _embeddings: dict[tuple[str, str], Any] = field(default_factory=dict)

    def warn(self, message: str) -> None:
        """One warning line: on stderr beside the progress lines, else to the ``curate.pipeline`` logger."""
        if self.progress:
            tqdm.write(f"curate: warning: {message}", file=sys.stderr)
        else:
            logging.getLogger("curate.pipeline").warning(message)

    def add_scores(self, frame: pd.DataFrame, specs: list[Any]) -> None:
        """Join a step's score columns (``id`` + columns) onto the run's scores; ``specs`` are recorded
        in the manifest."""
        self.scores = frame if self.scores is None else self.scores.merge(frame, on="id", how="left")
        self.scorers += list(specs)

    def remove(self, mask: np.ndarray) -> None:
        """Mark the alive rows where ``mask`` (over the alive rows) is True as removed."""
        at = np.nonzero(self.alive)[0]
        self.alive[at[np.asarray(mask, bool)]] = False

    def kept(self) -> pa.Table:
        return self.table.filter(pa.array(self.alive))

    def positions(self) -> np.ndarray:
        """Indices of the alive rows in the concatenated shards (ascending)."""
        return np.nonzero(self.alive)[0]

    def embeddings(self, name: str = "embedding", column: str = "embedding") -> Any:
        """``(ids, matrix)`` of a scorer's vectors from the score store, read once per run."""
        if (name, column) not in self._embeddings:
            self._embeddings[name, column] = self.rundir.embeddings(name, column)
        return self._embeddings[name, column]


class Step(ABC):
    """One stage of a run. ``settings`` (with the fingerprint of the steps before it) decides whether
    the step's marker still matches; ``run`` does the work and ``restore`` re-reads its outputs into the
    context when the runner skips it. Adding a stage is writing one subclass and listing it in
    ``curate.pipeline.runner.steps``."""

    name: str = ""

    def settings(self, ctx: Context) -> Any:
        """What, besides the upstream steps, decides this step's output (JSON-able)."""
        return None

    def outputs(self, ctx: Context) -> list[Path]:
        """Files that must exist for a matching marker to count as done."""
        return []

    @abstractmethod
    def run(self, ctx: Context) -> StepCounts:
        """Do the work, write the outputs, extend ``ctx``."""

    @abstractmethod
    def restore(self, ctx: Context, info: dict[str, Any]) -> None:
        """Bring ``ctx`` to where ``run`` would leave it, from the outputs and the marker's ``info``."""
