"""The report's figures (matplotlib, Agg backend: no display needed). Each function takes plain
pandas data and returns a Figure, so a figure can be tested or reused without a run directory."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

MAX_SOURCES = 6


def top_sources(source: pd.Series, k: int = MAX_SOURCES) -> pd.Series:
    """Sources beyond the ``k`` largest become 'other', so legends stay readable."""
    s = source.astype(str)
    keep = set(s.value_counts().index[:k])
    return s.where(s.isin(keep), "other")


def counts_bar(counts: dict) -> Figure:
    """Read, kept, quarantined and each removal reason as horizontal bars."""
    rows = [("read", counts.get("read", 0)), ("quarantined", counts.get("quarantined", 0))]
    rows += [(f"removed: {k}", v) for k, v in (counts.get("removed") or {}).items()]
    rows += [("kept", counts.get("kept", 0))]
    labels, values = zip(*rows)
    fig, ax = plt.subplots(figsize=(7, 0.4 * len(rows) + 1))
    colors = ["#4c72b0"] + ["#c44e52"] * (len(rows) - 2) + ["#55a868"]
    bars = ax.barh(labels[::-1], values[::-1], color=colors[::-1])
    ax.bar_label(bars, padding=3)
    ax.set_xlabel("rows")
    ax.set_title("Rows at each step")
    fig.tight_layout()
    return fig


def histograms(df: pd.DataFrame, columns: list[str], by: str = "source", log: set[str] | None = None) -> Figure:
    """One panel per column, one step histogram per source (density, so sizes compare)."""
    log = log or set()
    n = len(columns)
    ncol = min(3, n)
    nrow = -(-n // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.2 * ncol, 3.0 * nrow), squeeze=False)
    groups = top_sources(df[by]) if by in df.columns else pd.Series("all", index=df.index)
    for ax, col in zip(axes.flat, columns):
        vals = pd.to_numeric(df[col], errors="coerce").astype(float)
        use_log = col in log and (vals > 0).any()
        finite = vals[np.isfinite(vals) & ((vals > 0) if use_log else True)]
        if finite.empty:
            ax.set_title(f"{col} (no values)")
            continue
        lo, hi = np.nanpercentile(finite, [0.5, 99.5])
        if lo == hi:
            lo, hi = lo - 0.5, hi + 0.5
        bins = np.geomspace(lo, hi, 40) if use_log else np.linspace(lo, hi, 40)
        peaks = []
        for name, idx in groups.groupby(groups).groups.items():
            v = vals.loc[idx]
            v = v[np.isfinite(v)]
            if len(v):
                heights, _, _ = ax.hist(v.clip(lo, hi), bins=bins, histtype="step", density=True,
                                        label=f"{name} ({len(v)})")
                peaks.extend(h for h in np.atleast_1d(heights) if h > 0)
        if use_log:
            ax.set_xscale("log")
        spiky = len(peaks) > 3 and max(peaks) > 20 * float(np.median(peaks))
        if spiky:  # one tall bin (e.g. every row has 2 turns) would flatten the rest: log height
            ax.set_yscale("log")
        ax.set_ylabel("density" + (" (log)" if spiky else ""), fontsize=8)
        nulls = int(vals.isna().sum())
        ax.set_title(col + (f"  ({nulls} null)" if nulls else ""), fontsize=10)
        ax.tick_params(labelsize=8)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def source_mix(before: pd.Series, subsets: dict[str, pd.Series]) -> Figure:
    """100% stacked bars: the source shares of the pool and of each subset."""
    table = pd.DataFrame({"pool (after dedup)": before, **subsets}).fillna(0).T
    cols = list(table.sum().sort_values(ascending=False).index)
    if len(cols) > MAX_SOURCES:
        table["other"] = table[cols[MAX_SOURCES:]].sum(axis=1)
        cols = cols[:MAX_SOURCES] + ["other"]
    table = table[cols]
    share = table.div(table.sum(axis=1).replace(0, 1), axis=0)
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(share) + 1.4))
    left = np.zeros(len(share))
    for col in share.columns:
        ax.barh(share.index[::-1], share[col].to_numpy()[::-1], left=left[::-1], label=str(col))
        left += share[col].to_numpy()
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of rows")
    ax.set_title("Source mix before and after selection")
    ax.legend(fontsize=7, ncol=min(4, len(cols)), loc="upper center", bbox_to_anchor=(0.5, -0.25))
    fig.tight_layout()
    return fig


def correlations(df: pd.DataFrame, columns: list[str], x: str | None, y: str | None) -> Figure:
    """Spearman correlation heatmap of score columns, and a scatter of ``y`` against ``x``
    (e.g. reward vs answer length: reward models tend to favour long answers)."""
    has_scatter = bool(x and y and x in df.columns and y in df.columns and x != y)
    side = 6.5 + 0.25 * max(0, len(columns) - 6)
    fig, axes = plt.subplots(1, 2 if has_scatter else 1, figsize=(side + 5.5 if has_scatter else side, 5.5),
                             squeeze=False)
    num = df[columns].apply(pd.to_numeric, errors="coerce").astype(float)
    corr = num.corr(method="spearman")
    ax = axes[0, 0]
    im = ax.imshow(corr.to_numpy(), vmin=-1, vmax=1, cmap="RdBu_r")
    ax.set_xticks(range(len(columns)), columns, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(columns)), columns, fontsize=8)
    for i in range(len(columns)):
        for j in range(len(columns)):
            v = corr.iat[i, j]
            if np.isfinite(v):  # white on the dark ends of the colour scale, black on the pale middle
                ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7,
                        color="white" if abs(v) > 0.55 else "black")
    ax.set_title("Spearman correlation of scores")
    fig.colorbar(im, ax=ax, shrink=0.8)
    if has_scatter:
        ax = axes[0, 1]
        xs, ys = pd.to_numeric(df[x], errors="coerce"), pd.to_numeric(df[y], errors="coerce")
        ok = xs.notna() & ys.notna()
        if (xs[ok] > 0).all() and ok.any():
            ax.set_xscale("log")
        ax.scatter(xs[ok], ys[ok], s=4, alpha=0.3)
        rho = xs[ok].corr(ys[ok], method="spearman") if ok.sum() > 2 else float("nan")
        ax.set_xlabel(x)
        ax.set_ylabel(y)
        ax.set_title(f"{y} vs {x} (Spearman {rho:.2f}, n={int(ok.sum())} scored rows)")
    fig.tight_layout()
    return fig


def subset_scores(frames: dict[str, pd.Series], column: str) -> Figure:
    """Box plots of one score column for the pool and every subset."""
    names = list(frames)
    data = [pd.to_numeric(frames[k], errors="coerce").dropna().to_numpy() for k in names]
    fig, ax = plt.subplots(figsize=(max(5, 1.2 * len(names)), 3.6))
    ax.boxplot(data, showfliers=False)
    ax.set_xticks(range(1, len(names) + 1), names, rotation=20, ha="right", fontsize=8)
    ax.set_ylabel(column)
    ax.set_title(f"{column} per subset")
    fig.tight_layout()
    return fig
