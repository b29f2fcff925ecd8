"""Compare: the same prompt to two or more variants, answers streamed side by side at the same time
(one batched generation, each row under its own adapter). One chat per column, so follow-ups go to
each model with its own earlier answers. Each answer can be stopped or regenerated; an answer cut by
a new prompt stays, marked as interrupted."""

from __future__ import annotations

import streamlit as st

from curate.app import conversation, state
from curate.app.background import Job
from curate.train.generate import Answer, Variant

st.title("Compare variants")
run = state.require_run()
variants = state.variants(run)
by_name = {v.name: v for v in variants}
if len(variants) < 2:
    st.error(f"No trained models in `{run / 'models'}`: train some with `curate train` first. "
             "Only the base model is available.")

chats: dict[str, list[dict]] = st.session_state.setdefault("compare_chats", {})


def _describe(v: Variant) -> str:
    if v.adapter is None:
        return "the base model, no fine-tuning"
    rows = f", {v.rows:,} rows" if v.rows is not None else ""
    return f"LoRA trained on subset `{v.subset or v.name}`{rows}"


def _job() -> Job | None:
    return st.session_state.get("compare_job")


def _start(requests: list[tuple[str, list[dict]]], answers: list[Answer]) -> None:
    gen = state.generator(variants)
    st.session_state.compare_job = Job(gen, requests, state.settings(), answers)


def _interrupt() -> None:
    """Stop the exchange in progress; its partial answers stay in the chat, marked interrupted."""
    job = _job()
    if job is None or not job.running:
        return
    for history in chats.values():
        for m in history:
            if "answer" in m and not m["answer"].done:
                m["interrupted"] = True
    job.stop()


def _send(prompt: str, names: list[str]) -> None:
    _interrupt()
    system = st.session_state.get("compare_system", "")
    requests, answers = [], []
    for name in names:
        history = chats.setdefault(name, [])
        history.append({"role": "user", "content": prompt})
        requests.append((name, conversation.model_messages(history, system)))
        answers.append(Answer(name))
        history.append(conversation.assistant(answers[-1]))
    _start(requests, answers)


def _regenerate(name: str) -> None:
    history = chats[name]
    history.pop()  # the last answer; the prompt before it is asked again
    answer = Answer(name)
    _start([(name, conversation.model_messages(history, st.session_state.get("compare_system", "")))], [answer])
    history.append(conversation.assistant(answer))


def _new_chat() -> None:
    _interrupt()
    chats.clear()


chosen = st.multiselect("Variants", list(by_name), default=list(by_name)[:2],
                        format_func=lambda n: by_name[n].label, key="compare_variants")
with st.expander("System prompt (shared by every column)", expanded=False):
    st.text_area("System prompt", key="compare_system", height=80, label_visibility="collapsed",
                 placeholder="e.g. You are a concise assistant. Leave empty for none.")
picked = st.selectbox("Prompt from the evaluation set (or type below)", ["", *state.prompts()],
                      key="compare_pick", format_func=lambda p: p or "— type your own —")
c1, c2, c3, c4 = st.columns([2, 1, 1, 1])
send_picked = c1.button("Send picked prompt", disabled=not picked, key="compare_send")
c2.button("New chat", key="compare_clear", on_click=_new_chat)
settings = state.settings()
labels = {n: by_name[n].label for n in by_name}
if any(chats.values()):
    system = st.session_state.get("compare_system", "")
    c3.download_button("Export JSON", conversation.to_json(chats, labels, system, settings),
                       "compare.json", "application/json", key="compare_export_json")
    c4.download_button("Export Markdown", conversation.to_markdown(chats, labels, system, settings),
                       "compare.md", "text/markdown", key="compare_export_md")
typed = st.chat_input("Ask all selected variants...", key="compare_input")
prompt = typed if typed is not None else (picked if send_picked else None)

if not chosen:
    st.info("Pick at least one variant (two or more to compare).")
    st.stop()
if prompt is not None and not prompt.strip():
    st.error("The prompt is empty: type a question first.")
elif prompt is not None:
    _send(prompt.strip(), chosen)


def _message(name: str, i: int, m: dict, last: bool, busy: bool) -> None:
    with st.chat_message(m["role"]):
        if "answer" not in m:
            st.markdown(m["content"])
            return
        a: Answer = m["answer"]
        if a.error:
            st.error(a.error)
        st.markdown(a.text or ("..." if not a.done else ""))
        note = " · ".join(x for x in (conversation.stats(a), conversation.ending(m)) if x)
        if note:
            st.caption(note)
        if not a.done:
            st.button("Stop", key=f"compare_stop_{name}_{i}", on_click=setattr, args=(a, "stop_requested", True))
        elif last and not busy:
            st.button("Regenerate", key=f"compare_regen_{name}", on_click=_regenerate, args=(name,))


def _columns() -> None:
    job = _job()
    busy = job is not None and job.running
    for name, col in zip(chosen, st.columns(len(chosen)), strict=True):
        history = chats.setdefault(name, [])
        with col:
            st.subheader(name)
            st.caption(_describe(by_name[name]))
            for i, m in enumerate(history):
                _message(name, i, m, i == len(history) - 1, busy)
    if busy:
        st.session_state.compare_was_busy = True
    elif st.session_state.pop("compare_was_busy", False):
        st.rerun()  # the last token arrived: redraw the whole page once (buttons, export)


job = _job()
st.fragment(_columns, run_every=0.4 if job is not None and job.running else None)()
