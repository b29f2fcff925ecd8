"""Scoring on a Ray cluster: Ray Data reads the shards, an actor pool scores them, the driver
appends the results to the same score store the local executor uses (so resume works across both).

Each actor builds its scorer once (model loaded once per actor); a scorer whose resources ask for a
GPU gets ``num_gpus`` per actor and one actor per GPU. The run directory must be on storage every
node can read (the shards) when the cluster has more than one machine.
"""

from __future__ import annotations

import time
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from curate._optional import require
from curate.errors import UserError
from curate.executors.base import Shards
from curate.scorers.base import Scorer, scorer_key
from curate.store import ScoreStore


def _ray():
    return require("ray")


class _ScoreActor:
    """One per worker slot: holds a built (and loaded) scorer; scores the wanted rows of a batch."""

    def __init__(self, scorer: Scorer, todo: pa.Array):
        from curate.scoring import _place

        self.scorer, self.todo = scorer, todo
        _place(self.scorer, "auto")
        if hasattr(self.scorer, "load"):
            self.scorer.load()  # once per actor, not per batch

    def __call__(self, batch: pa.Table) -> pa.Table:
        from curate.scoring import _score_safe, _table

        batch = batch.filter(pc.is_in(batch["id"], value_set=self.todo))
        cols, errors = _score_safe(self.scorer, batch["messages"].to_pylist()) if batch.num_rows else ({}, [])
        if not batch.num_rows:
            cols = {c: [] for c in self.scorer.columns}
        return _table(batch["id"].to_pylist(), cols, errors, f"{self.scorer.name}_error")


class RayExecutor:
    name = "ray"

    def __init__(self, address: str | None = None, actors: int | None = None, flush_rows: int = 50_000,
                 init_kwargs: dict[str, Any] | None = None):
        self.address, self.actors, self.flush_rows = address, actors, flush_rows
        self.init_kwargs = init_kwargs or {}

    def _init(self):
        ray = _ray()
        if not ray.is_initialized():
            try:
                ray.init(address=self.address, ignore_reinit_error=True, log_to_driver=False, **self.init_kwargs)
            except ConnectionError as e:
                raise UserError(f"cannot connect to the Ray cluster at {self.address!r}: {e}") from None
        return ray

    def _pool(self, ray, scorer: Scorer) -> dict[str, Any]:
        """Actor pool size and per-actor resources from the scorer's declared resources."""
        res = ray.cluster_resources()
        gpus = scorer.resources.gpus or (1.0 if scorer.resources.device == "cuda" else 0.0)
        if gpus and not res.get("GPU"):
            raise UserError(f"scorer {scorer.name!r} asks for a GPU but the Ray cluster has none")
        if gpus:
            size = self.actors or max(1, int(res["GPU"] // gpus))
            return {"size": size, "num_gpus": gpus, "num_cpus": 1}
        # one CPU stays free for the read tasks, or the pool would starve them
        return {"size": self.actors or max(1, int(res.get("CPU", 1)) - 1), "num_gpus": 0, "num_cpus": 1}

    def fill(self, scorer: Scorer, shards: Shards, store: ScoreStore, progress: bool = True) -> None:
        ray = self._init()
        from ray.data import ActorPoolStrategy

        key = scorer_key(scorer)
        done = store.scored_ids(key) if key in set(store.keys()) else set()
        todo = shards.ids()
        todo = pa.array([i for i in todo if i not in done], pa.string())
        if not len(todo):
            return
        meta = {"name": scorer.name, "key": key, "settings": scorer.settings(), "columns": list(scorer.columns),
                "executor": "ray"}
        store.write_meta(key, meta)
        pool = self._pool(ray, scorer)
        ds = ray.data.read_parquet([str(p) for p in shards.paths]).select_columns(["id", "messages"])
        ds = ds.map_batches(_ScoreActor, fn_constructor_args=(scorer, todo), batch_format="pyarrow",
                            batch_size=max(1, scorer.resources.batch_size),
                            compute=ActorPoolStrategy(size=pool["size"]),
                            num_gpus=pool["num_gpus"], num_cpus=pool["num_cpus"])
        buffer: list[pa.Table] = []
        last = time.monotonic()
        for block in ds.iter_batches(batch_size=None, batch_format="pyarrow"):
            # an id can sit in two shards (exact duplicates): the store keeps the newest copy
            buffer.append(block)
            if sum(t.num_rows for t in buffer) >= self.flush_rows or time.monotonic() - last > 60:
                self._flush(store, key, buffer)
                buffer, last = [], time.monotonic()
        self._flush(store, key, buffer)

    @staticmethod
    def _flush(store: ScoreStore, key: str, buffer: list[pa.Table]) -> None:
        from curate.store import concat

        if buffer:
            store.append(key, concat(buffer))
