"""The card's one figure: each score's distribution in the trained subset over the pool's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def subset_vs_pool(pool: pd.DataFrame, subset: pd.DataFrame, columns: list[str], out: Path,
                   title: str) -> Path | None:
    """Overlaid histograms (density, shared bins) of ``columns``, pool in grey, subset in colour.

    Args:
        pool: the rows selection chose from, with the score columns.
        subset: the trained rows, same columns.
        columns: the score columns to draw (at most six are drawn).
        out: the PNG path to write.
        title: the figure title.
    Returns:
        ``out``, or None when no column has values to draw.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = [c for c in columns if pd.to_numeric(pool[c], errors="coerce").notna().any()][:6]
    if not cols:
        return None
    ncols = min(3, len(cols))
    nrows = -(-len(cols) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.6 * ncols, 2.6 * nrows), squeeze=False)
    for ax in axes.flat[len(cols):]:
        ax.set_visible(False)
    for ax, col in zip(axes.flat, cols):
        p = pd.to_numeric(pool[col], errors="coerce").dropna().to_numpy(dtype=float)
        s = pd.to_numeric(subset[col], errors="coerce").dropna().to_numpy(dtype=float)
        lo, hi = np.quantile(p, [0.01, 0.99]) if len(p) else (0.0, 1.0)
        bins = np.linspace(lo, hi if hi > lo else lo + 1, 25)
        ax.hist(np.clip(p, lo, hi), bins=bins, density=True, color="#bbbbbb", label=f"pool ({len(p):,})")
        if len(s):
            ax.hist(np.clip(s, lo, hi), bins=bins, density=True, color="#1f77b4", alpha=0.6,
                    label=f"subset ({len(s):,})")
        ax.set_title(col, fontsize=9)
        ax.tick_params(labelsize=7)
        ax.set_yticks([])
    axes[0][0].legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out
