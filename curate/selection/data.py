"""The table selection works on, read back from a run directory (``RunDir.pool``): the same pool
``curate.run`` selects from (``curate select`` and notebooks use this)."""

from __future__ import annotations

import os

import pandas as pd

from curate.errors import UserError
from curate.rundir import RunDir


def load_pool(run_dir: str | os.PathLike, drop_duplicates: bool = True) -> pd.DataFrame:
    """Conversations + scores of ``run_dir`` (vector columns left out), validity failures and (unless
    ``drop_duplicates`` is False) dedup removals dropped."""
    run = RunDir(run_dir)
    if not run.conversations_path.exists():
        raise UserError(f"select: {run.conversations_path} does not exist; run a recipe (curate run) first")
    return run.pool(drop_duplicates)
