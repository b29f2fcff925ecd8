"""The executor contract and the one scoring loop both executors share."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from curate.rundir import RunDir
from curate.scorers import build
from curate.scorers.base import Scorer, scorer_key
from curate.store import ScoreStore, join_frames


@dataclass
class Shards:
    """Conversation shards on disk (``RUN/data/shards/part-*.parquet``), optionally only some ids.

    Read one shard at a time, so scoring memory is bounded by the shard size, not the input size.
    """

    paths: list[Path]
    keep: pa.Array | None = None  # only rows whose id is in here (e.g. the valid rows)

    def tables(self, columns: Sequence[str] = ("id", "messages")) -> Iterator[pa.Table]:
        for p in self.paths:
            t = pq.read_table(p, columns=list(columns))
            if self.keep is not None:
                t = t.filter(pc.is_in(t["id"], value_set=self.keep))
            yield t

    def num_rows(self) -> int:
        """Rows the shards hold (after ``keep``): the total of a progress bar."""
        if self.keep is None:
            return sum(pq.ParquetFile(p).metadata.num_rows for p in self.paths)
        return sum(t.num_rows for t in self.tables(("id",)))

    def ids(self) -> list[str]:
        """Unique ids in first-seen order (what ``curate.score`` returns rows for)."""
        seen: dict[str, None] = {}
        for t in self.tables(("id",)):
            seen.update(dict.fromkeys(t["id"].to_pylist()))
        return list(seen)


class Executor(Protocol):
    name: str

    def fill(self, scorer: Scorer, shards: Shards, store: ScoreStore, progress: bool = True) -> None:
        """Score every row of ``shards`` missing from ``store`` under the scorer's key."""


def score_shards(
    executor: Executor,
    shards: Shards,
    scorers: Sequence[str | Mapping[str, Any] | Scorer],
    run: str | os.PathLike,
    progress: bool = True,
) -> pd.DataFrame:
    """Like ``curate.score`` over shards: one row per unique id, every scorer's columns."""
    built = [build(spec) for spec in scorers]
    store = RunDir(run).score_store()
    for scorer in built:
        executor.fill(scorer, shards, store, progress=progress)
    return stored_scores(shards, built, run)


def stored_scores(shards: Shards, scorers: Sequence[str | Mapping[str, Any] | Scorer],
                  run: str | os.PathLike) -> pd.DataFrame:
    """The scores ``score_shards`` returns, read from the store without scoring anything."""
    store = RunDir(run).score_store()
    ids = shards.ids()
    frames = {}
    have = set(store.keys())
    for spec in scorers:
        key = scorer_key(build(spec))
        frames[key] = store.frame(key, ids) if key in have else pd.DataFrame({"id": pd.Series([], dtype=object)})
    return join_frames(frames, ids)
