"""Results tables as CSV and Markdown (a few lines here instead of a `tabulate` dependency)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from curate.rundir import atomic_path, write_text


def _cell(v: Any) -> str:
    if v is None or (isinstance(v, float) and v != v):
        return "–"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v).replace("|", "\\|")


def markdown_table(df: Any) -> str:
    cols = [str(c) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def write_tables(df: Any, stem: Path, title: str, note: str = "") -> None:
    """``stem.csv`` and ``stem.md`` (a heading, an optional note, the table)."""
    with atomic_path(stem.with_suffix(".csv")) as tmp:
        df.to_csv(tmp, index=False)
    body = f"# {title}\n\n" + (f"{note}\n\n" if note else "") + markdown_table(df)
    write_text(stem.with_suffix(".md"), body)
