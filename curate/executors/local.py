"""The default executor: this machine, shard by shard (``curate.scoring.run_scorer``).

``workers=1`` scores in this process. With more workers (default: one per core once the input has
``POOL_MIN_ROWS`` rows), CPU scorers (``resources.device == "cpu"``, no GPUs) score whole shards in a
process pool, one shard per task; each worker appends its shard's part to the score store
atomically, exactly as the in-process path does, so the scores are the same and a kill loses at most
the parts in flight. Model scorers stay in this process (one model load, torch's own threads).
Workers are spawned, so a script that calls ``curate.run`` keeps its work under
``if __name__ == "__main__":``, as with any process pool.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from curate.errors import UserError
from curate.executors.base import Shards
from curate.scorers.base import Scorer, scorer_key
from curate.scoring import COMPACT_PARTS, Conversations, run_scorer
from curate.store import ScoreStore, StoreLayout

FLUSH_ROWS = 50_000  # one store part per shard, not one per batch
POOL_MIN_ROWS = 100_000  # below this, unless workers are set, starting processes costs more than it saves


def shard_workers(n_shards: int) -> int:
    """One worker per core, never more than there are shards (the reader's ``jsonl_reader.default_workers``
    sizes by file instead)."""
    return max(1, min(os.cpu_count() or 1, n_shards))


class LocalExecutor:
    name = "local"

    def __init__(self, workers: int | None = None):
        if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
            raise UserError(f"executor 'local': workers must be a whole number >= 1 (or unset); got {workers!r}")
        self.workers = workers

    def _parallel(self, scorer: Scorer, shards: Shards, rows: int) -> int:
        res = scorer.resources
        if res.device != "cpu" or res.gpus or len(shards.paths) < 2:
            return 1
        if self.workers is None and rows < POOL_MIN_ROWS:
            return 1
        return self.workers or shard_workers(len(shards.paths))

    def fill(self, scorer: Scorer, shards: Shards, store: ScoreStore, progress: bool = True) -> None:
        """One row-level bar (rows/s, ETA) across every shard; already-scored rows are skipped."""
        rows = shards.num_rows()
        workers = self._parallel(scorer, shards, rows)
        with tqdm(total=rows, unit="rows", desc=f"score {scorer.name}", disable=not progress,
                  dynamic_ncols=True, smoothing=0.05) as bar:
            if workers > 1 and store.files is not None:
                bar.set_postfix(workers=workers, refresh=False)
                _fill_pool(scorer, shards, store, bar, workers)
                return
            for table in shards.tables():
                if table.num_rows:
                    before = bar.n
                    run_scorer(scorer, Conversations(table), store, flush_rows=FLUSH_ROWS, bar=bar)
                    bar.update(table.num_rows - (bar.n - before))  # rows found in the store count as done


# --- the process pool ---------------------------------------------------------------------------------

class _ShardStore(ScoreStore):
    """A worker's view of the store: the parent already left out scored ids, and compacts at the end
    (two workers compacting the same key at once could delete each other's inputs)."""

    def scored_ids(self, key: str, error_column: str | None = None) -> set[str]:
        return set()

    def compact(self, key: str) -> None:
        return None


class _QueueBar:
    """Stands in for tqdm inside a worker: row counts go to the parent's bar through a queue."""

    def __init__(self, q: Any):
        self.q = q

    def update(self, n: int) -> None:
        self.q.put(n)

    def set_postfix(self, *args: Any, **kwargs: Any) -> None:
        return None


_PROGRESS: Any = None


def _init_worker(progress: Any) -> None:
    global _PROGRESS
    _PROGRESS = progress
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # the pool is the parallelism


def _score_shard(scorer: Scorer, path: str, wanted: pa.Array, files: StoreLayout) -> int:
    """Score the ``wanted`` ids of one shard into the store ``files`` lays out; returns rows scored."""
    table = pq.read_table(path, columns=["id", "messages"])
    mask = pc.is_in(table["id"], value_set=wanted)
    if not pc.all(mask).as_py():  # a fresh run wants every row: no copy of the text
        table = table.filter(mask)
    convs, bar = Conversations(table), _QueueBar(_PROGRESS)
    run_scorer(scorer, convs, _ShardStore(files), flush_rows=FLUSH_ROWS, bar=bar)
    bar.update(table.num_rows - len(convs))  # repeated ids in the shard count as done
    return table.num_rows


def _fill_pool(scorer: Scorer, shards: Shards, store: ScoreStore, bar: Any, workers: int) -> None:
    key = scorer_key(scorer)
    done = pa.array(sorted(store.scored_ids(key)), pa.string()) if key in set(store.keys()) else None
    assert store.files is not None
    ctx = mp.get_context("spawn")  # safe with threads (tqdm, pyarrow) and on every OS
    progress = ctx.Queue()

    def drain() -> None:
        n = 0
        while True:
            try:
                n += progress.get_nowait()
            except queue.Empty:
                break
        if n:
            bar.update(n)

    with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker, initargs=(progress,)) as pool:
        futures: list[Future] = []
        for path in shards.paths:
            ids = pq.read_table(path, columns=["id"])["id"]
            if shards.keep is not None:
                ids = ids.filter(pc.is_in(ids, value_set=shards.keep))
            skipped = len(ids)
            if done is not None and len(ids):
                ids = ids.filter(pc.invert(pc.is_in(ids, value_set=done)))
            skipped -= len(ids)
            bar.update(skipped)  # rows found in the store count as done
            if len(ids):
                fut = pool.submit(_score_shard, scorer, str(Path(path)), ids.combine_chunks(), store.files)
                futures.append(fut)
        pending = set(futures)
        try:
            while pending:
                finished, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                drain()
                for fut in finished:
                    fut.result()  # a worker's exception (e.g. a UserError) surfaces here
        except BrokenProcessPool:
            raise UserError(
                "a scoring worker process died: killed for memory, or the script that calls curate.run "
                "starts its work at import (worker processes import it again; put that work under "
                "`if __name__ == \"__main__\":`); executor_settings.workers: 1 scores in this process"
            ) from None
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)  # finished parts stay in the store
            raise
        time.sleep(0.05)
        drain()
    if len(store.parts(key)) > COMPACT_PARTS:
        store.compact(key)
