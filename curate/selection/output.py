"""Write a selection where trainers look for it: ``RUN/subsets/<name>/`` (the files of
``curate.rundir.SubsetFiles``; given another folder, the same files go there).

``data.jsonl`` is ShareGPT (``conversations: [{from, value}]``, FineTome's own format, so the Unsloth
conversational notebooks take it unchanged) or OpenAI ``messages``; ``data.parquet`` holds the rows
with their scores; ``selection.parquet`` says why each row was chosen; ``rejected.parquet`` and
``meta.json`` let the report explain the rest.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from curate.errors import UserError
from curate.rundir import SubsetFiles, atomic_path, write_json, write_jsonl, write_parquet
from curate.schema import to_messages, to_sharegpt
from curate.selection.core import Selection

FORMATS = ("sharegpt", "messages")
REJECTED_CHUNK = 200_000  # rows of rejected.parquet turned into Arrow (and reasons into strings) at a time


def _messages(value: Any) -> list[dict[str, str]]:
    return [{"role": str(m["role"]), "content": str(m["content"])} for m in list(value)]


def _jsonl_rows(df: pd.DataFrame, fmt: str):
    convert = to_sharegpt if fmt == "sharegpt" else to_messages
    key = "conversations" if fmt == "sharegpt" else "messages"
    has_source = "source" in df.columns
    for rec in df.itertuples(index=False):
        row = {key: convert(_messages(rec.messages)), "id": rec.id}
        if has_source:
            row["source"] = rec.source
        yield row


def _rejected_table(part: pd.DataFrame) -> pa.Table:
    part = part.copy()
    if isinstance(part["reason"].dtype, pd.CategoricalDtype):  # codes -> the same strings as ever
        part["reason"] = np.asarray(part["reason"], dtype=object)
    return pa.Table.from_pandas(part, preserve_index=False)


def write_rejected(path: str | os.PathLike, rejected: pd.DataFrame, chunk: int = REJECTED_CHUNK) -> None:
    """``rejected.parquet`` a chunk at a time, so a 1.75M-row table never exists as strings at once."""
    if len(rejected) <= chunk:
        write_parquet(path, _rejected_table(rejected))
        return
    first = _rejected_table(rejected.iloc[:chunk])
    if any(pa.types.is_null(f.type) for f in first.schema):  # a type the first chunk cannot tell
        write_parquet(path, _rejected_table(rejected))
        return
    with atomic_path(path) as tmp, pq.ParquetWriter(tmp, first.schema, compression="zstd") as writer:
        writer.write_table(first)
        for lo in range(chunk, len(rejected), chunk):
            writer.write_table(_rejected_table(rejected.iloc[lo:lo + chunk]).cast(first.schema))


def write_subset(selection: Selection, out_dir: str | os.PathLike, format: str | None = None) -> Path:
    """Write the subset files (atomically) and return ``out_dir``."""
    fmt = format or selection.spec.format
    if fmt not in FORMATS:
        raise UserError(f"format: got {fmt!r}; allowed: {', '.join(FORMATS)}")
    files = SubsetFiles(Path(out_dir))
    sel = selection.selected
    data = sel.copy()
    data["messages"] = data["messages"].map(_messages)
    write_parquet(files.data, pa.Table.from_pandas(data, preserve_index=False))
    write_jsonl(files.jsonl, _jsonl_rows(data, fmt))
    why = sel[["id", "rank", "score", "reason"]]
    write_parquet(files.selection, pa.Table.from_pandas(why, preserve_index=False))
    write_rejected(files.rejected, selection.rejected)
    tokens = int(pd.to_numeric(sel["tokens"], errors="coerce").fillna(0).sum()) if "tokens" in sel else None
    mix = sel["source"].astype(str).value_counts().to_dict() if "source" in sel else {}
    write_json(files.meta, {
        "name": selection.name,
        "spec": selection.spec.model_dump(exclude_none=True),
        "counts": selection.counts,
        "fill": selection.fill,
        "rules": selection.rules,
        "tokens": tokens,
        "source_mix": {str(k): int(v) for k, v in mix.items()},
        "format": fmt,
    })
    return files.folder


def push_to_hub(out_dir: str | os.PathLike, repo_id: str, token: str | None = None, private: bool = True) -> str:
    """Upload ``data.parquet`` of a written subset as a dataset repo; returns the repo id."""
    path = SubsetFiles(Path(out_dir)).data
    if not path.exists():
        raise UserError(f"push_to_hub: {path} does not exist; write the subset first")
    token = token or os.environ.get("HF_TOKEN")
    if not token:
        raise UserError("push_to_hub: no token; pass token=... or set HF_TOKEN")
    from datasets import Dataset

    Dataset.from_parquet(str(path)).push_to_hub(repo_id, token=token, private=private)
    return repo_id
