"""The proxy's part of a report: a calibration plot (PNG) and an HTML section with the agreement table,
built from the score store's ``*_proxy-*`` keys, so ``report.html`` can include it with one call."""

from __future__ import annotations

import base64
import html
import os
from pathlib import Path

import numpy as np

from curate.rundir import RunDir


def calibration_plot(teacher: np.ndarray, proxy: np.ndarray, path: Path, column: str, bins: int = 10) -> Path:
    """Held-out teacher vs proxy: a scatter plus the teacher's mean per proxy decile, saved as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from curate.rundir import atomic_path

    fig, ax = plt.subplots(figsize=(5, 4.2))
    ax.scatter(proxy, teacher, s=6, alpha=0.35, color="#4c72b0", label="held-out rows")
    edges = np.unique(np.quantile(proxy, np.linspace(0, 1, bins + 1)))
    which = np.clip(np.searchsorted(edges, proxy, side="right") - 1, 0, len(edges) - 2)
    centers = [proxy[which == b].mean() for b in range(len(edges) - 1) if (which == b).any()]
    means = [teacher[which == b].mean() for b in range(len(edges) - 1) if (which == b).any()]
    ax.plot(centers, means, "o-", color="#c44e52", label="teacher mean per proxy decile")
    lo, hi = np.nanpercentile(np.concatenate([teacher, proxy]), [1, 99])
    ax.plot([lo, hi], [lo, hi], "--", color="grey", lw=1, label="perfect agreement")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_xlabel(f"{column}_proxy")
    ax.set_ylabel(f"{column} (teacher)")
    ax.set_title(f"Calibration of the {column} proxy")
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return path


def _row(meta: dict) -> str:
    a, c = meta["agreement"], meta["costs"]
    fit_name = "auroc" if "auroc" in a else "r2"
    saved = c.get("gpu_hours_saved")
    cells = [meta["name"], meta["teacher_key"], meta["model"], str(a["rows"]), f"{a['spearman']:.3f}",
             f"{fit_name} {a[fit_name]:.3f}", f"{a['top10']:.2f}", f"{a['top25']:.2f}", f"{a['top50']:.2f}",
             f"{c['teacher_rows']} / {c['all_rows']}", "-" if saved is None else f"{saved:.3g}"]
    return "<tr>" + "".join(f"<td>{html.escape(str(x))}</td>" for x in cells) + "</tr>"


def html_section(run_dir: str | os.PathLike) -> str:
    """An HTML section for every distilled proxy in the run's store ('' when there is none)."""
    body = agreement_html(run_dir)
    return f"<section><h2>Distilled proxies</h2>\n{body}\n</section>" if body else ""


def agreement_html(run_dir: str | os.PathLike, keys: list[str] | None = None) -> str:
    """The section's content (a report page adds its own heading): the agreement table and the
    calibration plots of the given proxy keys, else of every distilled proxy in the run's store
    ('' when there is none)."""
    store = RunDir(run_dir).score_store()
    stored = store.keys()
    chosen = stored if keys is None else [k for k in stored if k in keys]
    metas = [m for m in map(store.meta, chosen) if m.get("teacher_key") and "agreement" in m]
    if not metas:
        return ""
    head = ["proxy", "teacher", "model", "held-out rows", "spearman", "fit", "top-10%", "top-25%", "top-50%",
            "teacher rows", "H100-h saved (est.)"]
    parts = ["<p>Agreement of each proxy with its teacher on held-out sample rows the proxy never saw; "
             "top-k: of the teacher's top k%, the share also in the proxy's top k%.</p>",
             "<table><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr>",
             *(_row(m) for m in metas), "</table>"]
    assert store.root is not None
    for m in metas:
        png = store.root / m["key"] / (m.get("plot") or "calibration.png")
        if png.exists():
            data = base64.b64encode(png.read_bytes()).decode()
            parts.append(f'<img alt="calibration of {html.escape(m["name"])}" src="data:image/png;base64,{data}">')
    return "\n".join(parts)
