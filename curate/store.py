"""The score store: every scorer's columns keyed by row ``id``, once per scorer key.

Per key: parts (``id`` + the scorer's columns + ``<name>_error``) and a meta file (name, settings, model
revision). Parts are written atomically and only appended, so a killed run loses at most the part in
flight; when one id appears in several parts the newest part wins (a retried failure replaces its error
row). Vector columns are float16 lists; :meth:`ScoreStore.embeddings` serves them as one memory-mapped
matrix from a cache rebuilt when the parts change.

This module knows neither the run directory nor its file names: ``curate.rundir`` imports it and hands
it a ``StoreFiles`` (``RunDir.score_store()``), never the other way.
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Collection
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from curate.errors import UserError
from curate.files import atomic_path, write_json, write_parquet


def concat(tables: list[pa.Table]) -> pa.Table:
    """Concatenate parts whose types differ only by all-null columns; newest copy of an id wins."""
    if not tables:
        return pa.table({"id": pa.array([], pa.string())})
    table = pa.concat_tables(tables, promote_options="permissive")
    if table.num_rows and pc.count_distinct(table["id"]).as_py() < table.num_rows:
        pos = pa.array(np.arange(table.num_rows))
        last = table.append_column("__pos", pos).group_by("id", use_threads=False).aggregate([("__pos", "max")])
        table = table.take(pa.array(np.sort(last["__pos_max"].to_numpy())))
    return table


class StoreLayout(Protocol):
    """Where the store's files are: ``curate.rundir.StoreFiles`` (the run layout is spelled there)."""

    root: Path

    def keys(self) -> list[str]: ...
    def meta(self, key: str) -> Path: ...
    def parts(self, key: str) -> list[Path]: ...
    def new_part(self, key: str) -> Path: ...
    def cache_dir(self, key: str) -> Path: ...
    def cache(self, key: str, column: str) -> tuple[Path, Path]: ...


class ScoreStore:
    """Score parts in the files ``files`` lays out (a run's ``RunDir(run).score_store()``), or in memory
    when ``files`` is None."""

    def __init__(self, files: StoreLayout | None):
        self.files = files
        self.root = files.root if files is not None else None
        self._mem: dict[str, list[pa.Table]] = {}
        self._mem_meta: dict[str, dict] = {}

    # --- listing ----------------------------------------------------------------------------
    def keys(self) -> list[str]:
        return sorted(self._mem_meta) if self.files is None else self.files.keys()

    def meta(self, key: str) -> dict:
        if self.files is None:
            return dict(self._mem_meta.get(key, {}))
        p = self.files.meta(key)
        return json.loads(p.read_text()) if p.exists() else {}

    def write_meta(self, key: str, meta: dict[str, Any]) -> None:
        old = self.meta(key)
        meta = {**old, **meta, "created": old.get("created", time.time()), "updated": time.time()}
        if self.files is None:
            self._mem_meta[key] = meta
        else:
            write_json(self.files.meta(key), meta)

    def parts(self, key: str) -> list[Path]:
        """The key's part files, oldest first ([] in memory)."""
        return self.files.parts(key) if self.files is not None else []

    def resolve_key(self, name_or_key: str) -> str:
        """A key as given, or the newest key of a scorer name; unknown -> UserError."""
        keys = self.keys()
        if name_or_key in keys:
            return name_or_key
        matches = [k for k in keys if self.meta(k).get("name") == name_or_key]
        if not matches:
            raise UserError(f"no scores for {name_or_key!r} in the store; have: {', '.join(keys) or 'none'}")
        if len(matches) > 1:
            matches.sort(key=lambda k: self.meta(k).get("updated", 0))
            warnings.warn(f"{len(matches)} score keys for {name_or_key!r}; using the newest, {matches[-1]}",
                          stacklevel=3)
        return matches[-1]

    # --- reading and writing ----------------------------------------------------------------
    def append(self, key: str, table: pa.Table) -> None:
        """Add one part; atomic, so a crash leaves either the whole part or none of it."""
        if table.num_rows == 0:
            return
        if self.files is None:
            self._mem.setdefault(key, []).append(table)
            return
        write_parquet(self.files.new_part(key), table)

    def read(self, key: str, columns: list[str] | None = None) -> pa.Table:
        if self.files is None:
            tables = self._mem.get(key, [])
            if columns:
                tables = [t.select([c for c in columns if c in t.column_names]) for t in tables]
            return concat(tables)
        tables = []
        for p in self.parts(key):
            names = pq.read_schema(p).names
            tables.append(pq.read_table(p, columns=[c for c in columns if c in names] if columns else None))
        return concat(tables)

    def scored_ids(self, key: str, error_column: str | None = None) -> set[str]:
        """Ids already in the store; with ``error_column``, ids whose latest try failed are left out."""
        cols = ["id"] + ([error_column] if error_column else [])
        t = self.read(key, cols)
        if error_column and error_column in t.column_names:
            t = t.filter(pc.is_null(t[error_column]))
        return set(t["id"].to_pylist())

    def compact(self, key: str) -> None:
        """Merge a key's parts into one (the merged part lands before the old ones go)."""
        if self.files is None:
            if len(self._mem.get(key, [])) > 1:
                self._mem[key] = [concat(self._mem[key])]
            return
        parts = self.parts(key)
        if len(parts) < 2:
            return
        self.append(key, self.read(key))
        for p in parts:
            p.unlink(missing_ok=True)
        cache = self.files.cache_dir(key)
        if cache.exists():
            for f in cache.iterdir():
                f.unlink(missing_ok=True)

    def frame(self, key: str, ids: list[str] | None = None) -> pd.DataFrame:
        """One key's scores as pandas (vector cells are numpy arrays), optionally for ``ids``."""
        t = self.read(key)
        if ids is not None:
            t = t.filter(pc.is_in(t["id"], value_set=pa.array(ids, pa.string())))
        return t.to_pandas()

    # --- vectors ----------------------------------------------------------------------------
    def embeddings(self, name: str = "embedding", column: str = "embedding") -> tuple[list[str], np.ndarray]:
        """``(ids, float16 matrix)`` of a vector column, memory-mapped from a cached ``.npy``.

        ``name`` is a scorer key or a scorer name (the newest key of that name). Rows whose vector is
        null (failed) are left out. The cache is rebuilt whenever the key's parts change.
        """
        key = self.resolve_key(name)
        assert self.files is not None
        stamp = [p.name for p in self.parts(key)]
        npy, idx = self.files.cache(key, column)
        if idx.exists() and npy.exists():
            info = json.loads(idx.read_text())
            if info.get("parts") == stamp:
                return info["ids"], np.load(npy, mmap_mode="r")
        t = self.read(key, ["id", column])
        if column not in t.column_names:
            raise UserError(f"score key {key!r} has no column {column!r}; columns: {self.read(key).column_names}")
        t = t.filter(pc.is_valid(t[column]))
        ids = t["id"].to_pylist()
        col = t[column].combine_chunks() if t.num_rows else pa.array([], pa.list_(pa.float16()))
        flat = pc.list_flatten(col).to_numpy(zero_copy_only=False).astype(np.float16)
        dim = len(flat) // len(ids) if ids else 0
        if ids and dim * len(ids) != len(flat):
            raise ValueError(f"vectors in {key}/{column} have different lengths")
        with atomic_path(npy) as tmp, open(tmp, "wb") as f:
            np.save(f, flat.reshape(len(ids), dim))
        write_json(idx, {"parts": stamp, "ids": ids})
        return ids, np.load(npy, mmap_mode="r")


