"""What every page shares: the run directory, the cached generator and vote store, the prompt set,
the generation settings, and small cached file readers. Streamlit-only glue; the logic lives in
``train.generate``, ``app.votes`` and ``app.ratings``."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from curate.app.background import Job
from curate.app.votes import VoteStore
from curate.errors import UserError
from curate.rundir import RunDir
from curate.train.generate import Generator, Variant, list_variants
from curate.train.prompt_set import DEFAULT_PROMPTS, load_prompts, prompt_text

BUILTIN_PROMPTS = [
    "Explain the difference between a list and a tuple in Python.",
    "Write a haiku about autumn rain.",
    "Give me three tips for a good night's sleep.",
    "What is the capital of Australia, and why is it not Sydney?",
    "Summarize the water cycle in two sentences.",
]
# An emoji favicon is drawn by the browser (an inline SVG); a ":material/...:" one is fetched from
# fonts.gstatic.com, which fails offline.
PAGE_ICON = "⚖️"
SETTINGS_DEFAULTS = {"temperature": 0.7, "min_p": 0.1, "max_new_tokens": 128, "seed": 0}
# The Arena's own default. 64 cut most answers mid-sentence, and a vote on a cut answer measures where the
# cut fell rather than the model; 256 lets a typical answer to the evaluation prompts end by itself
# (benchmarks/RESULTS.md, `## app`), and the vote records how each answer ended either way.
ARENA_MAX_NEW_TOKENS = 256
# How often the streaming answers redraw (seconds). Every redraw is a script run holding the GIL while the
# answers are sampled on another thread, and a browser re-render on the same CPU: at 0.4 s (with the
# post-script gc.collect already off) the maintainers saw 4.1-4.7 tokens/s per column where the model alone
# made ~7.4; at 1 s the app streams at the model's own speed (benchmarks/RESULTS.md, `## app`).
STREAM_REFRESH_S = float(os.environ.get("CURATE_STREAM_REFRESH_S", "1.0"))  # the variable: for the benchmark


def _argv() -> argparse.Namespace:
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("run_dir", nargs="?")
    p.add_argument("--model", default=None)
    return p.parse_known_args(sys.argv[1:])[0]


def run_dir() -> Path | None:
    """``CURATE_RUN_DIR``, else the first argument after ``--`` of ``streamlit run curate/app/main.py -- RUN``."""
    if "run_dir" not in st.session_state:
        env = os.environ.get("CURATE_RUN_DIR")
        st.session_state.run_dir = env if env is not None else (_argv().run_dir or "")
    value = st.session_state.run_dir
    return Path(value).expanduser() if value else None


def base_model() -> str | None:
    """An explicit base model (``--model`` / ``CURATE_BASE_MODEL``), else None: the run's own."""
    return os.environ.get("CURATE_BASE_MODEL") or _argv().model


def require_run() -> Path:
    """The run directory, or an error message and a stopped page."""
    run = run_dir()
    if run is None:
        st.error("No run directory given. Start the app with `curate app RUN_DIR`.")
        st.stop()
    if not run.is_dir():
        st.error(f"Run directory not found: `{run}`")
        st.stop()
    return run


def variants(run: Path) -> list[Variant]:
    try:
        return list_variants(run, base_model())
    except UserError as e:
        st.error(str(e))
        st.stop()


@st.cache_resource(show_spinner="Loading the base model (once)...")
def _generator(key: tuple, device: str) -> Generator:
    vs = [Variant(name, base, Path(adapter) if adapter else None, subset, rows)
          for name, base, adapter, subset, rows in key]
    gen = Generator(vs, device=device)
    if gen.device == "cpu":  # leave a core to the browser and Streamlit: all cores spinning was 3-4x slower
        import torch

        torch.set_num_threads(max(1, (os.cpu_count() or 1) - 1))
    return gen


def generator(vs: list[Variant]) -> Generator:
    """One shared generator per set of variants; stops the page with a message if it cannot load."""
    key = tuple((v.name, v.base_model, str(v.adapter) if v.adapter else None, v.subset, v.rows) for v in vs)
    try:
        return _generator(key, os.environ.get("CURATE_DEVICE", "auto"))
    except UserError as e:
        st.error(str(e))
        st.stop()


@st.cache_resource
def _voters(path: str, mtime: float) -> dict[str, str]:
    from curate.app import voters

    return voters.load(path)


