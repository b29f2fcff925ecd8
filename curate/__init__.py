"""curate: data-centric curation of chat fine-tuning data.

The public API: the verbs ``load``/``iter_load``, ``score``, ``dedup``, ``select``, ``run``,
``report`` and ``export``; the reads ``scores`` and ``load_embeddings``; the result types (``Loaded``, ``DedupResult``,
``Selection``, ``RunSummary``), the settings models (``Recipe``, ``DedupConfig``, ``SubsetSpec``), the
run directory (``RunDir``) and the modules the docs name (``curate.store``, ``curate.scorers``, ...).
The CLI and the Streamlit app call the same functions. Imports are lazy, so ``import curate`` stays
fast and torch loads only when a model is used.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

__version__ = "0.1.0"
# OpenMP threads that wait by sleeping, not spinning: next to another CPU job the LM scorer ran 0.57-0.65
# rows/s with OpenMP's default and 1.31-1.47 with passive waiting (3.2-3.4 vs 3.1 on a quiet machine;
# benchmarks/bench_contention.py, RESULTS '## scoring'). Read when torch loads OpenMP, so set before it; a
# value the user set wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

_API = {
    "load": "curate.loaders",
    "iter_load": "curate.loaders",
    "Loaded": "curate.loaders",
    "score": "curate.scoring",
    "scores": "curate.rundir",
    "load_embeddings": "curate.rundir",
    "dedup": "curate.duplicates",
    "DedupConfig": "curate.duplicates",
    "DedupResult": "curate.duplicates",
    "select": "curate.selection",
    "Selection": "curate.selection",
    "SubsetSpec": "curate.selection",
    "run": "curate.pipeline",
    "RunSummary": "curate.pipeline",
    "Recipe": "curate.recipe",
    "RunDir": "curate.rundir",
    "report": "curate.reporting",
    "UserError": "curate.errors",
    "distill": "curate.proxy",
    "audit": "curate.auditing.api",
    "export": "curate.exporting",
    "Exported": "curate.exporting",
}
_MODULES = ("duplicates", "errors", "executors", "exporting", "loaders", "models", "pipeline", "recipe", "reporting", "rundir",
            "schema", "scorers", "scoring", "selection", "store")
__all__ = sorted(_API) + sorted(_MODULES)


def __getattr__(name: str) -> Any:
    if name in _API:
        return getattr(importlib.import_module(_API[name]), name)
    if name in _MODULES:
        return importlib.import_module(f"curate.{name}")
    raise AttributeError(f"module 'curate' has no attribute {name!r}")
