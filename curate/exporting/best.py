"""Which trained variant to ship when nobody says: the lowest held-out loss, else the best judged win
rate against the base model, else the first trained variant by name."""

from __future__ import annotations

from curate.rundir import RunDir


def best_variant(run: RunDir) -> tuple[str, str] | None:
    """``(variant, why)`` for the run's best trained variant, or None when it has none.

    Args:
        run: a run with ``RUN/models/<variant>/adapter`` folders.
    Returns:
        The variant's name and a one-line reason, or None.
    """
    trained = sorted(n for n in run.models() if run.model_files(n).adapter.is_dir())
    if not trained:
        return None
    losses = {r["variant"]: r["loss"] for r in (run.heldout() or {}).get("losses", [])
              if r.get("variant") in trained and isinstance(r.get("loss"), (int, float))}
    if losses:
        name = min(losses, key=losses.get)
        return name, f"lowest held-out loss ({losses[name]:.4f})"
    wins = {r["variant"]: r["win_rate"] for r in run.winrates() or []
            if r.get("opponent") == "base" and r.get("variant") in trained and r.get("win_rate") is not None}
    if wins:
        name = max(wins, key=wins.get)
        return name, f"best judged win rate vs base ({wins[name]:.3f})"
    return trained[0], "the first trained variant (the run has no evaluation)"
