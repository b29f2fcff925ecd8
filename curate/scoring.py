"""``curate.score``: run scorers over conversations in batches, resuming from the score store.

Only ids missing from the store are scored, so a re-run is near-instant and a crashed run picks up
where it stopped. A batch that raises is retried in halves down to single rows; a row that still
fails gets ``None`` in every column and its message in ``<name>_error``, and the batches around it
are kept. Finished batches are flushed to the store as atomic parts every ``flush_rows`` rows or
``flush_seconds`` seconds, so a kill loses at most the part in flight.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from tqdm.auto import tqdm

from curate._deprecated import renamed
from curate.errors import UserError
from curate.inputs import conversation_table
from curate.rundir import RunDir
from curate.schema import Message, conversation_id
from curate.scorers import build
from curate.scorers.base import Scorer, scorer_key
from curate.store import ScoreStore, concat, join_frames

COMPACT_PARTS = 64  # merge a key's parts once it has more than this many


class Conversations:
    """Unique conversations of the input in first-seen order; messages materialized on demand."""

    def __init__(self, data: Any):
        if isinstance(data, Sequence) and not isinstance(data, str):  # message lists: scoring's own input
            self._list: list[list[Message]] | None = [list(m) for m in data]
            self._table: pa.Table | None = None
            all_ids = [conversation_id(m) for m in self._list]
        else:
            self._list, self._table = None, conversation_table(data)
            all_ids = self._table["id"].to_pylist()
        first: dict[str, int] = {}
        for pos, i in enumerate(all_ids):
            first.setdefault(i, pos)
        self.ids = list(first)
        self._pos = list(first.values())

    def __len__(self) -> int:
        return len(self.ids)

    def messages(self, rows: list[int], arrow: bool = False) -> list[list[Message]] | pa.Array:
        """The rows' message lists; with ``arrow`` (a scorer's ``arrow_input``) the Arrow column slice."""
        positions = [self._pos[r] for r in rows]
        if self._list is not None:
            return [self._list[p] for p in positions]
        assert self._table is not None
        column = self._table["messages"]
        if positions and positions[-1] - positions[0] == len(positions) - 1:  # increasing, so a run: no copy
            taken = column.slice(positions[0], len(positions))
        else:
            taken = column.take(pa.array(positions, pa.int64()))
        if not arrow:
            return taken.to_pylist()
        return taken.chunk(0) if taken.num_chunks == 1 else taken.combine_chunks()


def _column(values: list[Any]) -> pa.Array:
    """Vectors (1-d float numpy arrays) become float16 lists; everything else as Arrow infers. The
    first non-null value decides (a column holds one kind of value)."""
    first = next((v for v in values if v is not None), None)
    if isinstance(first, np.ndarray) and first.ndim == 1:
        return pa.array([None if v is None else np.asarray(v, np.float16) for v in values],
                        type=pa.list_(pa.float16()))
    return pa.array(values)


def _table(ids: list[str], cols: dict[str, list[Any]], errors: list[str | None], err_col: str) -> pa.Table:
    data = {"id": pa.array(ids, pa.string())}
    data.update({c: _column(v) for c, v in cols.items()})
    data[err_col] = pa.array(errors, pa.string())
    return pa.table(data)


def _score_safe(scorer: Scorer, convs: list[list[Message]] | pa.Array) -> tuple[dict[str, list[Any]], list[str | None]]:
    """Score a batch; on an exception retry each half, down to single rows that record the error."""
    err_col = f"{scorer.name}_error"
    n = len(convs)
    try:
        out = dict(scorer.score(convs))
        errors = list(out.pop(err_col, None) or [None] * n)
        bad = [c for c in scorer.columns if len(out.get(c, ())) != n]
        if bad or len(errors) != n:
            raise RuntimeError(f"scorer {scorer.name!r} returned wrong lengths for columns {bad or [err_col]}")
        return {c: list(out[c]) for c in scorer.columns}, errors
    except UserError:
        raise
    except Exception as e:  # noqa: BLE001 - any model failure becomes a recorded null, never a crash
        if "torch" in sys.modules and "out of memory" in str(e).lower():
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        if n == 1:
            return {c: [None] for c in scorer.columns}, [f"{type(e).__name__}: {e}"[:500]]
        left, right = _score_safe(scorer, convs[: n // 2]), _score_safe(scorer, convs[n // 2:])
        return {c: left[0][c] + right[0][c] for c in scorer.columns}, left[1] + right[1]


def _place(scorer: Scorer, device: str) -> None:
    """The call's device applies to scorers left on ``auto``."""
    if device != "auto" and getattr(scorer, "device", None) == "auto":
        scorer.device = device  # type: ignore[attr-defined]


