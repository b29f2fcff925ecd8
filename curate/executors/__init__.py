"""Executors: where row-wise scoring runs. ``local`` (default) scores shard by shard in this process;
``ray`` spreads the same work over a Ray cluster (Ray Data ``map_batches`` with an actor pool per
scorer, ``num_gpus`` per actor for GPU scorers, so each GPU loads its model once).

Both write into the same score store (``RUN/scores/``) under the same scorer keys, so a run can be
started on one executor and resumed on the other. Global steps (exact and MinHash dedup, selection)
stay on the driver over compact per-row arrays (ids, uint32 signatures).
"""

from curate.executors.base import Executor, Shards, get_executor, score_shards

__all__ = ["Executor", "Shards", "get_executor", "score_shards"]
