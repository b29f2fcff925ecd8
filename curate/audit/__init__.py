"""Planted-corruption audits: does each score catch what it should, on *your* data?

``curate.audit(...)`` is :func:`curate.audit.api.audit`. This package shares the function's name, and
importing a submodule binds the package to ``curate.audit``, so the package itself is callable and
forwards to the function (a module subclass with ``__call__``; Python allows assigning ``__class__``).
"""

from __future__ import annotations

import sys
import types
from typing import Any


class _CallableModule(types.ModuleType):
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from curate.audit.api import audit

        return audit(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
