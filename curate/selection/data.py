"""The table selection works on, read back from a run directory: conversations joined with every
score column, minus the rows validity checks and dedup removed: the same pool ``curate.run``
selects from (``curate select`` and notebooks use this)."""

from __future__ import annotations

import os

import pandas as pd
import pyarrow.parquet as pq

from curate.errors import UserError
from curate.rundir import RunDir


def load_pool(run_dir: str | os.PathLike, drop_duplicates: bool = True) -> pd.DataFrame:
    """Conversations + scores of ``run_dir`` (vector columns left out), validity failures and (unless
    ``drop_duplicates`` is False) dedup removals dropped."""
    run = RunDir(run_dir)
    path = run.root / "data" / "conversations.parquet"
    if not path.exists():
        raise UserError(f"select: {path} does not exist; run a recipe (curate run) first")
    table = pq.read_table(path)
    df = table.drop_columns(["messages"]).to_pandas()
    df.insert(1, "messages", table.column("messages").to_pylist())
    if (run.root / "scores").exists():
        from curate.store import scores

        sc = scores(run.root)
        keep = ["id"] + [c for c in sc.columns if c != "id" and not c.endswith("_error")
                         and not (sc[c].dtype == object and len(sc[c].dropna()) and
                                  hasattr(sc[c].dropna().iloc[0], "__len__") and not isinstance(sc[c].dropna().iloc[0], str))]
        df = df.merge(sc[keep].drop_duplicates("id"), on="id", how="left", suffixes=("", "_score"))
    # by input row when known: exact copies share an id with the copy that is kept
    key = "row" if "row" in df.columns else "id"
    removed: set = set()
    invalid = run.root / "validity.parquet"
    if invalid.exists():
        removed |= set(pq.read_table(invalid, columns=[key]).column(key).to_pylist())
    if drop_duplicates:
        for p in (run.root / "dedup").glob("*.parquet"):
            names = set(pq.read_schema(p).names)
            if {"id", "duplicate_of"} <= names:
                col = key if key in names else "id"
                removed |= set(pq.read_table(p, columns=[col]).column(col).to_pylist())
    return df[~df[key].isin(removed)].reset_index(drop=True)
