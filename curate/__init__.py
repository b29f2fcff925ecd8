"""curate: data-centric curation of chat fine-tuning data.

The public API is five verbs plus helpers; the CLI and the Streamlit app call the same functions.
Imports are lazy so `import curate` stays fast and torch loads only when a model is used.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_API = {
    "load": "curate.loaders",
    "iter_load": "curate.loaders",
    "Loaded": "curate.loaders",
    "score": "curate.scoring",
    "scores": "curate.store",
    "dedup": "curate.duplicates",
    "select": "curate.selection",
    "run": "curate.pipeline",
    "report": "curate.reporting",
    "audit": "curate.audit.api",
}
__all__ = sorted(_API)


def __getattr__(name: str) -> Any:
    if name in _API:
        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'curate' has no attribute {name!r}")
