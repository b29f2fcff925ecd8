"""The exported chat app in a real browser: `streamlit run app.py` inside the export's app/ folder (its
own .streamlit/config.toml, nothing from the run), a prompt typed into headless chromium, the streamed
answer and its tokens/s caption on the page, then a follow-up in the same conversation."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from curate.app.testing import CHROMIUM, Browser, free_port, stop, wait_healthy

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian chromium (apt-get install chromium)")]


def test_exported_app_answers_in_chromium(tmp_path):
    from test_export import build_bpe_lm, trained_run

    import curate

    lm = build_bpe_lm(tmp_path / "lm")
    (tmp_path / "r").mkdir()
    run = trained_run(tmp_path / "r", lm)
    out = curate.export(run, "long", tmp_path / "shipped", app=True)
    app_dir = out.path / "app"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CURATE_")}
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
                             "--server.address", "127.0.0.1"], cwd=app_dir, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    shots = Path(os.environ.get("CURATE_SCREENSHOT_DIR", tmp_path))
    try:
        wait_healthy(url, proc)
        browser = Browser(tmp_path / "profile")
        try:
            text = browser.render(url, "New chat")
            assert "LoRA" in text and "long" in text and "Deploy" not in text  # the card's summary, no toolbar
            browser.type_into("textarea[data-testid=stChatInputTextArea]", "How do I sort a list?",
                              "button[data-testid=stChatInputSubmitButton]")
            text = browser.wait_text(r"\d+ tokens · [\d.]+ tokens/s")
            assert "How do I sort a list?" in text
            browser.type_into("textarea[data-testid=stChatInputTextArea]", "And a tuple?",
                              "button[data-testid=stChatInputSubmitButton]")
            text = browser.wait_text(r"(?s)tokens/s.*And a tuple\?.*tokens/s")
            assert "How do I sort a list?" in text  # the conversation is kept
            browser.screenshot(shots / "export_chat.png")
        finally:
            browser.close()
    finally:
        stop(proc)
