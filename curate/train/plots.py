"""PNG plots of training and evaluation (matplotlib, headless Agg backend)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from curate.rundir import atomic_path


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    _plt().close(fig)


def loss_series(log_history: list[dict], key: str) -> tuple[list[int], list[float]]:
    pts = [(h["step"], h[key]) for h in log_history if key in h and "step" in h]
    return [p[0] for p in pts], [float(p[1]) for p in pts]


def plot_loss(log_history: list[dict], path: Path, title: str) -> None:
    """Train loss per logged step and eval loss per evaluation, on one axis."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for key, style in (("loss", "-"), ("eval_loss", "o-")):
        x, y = loss_series(log_history, key)
        if x:
            ax.plot(x, y, style, label=key.replace("loss", "loss").replace("_", " "), markersize=4)
    ax.set(xlabel="step", ylabel="loss (assistant tokens)", title=title)
    ax.grid(alpha=0.3)
    ax.legend()
    _save(fig, path)


def plot_grid(curves: dict[str, list[dict]], path: Path, title: str) -> None:
    """Eval loss over steps, one line per grid point (rank, lr)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for label, history in curves.items():
        x, y = loss_series(history, "eval_loss")
        ax.plot(x, y, "o-", label=label, markersize=3)
    ax.set(xlabel="step", ylabel="eval loss", title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    _save(fig, path)


def plot_winrates(rows: list[dict], path: Path, title: str) -> None:
    """Win rate with its 95% CI per (variant, opponent, judge); 0.5 marks a tie with the opponent."""
    plt = _plt()
    rows = [r for r in rows if r["n"] > 0]
    fig, ax = plt.subplots(figsize=(7, 0.45 * max(len(rows), 2) + 1.2))
    labels = [f"{r['variant']} vs {r['opponent']}" for r in rows]
    ys = list(range(len(rows)))
    wr = [r["win_rate"] for r in rows]
    err = [[r["win_rate"] - r["ci_low"] for r in rows], [r["ci_high"] - r["win_rate"] for r in rows]]
    ax.errorbar(wr, ys, xerr=err, fmt="o", capsize=3, label="win rate (95% CI)")
    ax.plot([r["lc_win_rate"] for r in rows], ys, "x", label="length-controlled")
    ax.axvline(0.5, color="grey", ls="--", lw=1)
    ax.set_yticks(ys, labels)
    ax.set(xlim=(0, 1), xlabel="win rate", title=title)
    ax.legend(fontsize=8, loc="lower right")
    _save(fig, path)
