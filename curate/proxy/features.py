"""Cheap features for the proxy: every numeric and vector column of the feature scorers' store keys.

Feature scorers (heuristics, static or torch embeddings) run on every row through the score store,
so the features a recipe already computed for dedup and diversity cost nothing here. Vectors come
memory-mapped from :meth:`curate.store.ScoreStore.embeddings`; the matrix is built a chunk of rows at a
time, so applying the proxy to millions of rows never holds every row's features at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from curate.rundir import RunDir


def _is_vector(t: pa.DataType) -> bool:
    """Embeddings are stored as float16 lists; per-turn lists (``ifd_turns``) are not features."""
    return pa.types.is_list(t) and pa.types.is_float16(t.value_type)


def _is_scalar(t: pa.DataType) -> bool:
    return pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t)


@dataclass
class Features:
    """Scalar columns of all feature keys (one frame indexed by id) plus their vector columns."""

    scalars: pd.DataFrame
    vectors: list[tuple[str, pd.Index, np.ndarray]]  # (key/column, ids of the matrix, float16 matrix)

    @property
    def names(self) -> list[str]:
        return list(self.scalars.columns) + [f"{name}[{v.shape[1]}]" for name, _, v in self.vectors]

    def matrix(self, ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(float32 features of ``ids``, mask of rows that have every vector feature)."""
        scal = self.scalars.reindex(ids).to_numpy(np.float32)
        blocks, ok = [scal], np.ones(len(ids), bool)
        for _, index, mat in self.vectors:
            at = index.get_indexer(ids)
            block = np.zeros((len(ids), mat.shape[1]), np.float32)
            found = at >= 0
            block[found] = mat[at[found]]
            blocks.append(block)
            ok &= found
        return np.hstack(blocks), ok


def load_features(run_dir: str, keys: list[str]) -> Features:
    """The features stored under ``keys`` of ``run_dir``'s score store."""
    store = RunDir(run_dir).score_store()
    assert store.root is not None
    scalars: list[pd.DataFrame] = []
    vectors = []
    for key in keys:
        part = next((store.root / key).glob("part-*.parquet"), None)
        if part is None:
            continue
        schema = pq.read_schema(part)
        cols = [f.name for f in schema if f.name != "id" and _is_scalar(f.type)]
        if cols:
            frame = store.read(key, ["id", *cols]).to_pandas().set_index("id").astype(np.float32)
            scalars.append(frame.add_suffix(f"@{key}"))
        for f in schema:
            if _is_vector(f.type):
                ids, mat = store.embeddings(key, f.name)
                vectors.append((f"{key}/{f.name}", pd.Index(ids), mat))
    table = pd.concat(scalars, axis=1) if scalars else pd.DataFrame(index=pd.Index([], name="id"))
    return Features(table, vectors)
