"""Optional dependencies: one loader, so a missing extra always fails with the same clear message."""

from __future__ import annotations

import importlib
from types import ModuleType

from curate.errors import UserError

EXTRAS = {  # top-level module -> (pip extra or packages, what needs it)
    "ray": ("curate-chat[ray]", "executor 'ray'"),
    "unsloth": ("curate-chat[gpu]", "the unsloth training backend"),
    "usearch": ("usearch", "semantic dedup backend 'usearch'"),
    "model2vec": ("model2vec skeletoken", "the 'static' embedding backend"),
}


def require(module: str) -> ModuleType:
    """Import ``module`` (e.g. ``ray``, ``usearch.index``, ``model2vec.distill``); UserError naming the
    package to install when it (or one of its own imports) is missing."""
    top = module.split(".")[0]
    try:
        return importlib.import_module(module)
    except ImportError as e:
        install, who = EXTRAS.get(top, (top, module))
        raise UserError(f"{who} needs {top}, which is not installed ({e}): pip install '{install}'") from None
