"""The default executor: this process, one shard at a time (``curate.scoring.run_scorer``)."""

from __future__ import annotations

from tqdm.auto import tqdm

from curate.executors.base import Shards
from curate.scorers.base import Scorer
from curate.scoring import Conversations, run_scorer
from curate.store import ScoreStore

FLUSH_ROWS = 50_000  # one store part per shard, not one per batch


class LocalExecutor:
    name = "local"

    def fill(self, scorer: Scorer, shards: Shards, store: ScoreStore, progress: bool = True) -> None:
        """One row-level bar (rows/s, ETA) across every shard; already-scored rows are skipped."""
        with tqdm(total=shards.num_rows(), unit="rows", desc=f"score {scorer.name}", disable=not progress,
                  dynamic_ncols=True, smoothing=0.05) as bar:
            for table in shards.tables():
                if table.num_rows:
                    before = bar.n
                    run_scorer(scorer, Conversations(table), store, flush_rows=FLUSH_ROWS, bar=bar)
                    bar.update(table.num_rows - (bar.n - before))  # rows found in the store count as done
