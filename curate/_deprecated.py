"""Renamed arguments keep working for one release, with a DeprecationWarning naming the new name."""

from __future__ import annotations

import warnings
from typing import Any


def renamed(where: str, old: str, new: str, old_value: Any, new_value: Any) -> Any:
    """``new_value``, or ``old_value`` (with a warning) when only the deprecated ``old`` was given."""
    if old_value is None:
        return new_value
    warnings.warn(f"{where}({old}=...) is deprecated; use {new}=", DeprecationWarning, stacklevel=3)
    if new_value is not None and new_value != old_value:
        raise TypeError(f"{where}: give {new}= only (not both {old}= and {new}=)")
    return old_value
