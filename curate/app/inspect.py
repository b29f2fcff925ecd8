"""One row of the explorer up close: which kept row it duplicated, how the two differ, and the
filtered rows as a Parquet download. Streamlit-free."""

from __future__ import annotations

import difflib
import io
from typing import Any

import pandas as pd


def duplicate_of(dedup: pd.DataFrame, row: pd.Series) -> str | None:
    """The id of the kept row that ``row`` was removed as a duplicate of, if any."""
    if dedup.empty or row.get("status") != "removed":
        return None
    hits = dedup[dedup["id"].astype(str) == str(row["id"])]
    if "row" in dedup.columns and "row" in row and len(hits) > 1:
        hits = hits[hits["row"] == row["row"]]
    return str(hits["duplicate_of"].iloc[0]) if len(hits) else None


def _lines(messages: Any) -> list[str]:
    return [f"{m['role']}: {line}" for m in messages for line in str(m["content"]).splitlines() or [""]]


def conversation_diff(kept: Any, removed: Any) -> str:
    """A unified diff of two conversations, line by line with each line's role ('' when equal)."""
    return "\n".join(difflib.unified_diff(_lines(kept), _lines(removed), "kept", "removed", lineterm="", n=1))


def export_rows(view: pd.DataFrame) -> pd.DataFrame:
    """The explorer's filtered rows as a user would load them again: messages, status, reasons, scores."""
    return view.drop(columns=[c for c in ("text", "preview") if c in view.columns]).reset_index(drop=True)


def to_jsonl(df: pd.DataFrame) -> str:
    return df.to_json(orient="records", lines=True, force_ascii=False)


def to_parquet_bytes(df: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    df.to_parquet(buf, index=False)
    return buf.getvalue()
