"""One real-browser test: `streamlit run` the app on 127.0.0.1 and render it with headless chromium."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from curate.app.testing import CHROMIUM, MAIN, Browser, free_port, serve, stop, wait_healthy
from curate.rundir import write_json

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian chromium (apt-get install chromium)")]


def _ink(png: Path) -> float:
    """Share of pixels that are not near-white: a blank or skeleton page has almost none."""
    from matplotlib.image import imread

    img = imread(png)[..., :3]
    return float((img.mean(axis=-1) < 0.8).mean())


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
    proc, url = serve(run)
    shots = Path(os.environ.get("CURATE_SCREENSHOT_DIR", tmp_path))
    try:
        wait_healthy(url, proc)
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
            # every answer stopped: Stop gives way to Regenerate in all three columns. Wait for the settled
            # page, not the first Regenerate: mid-redraw, Streamlit still shows the other columns' stale
            # "generating..." elements next to a column already redrawn
            settled = r"^(?![\s\S]*generating\.\.\.)(?:[\s\S]*?Regenerate){3}"
            text = browser.wait_text(settled)
            # every column ended with its numbers shown: stopped, or, where a column was faster than the click,
            # cut at 128 tokens or ended by the random model's end-of-turn token (no label then)
            stats = re.compile(r"\d+ tokens in [\d.]+ s \([^)]*\)")
            assert len(stats.findall(text)) == 3 and "error:" not in text
            # Regenerate streams its new answer with no other interaction (it used to stay at 0 tokens): seen
            # mid-stream, or, where the tiny model is faster than a redraw, already ended with new numbers
            before = stats.findall(text)
            browser.click("Regenerate", nth=1)
            browser.wait_until_text(lambda t: re.search(r"generating\.\.\. [1-9]\d* tokens", t) is not None
                                    or ("generating..." not in t and stats.findall(t) != before))
            # then it ends, and every column's Regenerate button is back
            browser.wait_text(settled, timeout=120)
            text = browser.render(f"{url}/explorer", "Inspect a row")
            shot = shots / "explorer.png"
            browser.screenshot(shot)
            for expected in ("Data explorer", "20 of 20 rows", "Filter by score range", "Export JSONL"):
                assert expected in text, expected
            assert _ink(shot) > 0.01
        finally:
            browser.close()
    finally:
        stop(proc)


def test_app_renders_in_chromium(tmp_path):
    run = tmp_path / "run"  # the first page lists variants without loading a model
    write_json(run / "models" / "quality" / "metrics.json",
               {"variant": "quality", "subset": "quality", "rows": 10, "base_model": "smollm2"})
    (run / "models" / "quality" / "adapter").mkdir()
    write_json(run / "eval" / "winrates.json", [
        {"variant": "quality", "opponent": "base", "judge": "tiny", "n": 10, "wins": 7, "losses": 2, "ties": 1,
         "win_rate": 0.75, "ci_low": 0.5, "ci_high": 0.95, "mean_tokens": 40.0, "opponent_mean_tokens": 35.0}])
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = dict(os.environ, CURATE_RUN_DIR=str(run), CURATE_DEVICE="cpu")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(MAIN), "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false",
         "--server.fileWatcherType", "none"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        wait_healthy(url, proc)
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
        stop(proc)
