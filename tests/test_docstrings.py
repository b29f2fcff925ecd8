"""The public API is documented like a library's: every name of ``curate.__all__`` that is a function or
class has Google-style ``Args:``, ``Returns:``, ``Raises:`` (``Attributes:`` for classes), checked by
scripts/lint_docs.py, the same check ``make lint`` runs (the suite runs ``make test``, not ``make lint``)."""

from __future__ import annotations

import dataclasses
import importlib.util
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "lint_docs.py"


def _lint_docs():
    spec = importlib.util.spec_from_file_location("lint_docs", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_public_api_docstrings_pass_the_lint():
    done = subprocess.run([sys.executable, str(SCRIPT)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"scripts/lint_docs.py failed:\n{done.stdout}{done.stderr}"


def test_lint_names_a_missing_section_and_a_missing_field():
    lint = _lint_docs()

    @dataclasses.dataclass
    class Bare:
        """No sections."""

        rows: int

    @dataclasses.dataclass
    class Half:
        """Half documented.

        Attributes:
            rows: how many.
        """

        rows: int
        seconds: float
        _cache: dict | None = None

    assert lint._class_problems("Bare", Bare) == ["Bare: the class docstring has no Attributes: section (rows)"]
    assert lint._class_problems("Half", Half) == ["Half: Attributes: does not name seconds"]