def voter() -> tuple[bool, str | None]:
    """(shared mode, this browser's voter name). Shared mode is ``curate app RUN --voters FILE``
    (``CURATE_VOTERS``); the voter comes from the link's ``?voter=TOKEN`` and is remembered for the tab."""
    path = os.environ.get("CURATE_VOTERS")
    if not path:
        return False, None
    try:
        people = _voters(path, _mtime(Path(path)))
    except UserError as e:
        st.error(str(e))
        st.stop()
    token = st.query_params.get("voter") or st.session_state.get("voter_token")
    if token in people:
        st.session_state.voter_token = token
        return True, people[token]
    return True, None


@st.cache_resource
def _vote_store(path: str) -> VoteStore:
    return VoteStore(path)


def vote_store(run: Path) -> VoteStore | None:
    """The run's vote store, or None after showing why it cannot be opened."""
    try:
        return _vote_store(str(RunDir(run).votes_path))
    except UserError as e:
        st.error(str(e))
        return None


@st.cache_data(show_spinner=False)
def _prompt_texts(path: str, mtime: float) -> list[str]:
    return [prompt_text(p).strip() for p in load_prompts(path)]


def prompts(path: str | Path = DEFAULT_PROMPTS) -> list[str]:
    """The evaluation prompt set's questions (``train.prompt_set``, the evaluation's own parser), or a few
    built-in prompts, with a warning naming what is wrong, when the file is absent or broken."""
    try:
        return _prompt_texts(str(path), _mtime(Path(path)))
    except UserError as e:
        st.warning(f"{e}; offering a few built-in prompts instead")
        return list(BUILTIN_PROMPTS)


def job(key: str) -> Job | None:
    """The page's background generation under session key ``key`` (None before the first)."""
    return st.session_state.get(key)


def busy(key: str) -> bool:
    """Whether the page's background generation is still running."""
    running = job(key)
    return running is not None and running.running


def settings_sidebar() -> None:
    """Generation settings shared by Compare and Arena (kept in session state)."""
    for k, v in SETTINGS_DEFAULTS.items():
        st.session_state.setdefault(k, v)
    with st.sidebar.expander("Generation settings", expanded=False):
        st.slider("Temperature", 0.0, 1.5, key="temperature", step=0.05,
                  help="0 = greedy (deterministic)")
        st.slider("min_p", 0.0, 0.5, key="min_p", step=0.01,
                  help="drop tokens less likely than min_p x the top token's probability")
        st.number_input("Max new tokens", 1, 2048, key="max_new_tokens", step=16)
        st.number_input("Seed (0 = random)", 0, 2**31 - 1, key="seed", step=1)


def settings() -> dict[str, Any]:
    for k, v in SETTINGS_DEFAULTS.items():
        st.session_state.setdefault(k, v)
    s = {k: st.session_state[k] for k in SETTINGS_DEFAULTS}
    return {"temperature": float(s["temperature"]), "min_p": float(s["min_p"]),
            "max_new_tokens": int(s["max_new_tokens"]), "seed": int(s["seed"]) or None}


def warn_before_leaving(on: bool = True) -> None:
    """Ask the browser to confirm before a reload or close drops what lives only in this session (chats,
    a battle): Streamlit keeps them in server memory per tab, and a reload starts a new tab session."""
    js = ("window.onbeforeunload = (e) => { e.preventDefault(); e.returnValue = ''; };" if on
          else "window.onbeforeunload = null;")
    st.html(f"<script>{js}</script>", unsafe_allow_javascript=True, width=1)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


@st.cache_data(show_spinner=False)
def _read_json(path: str, mtime: float) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def read_json(path: Path) -> Any | None:
    """Parsed JSON, or None if the file is missing or broken (the page says so)."""
    if not path.exists():
        return None
    try:
        return _read_json(str(path), _mtime(path))
    except (OSError, json.JSONDecodeError) as e:
        st.warning(f"Cannot read `{path}`: {e}")
        return None


@st.cache_data(show_spinner=False)
def _read_parquet(path: str, mtime: float) -> pd.DataFrame:
    return pd.read_parquet(path)


def read_parquet(path: Path) -> pd.DataFrame | None:
    if not path.exists():
        return None
    try:
        return _read_parquet(str(path), _mtime(path))
    except Exception as e:  # a half-written or foreign file: say which one
        st.warning(f"Cannot read `{path}`: {e}")
        return None
