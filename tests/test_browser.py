"""One real-browser test: `streamlit run` the app on 127.0.0.1 and render it with headless chromium."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
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
MAIN = Path(__file__).resolve().parent.parent / "curate" / "app" / "main.py"
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


class Browser:
    """Headless chromium driven over the DevTools protocol: load a page, wait until the Streamlit
    script has rendered (text present, no skeleton placeholders), read the text, take a screenshot."""

    def __init__(self, profile: Path):
        self.port = _free_port()
        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile}", f"--remote-debugging-port={self.port}", "--window-size=1400,1000",
             "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/json/list", timeout=2) as r:
                    page = next(p for p in json.load(r) if p["type"] == "page")
                break
            except (OSError, StopIteration):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
        from websockets.sync.client import connect

        self._stack = contextlib.ExitStack()
        self.ws = self._stack.enter_context(connect(page["webSocketDebuggerUrl"], max_size=None))
        self.n = 0

    def call(self, method: str, **params):
        self.n += 1
        self.ws.send(json.dumps({"id": self.n, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv(timeout=60))
            if msg.get("id") == self.n:
                return msg.get("result", {})

    def js(self, expression: str):
        return self.call("Runtime.evaluate", expression=expression)["result"].get("value")

    def render(self, url: str, wait_for: str, timeout: float = 90) -> str:
        self.call("Page.navigate", url=url)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.js("document.body ? document.body.innerText : ''") or ""
            if wait_for in text and not self.js("document.querySelectorAll('[class*=Skeleton]').length"):
                time.sleep(1)  # let the last widgets paint
                return self.js("document.body.innerText")
            time.sleep(0.5)
        raise TimeoutError(f"{wait_for!r} did not render at {url}; page text: {text[-1500:]}")

    def text(self) -> str:
        return self.js("document.body ? document.body.innerText : ''") or ""

    def wait_text(self, pattern: str, timeout: float = 90) -> str:
        """The page text once it matches the regular expression ``pattern``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.text()
            if re.search(pattern, text):
                return text
            time.sleep(0.2)
        raise TimeoutError(f"{pattern!r} did not appear; page text: {self.text()[-1500:]}")

    def type_into(self, selector: str, text: str, submit: str, timeout: float = 60) -> None:
        """Wait for an input, type ``text`` into it as a user would, then click the ``submit`` element."""
        found = f"document.querySelector({json.dumps(selector)})"
        deadline = time.monotonic() + timeout
        while not self.js(f"!!{found}"):
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {selector} on the page")
            time.sleep(0.3)
        self.js(f"{found}.focus()")
        self.call("Input.insertText", text=text)
        time.sleep(0.5)  # let the widget see the text before the click
        self.js(f"document.querySelector({json.dumps(submit)}).click()")

    def click_all(self, label: str, timeout: float = 60) -> None:
        """Click every button labelled ``label``, one at a time (each click redraws the page)."""
        find = f"[...document.querySelectorAll('button')].find(b => b.innerText.trim() === {json.dumps(label)})"
        deadline = time.monotonic() + timeout
        while self.js(f"!!{find}"):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{label!r} buttons are still there")
            self.js(f"{find}.click()")
            time.sleep(1.5)

    def screenshot(self, path: Path) -> bytes:
        data = base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"])
        path.write_bytes(data)
        return data

    def close(self) -> None:
        self._stack.close()
        self.proc.kill()
        self.proc.wait()


def _ink(png: Path) -> float:
    """Share of pixels that are not near-white: a blank or skeleton page has almost none."""
    from matplotlib.image import imread

    img = imread(png)[..., :3]
    return float((img.mean(axis=-1) < 0.8).mean())


def _serve(run: Path):
    port = _free_port()
    env = dict(os.environ, CURATE_RUN_DIR=str(run), CURATE_DEVICE="cpu")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(MAIN), "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true", "--server.fileWatcherType", "none"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )
    return proc, f"http://127.0.0.1:{port}"


def _stop(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@pytest.fixture(scope="module")
def slow_lm_dir(tiny_tokenizer_dir, tmp_path_factory) -> Path:
    """A random Llama big enough (~10M parameters) that 128 tokens take seconds on a CPU core: long
    enough to see an answer mid-stream."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tok = AutoTokenizer.from_pretrained(tiny_tokenizer_dir)
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=256, intermediate_size=768, num_hidden_layers=6,
                      num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=2048,
                      pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
    out = tmp_path_factory.mktemp("slow-lm")
    LlamaForCausalLM(cfg).save_pretrained(out)
    tok.save_pretrained(out)
    return out


def test_compare_mid_stream_and_explorer_in_chromium(tmp_path, slow_lm_dir):
    from helpers import trained_run

    run = trained_run(tmp_path / "run", slow_lm_dir)
    proc, url = _serve(run)
    shots = Path(os.environ.get("CURATE_SCREENSHOT_DIR", tmp_path))
    try:
        _wait_healthy(url, proc)
        browser = Browser(tmp_path / "profile")
        try:
            browser.render(url, "Compare variants")
            browser.type_into("textarea[data-testid=stChatInputTextArea]", "Write a long story about a cat.",
                              "button[data-testid=stChatInputSubmitButton]")
            text = browser.wait_text(r"generating\.\.\. [1-9]\d* tokens")  # mid-stream: some tokens, not all
            shot = shots / "compare_streaming.png"
            browser.screenshot(shot)
            assert "Stop" in text and "Write a long story about a cat." in text and "Deploy" not in text
            assert _ink(shot) > 0.01
            browser.click_all("Stop")
            text = browser.wait_text("Regenerate")  # every answer stopped: Stop gives way to Regenerate
            assert "generating..." not in text and text.count("stopped after") == 2
            text = browser.render(f"{url}/explorer", "Inspect a row")
            shot = shots / "explorer.png"
            browser.screenshot(shot)
            for expected in ("Data explorer", "20 of 20 rows", "Filter by score range", "Export JSONL"):
                assert expected in text, expected
            assert _ink(shot) > 0.01
        finally:
            browser.close()
    finally:
        _stop(proc)


def test_app_renders_in_chromium(tmp_path):
    run = tmp_path / "run"  # the first page lists variants without loading a model
    write_json(run / "models" / "quality" / "metrics.json",
               {"variant": "quality", "subset": "quality", "rows": 10, "base_model": "smollm2"})
    (run / "models" / "quality" / "adapter").mkdir()
    write_json(run / "eval" / "winrates.json", [
        {"variant": "quality", "opponent": "base", "judge": "tiny", "n": 10, "wins": 7, "losses": 2, "ties": 1,
         "win_rate": 0.75, "ci_low": 0.5, "ci_high": 0.95, "mean_tokens": 40.0, "opponent_mean_tokens": 35.0}])
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
        browser = Browser(tmp_path / "profile")
        try:
            text = browser.render(url, "Compare variants")
            for expected in ("Arena", "Leaderboard", "Explorer", "quality (quality, 10 rows)", "Variants"):
                assert expected in text
            assert "Traceback" not in text
            shot = Path(os.environ.get("CURATE_SCREENSHOT", tmp_path / "compare.png"))
            browser.screenshot(shot)
            assert _ink(shot) > 0.01, "the screenshot is blank: the app did not paint"
            board = browser.render(f"{url}/leaderboard", "Automatic evaluation")
            assert "No votes yet" in board
        finally:
            browser.close()
    finally:
        _stop(proc)
