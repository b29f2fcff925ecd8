"""The README's Python example runs as written, at the size it states, within the time it states."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


def _python_section() -> tuple[str, float]:
    """The first ```python block under '## Python' and the minutes stated above it."""
    section = README.read_text(encoding="utf-8").split("\n## Python\n", 1)[1].split("\n## ", 1)[0]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    minutes = re.search(r"runs in about (\d+(?:\.\d+)?) minutes? on 2 CPU cores", section)
    assert minutes, "the README states how long the Python example takes"
    return code, float(minutes.group(1))


def test_readme_states_the_size_and_time():
    code, minutes = _python_section()
    assert 'limit=200' in code and '"backend": "static"' in code and minutes <= 3


@pytest.mark.slow
def test_readme_python_example_runs_in_the_stated_time(tmp_path):
    code, minutes = _python_section()
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60 * minutes * 3,  # 3x headroom: the machine may be shared
                          env={**os.environ, "PYTHONPATH": str(README.parent)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "rows," in proc.stdout and (tmp_path / "runs" / "mine" / "scores").is_dir()
    assert time.monotonic() - start < 60 * minutes * 3
