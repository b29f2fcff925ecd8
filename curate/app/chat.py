"""One model, one conversation: the chat view of an exported model's deploy app (``curate export --app``
writes an ``app.py`` that calls :func:`deploy_page`). Answers stream from the same
``curate.train.generate.Generator`` the run app uses; the conversation lives in the session state."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import streamlit as st

from curate.errors import UserError
from curate.train.config import Sampling
from curate.train.generate import Generator, Variant

DEFAULTS = Sampling()  # the generator's own defaults: temperature 0.7, min_p 0.1, 256 new tokens


@st.cache_resource(show_spinner="Loading the model (once)...")
def load_generator(model_dir: str, name: str = "model", device: str = "cpu") -> Generator:
    """One shared ``Generator`` serving the merged model in ``model_dir`` as variant ``name``."""
    gen = Generator([Variant(name, model_dir)], device=device)
    if gen.device == "cpu":  # leave a core to Streamlit and the browser
        import torch

        torch.set_num_threads(max(1, (os.cpu_count() or 1) - 1))
    return gen


def chat_view(gen: Generator, name: str, settings: dict[str, Any] | None = None, key: str = "chat") -> None:
    """The conversation so far, a chat input, and the new answer streamed under it.

    Args:
        gen: the generator that serves ``name``.
        name: the variant to answer with.
        settings: ``temperature``, ``min_p``, ``max_new_tokens`` (defaults: :data:`DEFAULTS`).
        key: the session-state prefix (two chats on one page need two keys).
    """
    history: list[dict] = st.session_state.setdefault(f"{key}_messages", [])
    for m in history:
        with st.chat_message(m["role"]):
            st.markdown(m["content"])
            if m.get("stats"):
                st.caption(m["stats"])
    prompt = st.chat_input("Message the model...", key=f"{key}_input")
    if not prompt or not prompt.strip():
        return
    history.append({"role": "user", "content": prompt.strip()})
    with st.chat_message("user"):
        st.markdown(prompt.strip())
    with st.chat_message("assistant"):
        try:
            text = st.write_stream(gen.stream(name, [{"role": m["role"], "content": m["content"]} for m in history],
                                              sampling=DEFAULTS, **(settings or {})))
        except UserError as e:
            history.pop()
            st.error(str(e))
            return
        stats = gen.last_stats
        note = f"{stats.tokens} tokens · {stats.tokens_per_s:.1f} tokens/s" if stats else ""
        st.caption(note)
    history.append({"role": "assistant", "content": text if isinstance(text, str) else "".join(map(str, text)),
                    "stats": note})


def _settings_sidebar() -> dict[str, Any]:
    st.sidebar.subheader("Generation")
    return {"temperature": st.sidebar.slider("temperature", 0.0, 1.5, DEFAULTS.temperature, 0.05),
            "max_new_tokens": st.sidebar.slider("max new tokens", 16, 1024, DEFAULTS.max_new_tokens, 16)}


def model_dir(folder: Path) -> Path:
    """Where the deploy app finds its model: ``CURATE_CHAT_MODEL``, else ``folder/model``, else the export
    folder above ``folder``."""
    env = os.environ.get("CURATE_CHAT_MODEL")
    for candidate in ([Path(env)] if env else []) + [folder / "model", folder.parent]:
        if (candidate / "config.json").exists():
            return candidate
    raise UserError(f"no model folder (config.json) in {folder / 'model'} or {folder.parent}; "
                    "set CURATE_CHAT_MODEL")


def deploy_page(folder: str | Path, title: str | None = None) -> None:
    """The whole deploy app: the card's summary and settings in the sidebar, the chat in the page.

    Args:
        folder: the app folder (holds ``summary.md`` and, for a Space, ``model/``).
        title: the page title (default: the folder above's name).
    """
    folder = Path(folder).resolve()
    title = title or folder.parent.name
    st.set_page_config(page_title=title, page_icon=":material/chat:")
    st.title(title)
    summary = folder / "summary.md"
    if summary.exists():
        st.sidebar.markdown(summary.read_text(encoding="utf-8"))
    settings = _settings_sidebar()
    if st.sidebar.button("New chat"):
        st.session_state.pop("chat_messages", None)
    try:
        gen = load_generator(str(model_dir(folder)), title, os.environ.get("CURATE_DEVICE", "cpu"))
    except UserError as e:
        st.error(str(e))
        st.stop()
    chat_view(gen, title, settings)
