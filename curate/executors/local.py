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
        for table in tqdm(shards.tables(), total=len(shards.paths), unit="shard", desc=f"score {scorer.name}",
                          disable=not progress or len(shards.paths) < 2):
            if table.num_rows:
                run_scorer(scorer, Conversations(table), store, progress=False, flush_rows=FLUSH_ROWS)
