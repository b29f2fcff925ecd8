"""The audit of a run's recipe (``curate audit``) as tables for the explorer: what each score catches
and how much planted junk each subset kept next to random. Plain pandas, no Streamlit."""

from __future__ import annotations

from typing import Any

import pandas as pd


def catches(summary: dict[str, Any]) -> pd.DataFrame:
    """One row per corruption kind: the best score, which direction is bad, its AUROC and precision."""
    rows = [{"kind": kind.replace("_", " "), "best score": b.get("column"), "bad when": b.get("direction"),
             "AUROC": f"{float(b.get('auroc') or 0.0):.2f}",
             "precision at rate": f"{float(b.get('precision') or 0.0):.2f}",
             "caught": "yes" if kind not in summary.get("uncaught", []) else "no (AUROC < 0.75)"}
            for kind, b in summary.get("best", {}).items() if kind != "all"]
    return pd.DataFrame(rows)


def survival(summary: dict[str, Any]) -> pd.DataFrame:
    """One row per subset: its share of planted rows next to random subsets of the same size."""
    rows = [{"subset": name, "rows": s.get("rows"), "planted share": f"{100 * s.get('planted_share', 0):.1f}%",
             "random at the same size": f"{100 * s.get('random_planted_share', 0):.1f}%",
             "ratio": None if s.get("ratio") is None else round(float(s["ratio"]), 2)}
            for name, s in summary.get("subsets", {}).items()]
    return pd.DataFrame(rows)
