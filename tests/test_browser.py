"""One real-browser test: `streamlit run` the app on 127.0.0.1 and render it with headless chromium."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from curate.rundir import write_json

CHROMIUM = "/usr/bin/chromium"
MAIN = Path(__file__).resolve().parent.parent / "app" / "main.py"
pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian chromium (apt-get install chromium)")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"streamlit did not become healthy at {url}")


def chromium(url: str, profile: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={profile}", "--virtual-time-budget=30000", "--window-size=1400,900", *extra, url],
        capture_output=True, text=True, timeout=120,
    )


def test_app_renders_in_chromium(tmp_path):
    run = tmp_path / "run"  # the first page lists variants without loading a model
    write_json(run / "models" / "quality" / "metrics.json",
               {"variant": "quality", "subset": "quality", "rows": 10, "base_model": "smollm2"})
    (run / "models" / "quality" / "adapter").mkdir()
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = dict(os.environ, CURATE_RUN_DIR=str(run), CURATE_DEVICE="cpu")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(MAIN), "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false",
         "--server.fileWatcherType", "none"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        _wait_healthy(url, proc)
        for attempt in range(4):  # the first script run (imports) can outlast chromium's virtual time
            dom = chromium(url, tmp_path / f"profile{attempt}", "--dump-dom").stdout
            if "Compare variants" in dom:
                break
        assert "Compare variants" in dom, dom[-2000:]
        for text in ("Arena", "Leaderboard", "Explorer", "quality (quality, 10 rows)"):
            assert text in dom
        assert "Traceback" not in dom
        if os.environ.get("CURATE_SCREENSHOT"):  # a picture for a human to look at; the DOM is the check
            chromium(url, tmp_path / "profile-shot", f"--screenshot={os.environ['CURATE_SCREENSHOT']}")
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
