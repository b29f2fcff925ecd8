"""``audit.html`` and ``heatmap.png`` from an audit's summary (``audit.json``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from curate.reporting.html import image, page, snippet, table
from curate.rundir import AuditFiles, write_text

CAUGHT = 0.75


def heatmap(summary: dict[str, Any], path: Path) -> Path | None:
    """Scores (rows) x variants (columns), cells = direction-aware AUROC; the columns that catch something first."""
    sep = summary.get("separation") or {}
    if not sep:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    kinds = list(summary["kinds"])
    cols = sorted(sep, key=lambda c: -max(sep[c][k]["auroc"] if sep[c][k]["auroc"] == sep[c][k]["auroc"] else 0
                                          for k in kinds))
    cells = np.array([[sep[c][k]["auroc"] for k in kinds] for c in cols], dtype=float)
    fig, ax = plt.subplots(figsize=(1.0 + 0.75 * len(kinds), 1.0 + 0.3 * len(cols)))
    im = ax.imshow(cells, vmin=0.5, vmax=1.0, cmap="viridis", aspect="auto")
    ax.set_xticks(range(len(kinds)), kinds, rotation=40, ha="right", fontsize=8)
    labels = [f"{c} ({'low' if sep[c]['all']['direction'] == 'low' else 'high'})" for c in cols]
    ax.set_yticks(range(len(cols)), labels, fontsize=7)
    for i in range(len(cols)):
        for j in range(len(kinds)):
            if cells[i, j] == cells[i, j]:
                ax.text(j, i, f"{cells[i, j]:.2f}", ha="center", va="center", fontsize=6,
                        color="white" if cells[i, j] < 0.8 else "black")
    fig.colorbar(im, ax=ax, label="AUROC (better direction)")
    ax.set_title("Which score catches which planted variant", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_html(folder: Path, summary: dict[str, Any]) -> Path:
    files = AuditFiles(folder)
    sections = [("Summary", _overview(summary))]
    if summary.get("separation"):
        png = heatmap(summary, files.heatmap)
        if summary.get("best_family"):
            sections.append(("Best score per family", _best_family(summary)))
        sections.append(("Best score per variant", _best(summary)))
        sections.append(("Heatmap", image(png, "AUROC heatmap") if png else ""))
        sections.append(("Subsets: planted rows kept", _subsets(summary)))
        if summary.get("family_separation"):
            sections.append(("Every score and family", _all(summary, "family_separation", list(summary["best_family"]))))
        sections.append(("Every score and variant", _all(summary, "separation", [*summary["kinds"], "all"])))
    if summary.get("flags"):
        sections.append(("Flags on the data as it is", _flags(summary)))
    path = files.html
    write_text(path, page(f"curate audit: {summary['recipe']}", sections,
                          f"{summary['rows']} rows of {summary['source']}, {summary['planted_rows']} planted, "
                          f"seed {summary['seed']}, {summary['seconds']:.0f} s"))
    return path


def _family_of(s: dict[str, Any]) -> dict[str, str]:
    return {v: f for f, variants in s.get("families", {}).items() for v in variants}


def _overview(s: dict[str, Any]) -> str:
    fam = _family_of(s)
    rows = [[fam.get(k, ""), k, n] for k, n in sorted(s.get("planted", {}).items(), key=lambda kv: (fam.get(kv[0], ""), kv[0]))]
    text = ("<p>Each corruption variant was planted into its own rows; variants of one <em>family</em> are "
            "different ways the same damage shows up. A score <em>catches</em> a variant (or a family) when it "
            f"ranks those rows apart from the clean ones (AUROC &ge; {CAUGHT}). The recipe then ran on the planted "
            "pool in this folder's <code>run/</code>; its real run directory was not touched.</p>")
    if s.get("uncaught_families"):
        text += f"<p class='bad'>Families no score catches: {', '.join(s['uncaught_families'])}.</p>"
    if s.get("uncaught"):
        text += f"<p class='bad'>Variants no score catches: {', '.join(s['uncaught'])}.</p>"
    return text + (table(["family", "variant", "planted rows"], rows) if rows else "")


def _best_rows(best: dict[str, Any], names: list[str], fam: dict[str, str] | None = None) -> list[list]:
    return [[*([fam.get(k, "")] if fam is not None else []), k, best[k]["column"], best[k]["direction"] + " = bad",
             best[k]["auroc"], best[k]["precision"], best[k]["rows"]] for k in names]


def _best_family(s: dict[str, Any]) -> str:
    rows = _best_rows(s["best_family"], list(s["best_family"]))
    for row in rows:
        row.insert(1, ", ".join(s["families"][row[0]]))
    return ("<p>All the family's planted variants against the clean rows: one score has to catch every "
            "phrasing of the damage.</p>"
            + table(["family", "variants", "best score", "direction", "AUROC", "precision at rate", "rows scored"], rows))


def _best(s: dict[str, Any]) -> str:
    rows = _best_rows(s["best"], list(s["best"]), _family_of(s))
    return table(["family", "variant", "best score", "direction", "AUROC", "precision at rate", "rows scored"], rows)


def _subsets(s: dict[str, Any]) -> str:
    if not s.get("subsets"):
        return "<p class='muted'>The recipe defines no subsets.</p>"
    kinds = s["kinds"]
    families = list(s.get("families", {}))
    shares, rows = [], []
    for name, sub in s["subsets"].items():
        fams = sub.get("families", {})
        shares.append([name, sub["rows"], f"{sub['planted_share']:.1%}", f"{sub['random_planted_share']:.1%}", sub["ratio"],
                       *[f"{fams[f]['subset']:.1%} / {fams[f]['random']:.1%}" if f in fams else "" for f in families]])
        rows.append([name, *[f"{sub['survival'][k]['subset']:.0%} / {sub['survival'][k]['random']:.0%}" for k in kinds]])
    return ("<p>Planted share of each subset, in all and per family, next to random subsets of the same size "
            "from the whole planted pool (mean of draws).</p>"
            + table(["subset", "rows", "planted share", "random", "ratio", *families], shares)
            + "<p>Share of each variant's planted rows that survive into the subset / into the random subsets. "
            "A near-duplicate survives only with its source.</p>" + table(["subset", *kinds], rows))


def _all(s: dict[str, Any], key: str, names: list[str]) -> str:
    rows = [[col, *[f"{v[k]['auroc']:.2f} {v[k]['direction'][0]}" for k in names]] for col, v in s[key].items()]
    return "<p>AUROC in the better direction (h: high = bad, l: low = bad).</p>" + table(["score", *names], rows)


def _flags(s: dict[str, Any]) -> str:
    rows = []
    for flag, info in s["flags"].items():
        ex = "\n\n".join(f"Q: {e['question']}\nA: {e['answer']}" for e in info["examples"])
        rows.append([flag, info["count"], f"{info['share']:.1%}", snippet(ex, 1500)])
    return ("<p>Nothing was planted: how many rows each yes/no flag marks, with three examples. No ground truth "
            "is claimed here.</p>" + table(["flag", "rows", "share", "examples"], rows))
