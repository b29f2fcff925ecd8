"""Tables behind the explorer page, without Streamlit: every row of a run with its scores, whether
it was kept or removed and why, the subsets' source mix, and dedup clusters."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from curate import glossary
from curate.rundir import RunDir


def removal_counts(counts: dict[str, Any]) -> pd.Series:
    """``counts["removed"]`` (reason -> n) as a Series; tolerates a flat number."""
    removed = counts.get("removed", {})
    if isinstance(removed, dict):
        return pd.Series({str(k): int(v) for k, v in removed.items()}, dtype="int64").sort_values()
    return pd.Series({"removed": int(removed or 0)}, dtype="int64")


def _scalar_scores(run: RunDir, notes: list[str]) -> pd.DataFrame | None:
    """The run's scores without vector columns; None (with a note) when unavailable."""
    try:
        return run.scores(vectors=False)
    except Exception as e:  # a broken store must not take the explorer down
        notes.append(f"Scores are not shown: {e}")
        return None


def _first_user(messages: Any) -> str:
    for m in messages:
        if m["role"] == "user":
            return str(m["content"])[:160]
    return ""


def load_rows(run: str | Path) -> tuple[pd.DataFrame | None, list[str]]:
    """All input rows of ``run`` with status, reasons, subsets and scalar scores (plus notes)."""
    run = RunDir(run)
    notes: list[str] = []
    if not run.conversations_path.exists():
        return None, notes
    conv = run.conversations_table().to_pandas()
    df = conv[[c for c in ("id", "source", "row", "messages") if c in conv.columns]].copy()
    df["preview"] = df["messages"].map(_first_user)
    df["text"] = df["messages"].map(lambda ms: "\n".join(str(m["content"]) for m in ms))
    # Removals are keyed by input row when known: exact copies share an id with the row that is kept.
    by_row = "row" in df.columns
    key = df["row"] if by_row else df["id"].astype(str)
    why: dict = {}
    for r in run.invalid().itertuples(index=False):
        why.setdefault(r.row if by_row else str(r.id), glossary.validity(str(r.reason)))
    for r in run.duplicates().itertuples(index=False):
        sim = getattr(r, "similarity", None)
        k = getattr(r, "row", None) if by_row and hasattr(r, "row") else str(r.id)
        why.setdefault(k, glossary.duplicate(str(getattr(r, "method", "duplicate")), str(r.duplicate_of),
                                             sim if isinstance(sim, float) else None))
    df["status"] = key.map(lambda k: "removed" if k in why else "kept")
    df["why"] = key.map(lambda k: why.get(k, ""))
    chosen: dict[str, list[tuple[str, str]]] = {}
    for name, sel in run.selections().items():
        if "id" not in sel:
            continue
        reasons = sel["reason"].astype(str) if "reason" in sel else pd.Series([""] * len(sel))
        for i, reason in zip(sel["id"].astype(str), reasons, strict=True):
            chosen.setdefault(i, []).append((name, reason))
    df["subsets"] = df["id"].map(lambda i: [s for s, _ in chosen.get(i, [])])
    df["why_chosen"] = df["id"].map(lambda i: [f"{s}: {glossary.selection(r)}" if r else s
                                               for s, r in chosen.get(i, [])])
    scores = _scalar_scores(run, notes)
    if scores is not None:
        df = df.merge(scores.drop_duplicates("id"), on="id", how="left", suffixes=("", "_score"))
    return df, notes


def dedup_table(run: str | Path) -> pd.DataFrame:
    """Every dedup removal of the run in one table."""
    return RunDir(run).duplicates()


def dedup_clusters(dd: pd.DataFrame) -> pd.DataFrame:
    """One row per kept representative: how many rows duplicated it, by which methods, how similar."""
    if dd.empty:
        return pd.DataFrame(columns=["kept row", "members", "methods", "min_similarity"])
    dd = dd.assign(method=dd.get("method", "duplicate"), similarity=dd.get("similarity", float("nan")))
    out = dd.groupby("duplicate_of").agg(
        members=("id", "count"),
        methods=("method", lambda m: ", ".join(sorted(set(map(str, m))))),
        min_similarity=("similarity", "min"),
    ).reset_index().rename(columns={"duplicate_of": "kept row"})
    return out.sort_values(["members", "kept row"], ascending=[False, True], ignore_index=True)


def source_mix(run: str | Path, rows: pd.DataFrame) -> pd.DataFrame | None:
    """Rows per (subset, source): how each subset draws on the sources."""
    if "source" not in rows or not rows["subsets"].map(len).any():
        return None
    exploded = rows[["source", "subsets"]].explode("subsets").dropna(subset=["subsets"])
    return pd.crosstab(exploded["subsets"], exploded["source"].astype(str))