def join_frames(frames: dict[str, pd.DataFrame], ids: list[str] | None = None) -> pd.DataFrame:
    """Outer-join per-key frames on ``id``; a column two keys share gets ``__<key>`` appended."""
    seen: dict[str, int] = {}
    for df in frames.values():
        for c in df.columns:
            if c != "id":
                seen[c] = seen.get(c, 0) + 1
    out = pd.DataFrame({"id": pd.Series(ids, dtype=object)}) if ids is not None else None
    for key, df in frames.items():
        df = df.rename(columns={c: f"{c}__{key}" for c in df.columns if c != "id" and seen[c] > 1})
        out = df if out is None else out.merge(df, on="id", how="left" if ids is not None else "outer")
    return out if out is not None else pd.DataFrame({"id": []})


def scalar_columns(frame: pd.DataFrame, kind: str = "value", skip: Collection[str] = ()) -> list[str]:
    """The columns of a score frame that hold one value per row, in frame order, less ``id``, ``skip``,
    ``*_error`` and vector columns. ``kind``: ``"value"`` keeps every such column (text and all-null ones
    too: ``RunDir.scores(vectors=False)``); ``"number_or_flag"`` numbers and yes/no with at least one value
    (the audit measures them); ``"number"`` numbers only, not yes/no (the report plots them)."""
    wanted = {"value": {"number", "flag", "empty", "other"}, "number_or_flag": {"number", "flag"},
              "number": {"number"}}[kind]
    return [c for c in frame.columns
            if c != "id" and c not in skip and not str(c).endswith("_error") and _value_kind(frame[c]) in wanted]


def _value_kind(col: pd.Series) -> str:
    """``number`` (a numeric dtype, not bool), ``flag`` (bool, or Python objects that are all bools or
    numbers: a yes/no column with nulls), ``vector``, ``empty`` (no value) or ``other`` (text, dates)."""
    numeric, flag = pd.api.types.is_numeric_dtype(col.dtype), pd.api.types.is_bool_dtype(col.dtype)
    if numeric or col.dtype != object:
        return "empty" if not col.notna().any() else "flag" if flag else "number" if numeric else "other"
    values = col.dropna()
    if not len(values):
        return "empty"
    first = values.iloc[0]
    if hasattr(first, "__len__") and not isinstance(first, str):
        return "vector"
    scalars = (bool, int, float, np.bool_, np.integer, np.floating)
    return "flag" if all(isinstance(v, scalars) for v in values.iloc[:50]) else "other"