def run_scorer(
    scorer: Scorer,
    convs: Conversations,
    store: ScoreStore,
    progress: bool = True,
    retry_failed: bool = False,
    flush_rows: int | None = None,
    flush_seconds: float = 60.0,
    bar: Any = None,
) -> str:
    """Score the rows of ``convs`` missing under the scorer's key; returns the key."""
    key = scorer_key(scorer)
    err_col = f"{scorer.name}_error"
    done = store.scored_ids(key, err_col if retry_failed else None) if key in set(store.keys()) else set()
    todo = [r for r, i in enumerate(convs.ids) if i not in done]
    if not todo:
        return key
    if hasattr(scorer, "load"):
        scorer.load()  # a bad model path fails here, loudly, not as a column of nulls
    meta = {"name": scorer.name, "key": key, "settings": scorer.settings(), "columns": list(scorer.columns)}
    if hasattr(scorer, "meta"):
        meta.update(scorer.meta())
    store.write_meta(key, meta)
    batch = max(1, scorer.resources.batch_size)
    flush_rows = flush_rows or max(batch, 1024)
    buffer: list[pa.Table] = []
    last_flush = time.monotonic()

    def flush() -> None:
        nonlocal buffer, last_flush
        if buffer:
            store.append(key, concat(buffer))
        buffer, last_flush = [], time.monotonic()

    own_bar = bar is None  # an executor may pass one bar that spans all its shards
    if own_bar:
        bar = tqdm(total=len(todo), unit="rows", desc=f"score {scorer.name}", disable=not progress,
                   dynamic_ncols=True, smoothing=0.05)
    n_failed = 0
    try:
        for start in range(0, len(todo), batch):
            rows = todo[start:start + batch]
            cols, errors = _score_safe(scorer, convs.messages(rows, getattr(scorer, "arrow_input", False)))
            n_failed += sum(e is not None for e in errors)
            buffer.append(_table([convs.ids[r] for r in rows], cols, errors, err_col))
            bar.update(len(rows))
            if n_failed:
                bar.set_postfix(failed=n_failed, refresh=False)
            if sum(t.num_rows for t in buffer) >= flush_rows or time.monotonic() - last_flush > flush_seconds:
                flush()
    finally:  # Ctrl-C keeps the finished batches
        flush()
        if own_bar:
            bar.close()
    if len(store.parts(key)) > COMPACT_PARTS:  # an in-memory store has none
        store.compact(key)
    return key


def score(
    data: Any,
    scorers: Sequence[str | Mapping[str, Any] | Scorer],
    run_dir: str | os.PathLike | None = None,
    device: str = "auto",
    progress: bool = True,
    retry_failed: bool = False,
    flush_rows: int | None = None,
    run: str | os.PathLike | None = None,
) -> pd.DataFrame:
    """Score ``data`` with every scorer; one row per unique id with all requested columns.

    Args:
        data: the conversations: a ``Loaded``, a pyarrow Table or pandas DataFrame with ``id`` and
            ``messages``, a run directory (its conversations), an input path ``curate.load`` reads, or a
            list of message lists.
        scorers: scorer names (``curate.scorers.available()``), settings dicts with a ``name``, or Scorer
            instances; a single one stands for a list of one.
        run_dir: a run directory whose score store is read and extended (None: in memory only).
        device: ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:1"``, for model scorers left on ``auto``.
        progress: show a progress bar per scorer.
        retry_failed: re-score rows whose earlier try recorded an error.
        flush_rows: rows buffered before they are written to the store (default: the scorer's batch
            size, at least 1024).
        run: the deprecated name of ``run_dir``.

    Returns:
        A DataFrame of the unique ids in first-seen order: ``id``, each scorer's columns and its
        ``<name>_error`` (the message where a row failed; its values are null there).

    Raises:
        UserError: no scorers, an unknown scorer or setting, or ``data`` of another type or without
            ``id`` and ``messages``.
        TypeError: both ``run_dir`` and ``run``, with different values.
    """
    if isinstance(scorers, (str, Mapping)) or not isinstance(scorers, Sequence):
        scorers = [scorers]  # type: ignore[list-item]
    if not scorers:
        raise UserError("no scorers given; available: see curate.scorers.available()")
    run_dir = renamed("curate.score", "run", "run_dir", run, run_dir)
    built = [build(s) for s in scorers]
    convs = Conversations(data)
    store = RunDir(run_dir).score_store() if run_dir is not None else ScoreStore(None)
    frames: dict[str, pd.DataFrame] = {}
    for s in built:
        _place(s, device)
        key = run_scorer(s, convs, store, progress=progress, retry_failed=retry_failed, flush_rows=flush_rows)
        frames[key] = store.frame(key, convs.ids)
    return join_frames(frames, convs.ids)
