"""What the app's tests and benchmarks share: a random LoRA adapter for any causal LM folder (compare
variants without training anything; tests/helpers.py builds whole fake runs with it), and the real app
served by `streamlit run` and driven by headless chromium over the DevTools protocol (the browser test,
benchmarks/bench_app_generate.py, screenshots)."""

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
from collections.abc import Callable
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
MAIN = Path(__file__).resolve().parent / "main.py"


def make_adapter(base_dir: str | Path, out_dir: str | Path, seed: int = 0) -> Path:
    """Save a random (non-identity) LoRA adapter for ``base_dir`` into ``out_dir``."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(base_dir)
    cfg = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    get_peft_model(model, cfg).save_pretrained(out_dir)
    return Path(out_dir)


def free_port() -> int:
    """A TCP port nobody listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    """Block until the Streamlit server answers its health check (or raise)."""
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

    def __init__(self, profile: Path, size: tuple[int, int] = (1400, 1000)):
        self.port = free_port()
        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile}", f"--remote-debugging-port={self.port}", f"--window-size={size[0]},{size[1]}",
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
        self.js("window.onbeforeunload = null")  # a page with chats asks before leaving: a user would confirm
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

    def wait_until_text(self, holds: Callable[[str], bool], timeout: float = 90, what: str = "the expected state") -> str:
        """The page text once ``holds(text)`` is true; TimeoutError naming ``what`` after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.text()
            if holds(text):
                return text
            time.sleep(0.2)
        raise TimeoutError(f"{what} did not appear; page text: {self.text()[-1500:]}")

    def wait_text(self, pattern: str, timeout: float = 90) -> str:
        """The page text once it matches the regular expression ``pattern``."""
        return self.wait_until_text(lambda t: re.search(pattern, t) is not None, timeout, repr(pattern))

    def type_into(self, selector: str, text: str, submit: str, timeout: float = 60) -> None:
        """Wait for an input, type ``text`` into it as a user would, then click the ``submit`` element."""
        found = f"document.querySelector({json.dumps(selector)})"
        self._wait_until(f"!!{found}", timeout, f"no {selector} on the page")
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

    def click(self, label: str, nth: int = 0, timeout: float = 60) -> None:
        """Click the ``nth`` button labelled ``label`` once it is there and enabled."""
        find = (f"[...document.querySelectorAll('button')].filter(b => b.innerText.trim() === {json.dumps(label)}"
                f" && !b.disabled)[{nth}]")
        self._wait_until(f"!!{find}", timeout, f"no enabled {label!r} button #{nth}")
        self.js(f"{find}.click()")

    def _wait_until(self, condition: str, timeout: float, message: str) -> None:
        """Poll the page until the JavaScript ``condition`` holds; TimeoutError(``message``) after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while not self.js(condition):
            if time.monotonic() > deadline:
                raise TimeoutError(message)
            time.sleep(0.3)

    def screenshot(self, path: Path) -> bytes:
        data = base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"])
        path.write_bytes(data)
        return data

    def close(self) -> None:
        self._stack.close()
        self.proc.kill()
        self.proc.wait()


def serve(run: Path, env: dict[str, str] | None = None, log: Any = subprocess.PIPE,
          args: tuple[str, ...] = ()) -> tuple[subprocess.Popen, str]:
    """`streamlit run` the app on ``run`` at a free port, as `curate app` does; (process, url)."""
    port = free_port()
    env = dict(os.environ, CURATE_RUN_DIR=str(run), CURATE_DEVICE="cpu", **(env or {}))
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(MAIN), "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true", *args],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    return proc, f"http://127.0.0.1:{port}"


def stop(proc: subprocess.Popen) -> None:
    """Stop the server and its process group."""
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
