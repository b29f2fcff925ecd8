"""Packaging: training and the app live in the package (curate/train, curate/app), so no generic top-level
name reaches site-packages and a user's own train.py or app.py cannot shadow them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _declared() -> list[str]:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]


def test_every_package_folder_is_declared_under_curate():
    found = set()
    for init in (ROOT / "curate").rglob("__init__.py"):
        found.add(".".join(init.parent.relative_to(ROOT).parts))
    declared = _declared()
    assert set(declared) == found, "pyproject.toml [tool.setuptools] packages must list every package folder"
    assert all(p == "curate" or p.startswith("curate.") for p in declared)


def test_cli_works_next_to_a_users_train_and_app_modules(tmp_path):
    for name in ("train", "app"):
        (tmp_path / f"{name}.py").write_text(f"raise SystemExit('the user\\'s {name}.py was imported')\n")
    for argv in (["--help"], ["train", "--help"], ["app", "--help"]):
        out = subprocess.run([sys.executable, "-m", "curate", *argv], cwd=tmp_path, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        assert "usage: curate" in out.stdout
    code = "import curate.train.sft, curate.app.votes, curate.cli.app as a; assert a.APP_MAIN.is_file()"
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
