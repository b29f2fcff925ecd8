"""What a user hands the API, read one way: "the data" as a conversation table
(:func:`conversation_table`, for ``curate.score``, ``curate.dedup`` and ``curate.distill``) and
``(ids, matrix)`` embeddings lined up with a table's rows (:func:`embedding_rows`, for semantic dedup
and a subset's diversity). Below the API modules, above ``rundir`` and ``loaders``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from curate.errors import UserError
from curate.loaders import load
from curate.rundir import RunDir

Embeddings = tuple[Any, np.ndarray]


def conversation_table(data: Any, what: str = "data", messages: bool = True) -> pa.Table:
    """A conversation table from a Table, a ``curate.load`` result, a DataFrame, a run directory or an
    input path.

    Args:
        data: a pyarrow Table, a ``Loaded`` (its ``table``), a pandas DataFrame, a run directory (its
            conversations) or anything else ``curate.load`` reads (a file, folder or hub id).
        what: the argument's name, for the errors.
        messages: require a ``messages`` column; False accepts a table of ids (and rows, scores) only,
            for callers that bring precomputed signatures or read the text from a run.

    Returns:
        The table, its columns as they came.

    Raises:
        UserError: ``data`` of another type, a DataFrame Arrow cannot hold, or a table without ``id``
            (and ``messages``).
    """
    if isinstance(data, pa.Table):
        table = data
    elif isinstance(data, pd.DataFrame):  # before ``.table``: a DataFrame may have a column of that name
        try:
            table = pa.Table.from_pandas(data, preserve_index=False)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
            raise UserError(f"{what}: the DataFrame does not convert to Arrow: {e}") from None
    elif isinstance(data, str | Path):
        run = RunDir(data)
        table = run.conversations_table() if run.conversations_path.exists() else load(data).table
    elif isinstance(getattr(data, "table", None), pa.Table):  # curate.loaders.Loaded
        table = data.table
    else:
        raise UserError(f"{what}: expected a pyarrow Table, pandas DataFrame, curate.load(...) result, run "
                        f"directory or input path, got {type(data).__name__}")
    needed = ["id", "messages"] if messages else ["id"]
    missing = [c for c in needed if c not in table.column_names]
    if missing:
        raise UserError(f"{what} needs column{'s' * (len(needed) > 1)} {' and '.join(map(repr, needed))}; the "
                        f"table lacks column(s) {missing} (it has {table.column_names[:8]}); read the input "
                        "with curate.load(...)")
    return table


def embedding_rows(embeddings: Embeddings, ids: Any, what: str = "embeddings") -> np.ndarray:
    """Where each of ``ids`` has its vector in ``embeddings``' matrix, -1 where it has none.

    Exact copies share an id (and a vector), so the first row of a repeated id serves all of them.
    Ids compare as strings.

    Args:
        embeddings: ``(ids, matrix)``, one matrix row per id (``curate.load_embeddings(run)``).
        ids: the rows' ids, in row order.
        what: the argument's name, for the errors.

    Returns:
        int64 positions in the matrix, one per id of ``ids``.

    Raises:
        UserError: a matrix that is not 2-d or whose rows do not match its ids.
    """
    emb_ids, matrix = embeddings
    if np.ndim(matrix) != 2 or len(matrix) != len(emb_ids):
        raise UserError(f"{what}: {len(emb_ids)} ids but vectors of shape {np.shape(matrix)}; expected one row of "
                        "vectors per id")
    index = pd.Index(np.asarray(emb_ids, dtype=object)).astype(str)
    positions = np.arange(len(index))
    if not index.is_unique:
        keep = ~index.duplicated()
        index, positions = index[keep], positions[keep]
    found = index.get_indexer(pd.Index(np.asarray(ids, dtype=object)).astype(str))
    out = np.full(len(found), -1, np.int64)
    out[found >= 0] = positions[found[found >= 0]]
    return out
