"""Renamed arguments keep working for one release, with a DeprecationWarning naming the new spelling."""

from __future__ import annotations

import warnings
from typing import Any


def moved(where: str, old: str, new: str, stacklevel: int = 3) -> None:
    """Warn that ``where(old=...)`` is deprecated in favour of ``new``, a spelling such as
    ``near=NearConfig(threshold=...)`` (``stacklevel`` 3: the caller of the function that calls this)."""
    warnings.warn(f"{where}({old}=...) is deprecated; use {new}", DeprecationWarning, stacklevel=stacklevel)


def renamed(where: str, old: str, new: str, old_value: Any, new_value: Any) -> Any:
    """``new_value``, or ``old_value`` (with a warning) when only the deprecated ``old`` was given."""
    if old_value is None:
        return new_value
    moved(where, old, f"{new}=", stacklevel=4)
    if new_value is not None and new_value != old_value:
        raise TypeError(f"{where}: give {new}= only (not both {old}= and {new}=)")
    return old_value
