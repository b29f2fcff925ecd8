"""The report's training and evaluation section: loss curves of every trained variant, automatic win
rates with their intervals, and held-out loss, from ``RUN/models/*/log_history.json`` and
``RUN/eval/{winrates,heldout}.json``. Empty when the run has trained nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from curate.reporting import html as H  # noqa: E402
from curate.rundir import RunDir  # noqa: E402


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def loss_curves(histories: dict[str, list[dict]]) -> Figure:
    """Training loss (solid) and evaluation loss (dashed, when logged) per variant against the step."""
    fig, ax = plt.subplots(figsize=(7, 3.6))
    for i, (name, history) in enumerate(histories.items()):
        color = f"C{i % 10}"
        for key, style in (("loss", "-"), ("eval_loss", "--")):
            pts = [(h["step"], h[key]) for h in history if key in h and "step" in h]
            if pts:
                xs, ys = zip(*pts)
                ax.plot(xs, ys, style, color=color, marker="o", ms=3,
                        label=f"{name} ({'train' if key == 'loss' else 'eval'})")
    ax.set_xlabel("training step")
    ax.set_ylabel("loss (cross-entropy per token)")
    ax.set_title("Training curves")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def win_rates(rows: list[dict]) -> Figure:
    """Each variant-vs-opponent win rate with its 95% interval; 0.5 is a tie."""
    labels = [f"{r['variant']} vs {r['opponent']}" for r in rows][::-1]
    rates = [r["win_rate"] for r in rows][::-1]
    lo = [r["win_rate"] - r["ci_low"] for r in rows][::-1]
    hi = [r["ci_high"] - r["win_rate"] for r in rows][::-1]
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(rows) + 1.4))
    ax.errorbar(rates, labels, xerr=[lo, hi], fmt="o", capsize=4)
    ax.axvline(0.5, color="grey", lw=0.8, ls="--")
    ax.set_xlim(0, 1)
    ax.set_xlabel("win rate (ties count half), 95% interval")
    ax.set_title("Automatic pairwise win rates")
    fig.tight_layout()
    return fig


def section(root: Path, save: Any) -> str:
    """HTML for the training and evaluation section ('' when there is nothing to show).

    ``save(fig, name)`` writes a figure beside the report and returns its ``<img>``."""
    run = RunDir(root)
    histories = {d.name: h for d in sorted(run.models_dir.glob("*/"))
                 if isinstance(h := _json(run.model_files(d.name).log_history), list) and h}
    rates = _json(run.eval_files.winrates)
    rates = rates.get("winrates") if isinstance(rates, dict) else rates
    held = _json(run.eval_files.heldout)
    parts = []
    if histories:
        parts.append(f"<p>{len(histories)} LoRA variants trained; lower loss is better, and the evaluation loss "
                     "(dashed) is on rows the model did not train on.</p>")
        parts.append(save(loss_curves(histories), "loss_curves.png"))
    if rates:
        ok = [r for r in rates if {"variant", "opponent", "win_rate", "ci_low", "ci_high"} <= set(r)]
        judges = sorted({str(r.get("judge")) for r in rates if r.get("judge")})
        parts.append(f"<p>Answers judged pairwise by {', '.join(judges) or 'the judge'}, each pair in both orders; "
                     "ties count half; the interval is a 95% bootstrap over prompts. With few prompts and a "
                     "small judge, read the interval before the point estimate.</p>")
        parts.append(H.table(["variant", "opponent", "prompts", "win rate", "95% interval"],
                             [[r["variant"], r["opponent"], r.get("n"), f"{r['win_rate']:.2f}",
                               f"{r['ci_low']:.2f} – {r['ci_high']:.2f}"] for r in ok]))
        if ok:
            parts.append(save(win_rates(ok), "win_rates.png"))
    if isinstance(held, dict) and held.get("losses"):
        parts.append(f"<p>Held-out loss: mean loss on the answers of {held.get('rows', '?')} conversations that "
                     "no subset trained on (lower is better).</p>")
        parts.append(H.table(["variant", "loss", "perplexity", "tokens"],
                             [[r.get("variant"), f"{r.get('loss', float('nan')):.3f}",
                               f"{r.get('perplexity', float('nan')):.2f}", r.get("tokens")] for r in held["losses"]]))
    return "".join(parts)
