"""Compare: the same prompt to two or more variants, answers streamed side by side at the same time
(one batched generation, each row under its own adapter). One chat per column, so follow-ups go to
each model with its own earlier answers. Each answer can be stopped or regenerated; an answer cut by
a new prompt stays, marked as interrupted.

While answers stream, only the chat columns redraw (a fragment on a timer, ``state.STREAM_REFRESH_S``);
the rest of the page is drawn once per user action. Any action that starts a generation from inside
the columns (Regenerate) ends with a whole-page rerun, because the timer of a fragment is fixed when
the whole page is drawn: started from a fragment-only rerun, the answer would never be redrawn.
"""

from __future__ import annotations

import streamlit as st

from curate.app import conversation, state
from curate.app.background import Job
from curate.train.generate import Answer, Variant

JOB = "compare_job"  # session key of the columns' background generation


def _chats() -> dict[str, list[dict]]:
    """Every column's chat, kept in the browser session (a reload starts a new session)."""
    return st.session_state.setdefault("compare_chats", {})


def _start(variants: list[Variant], requests: list[tuple[str, list[dict]]], answers: list[Answer]) -> None:
    st.session_state[JOB] = Job(state.generator(variants), requests, state.settings(), answers)


def _interrupt() -> None:
    """Stop the exchange in progress; its partial answers stay in the chat, marked interrupted."""
    job = state.job(JOB)
    if job is None or not job.running:
        return
    for history in _chats().values():
        for m in history:
            if "answer" in m and not m["answer"].done:
                m["interrupted"] = True
    job.stop()


def _send(variants: list[Variant], prompt: str, names: list[str]) -> None:
    """Ask every chosen column ``prompt``, each with its own earlier turns."""
    _interrupt()
    system = st.session_state.get("compare_system", "")
    requests, answers = [], []
    for name in names:
        history = _chats().setdefault(name, [])
        history.append({"role": "user", "content": prompt})
        requests.append((name, conversation.model_messages(history, system)))
        answers.append(Answer(name))
        history.append(conversation.assistant(answers[-1]))
    _start(variants, requests, answers)


def _regenerate(variants: list[Variant], name: str) -> None:
    """Replace the last answer of column ``name`` by a new one to the same chat."""
    history = _chats()[name]
    history.pop()  # the last answer; the prompt before it is asked again
    answer = Answer(name)
    system = st.session_state.get("compare_system", "")
    _start(variants, [(name, conversation.model_messages(history, system))], [answer])
    history.append(conversation.assistant(answer))


def _new_chat() -> None:
    _interrupt()
    _chats().clear()


def _intro(run: object, variants: list[Variant]) -> None:
    """What the page shows, for someone who has not read the docs: what a variant and this run are."""
    trained = len(variants) - 1
    st.caption(f"This run (`{run}`) selected subsets of its data and fine-tuned the base model on each. A "
               f"**variant** is one of the resulting models: the base model itself, or the base plus a LoRA "
               f"adapter trained on one subset ({trained} here). Every selected variant answers the same "
               "prompt at the same time, so you can read the effect of the data side by side.")
    if trained < 1:
        st.error(f"No trained models in `{run}/models`: train some with `curate train` first. "
                 "Only the base model is available.")


def _controls(variants: list[Variant]) -> tuple[list[str], str | None]:
    """Variant picker, system prompt, prompt picker and action buttons; returns (chosen, prompt)."""
    by_name = {v.name: v for v in variants}
    chosen = st.multiselect("Variants", list(by_name), default=list(by_name),
                            format_func=lambda n: by_name[n].label, key="compare_variants")
    with st.expander("System prompt (shared by every column)", expanded=False):
        st.text_area("System prompt", key="compare_system", height=80, label_visibility="collapsed",
                     placeholder="e.g. You are a concise assistant. Leave empty for none.")
    picked = st.selectbox("Prompt from the evaluation set (or type below)", ["", *state.prompts()],
                          key="compare_pick", format_func=lambda p: p or "— type your own —")
    chats = _chats()
    with st.container(horizontal=True):  # buttons as wide as their labels: nothing truncates at 1000 px
        send_picked = st.button("Send picked prompt", disabled=not picked, key="compare_send")
        st.button("New chat", key="compare_clear", on_click=_new_chat)
        if any(chats.values()):
            labels = {n: v.label for n, v in by_name.items()}
            system, settings = st.session_state.get("compare_system", ""), state.settings()
            st.download_button("Export JSON", conversation.to_json(chats, labels, system, settings),
                               "compare.json", "application/json", key="compare_export_json")
            st.download_button("Export Markdown", conversation.to_markdown(chats, labels, system, settings),
                               "compare.md", "text/markdown", key="compare_export_md")
    if any(chats.values()):
        st.caption("These chats live in this browser tab only: reloading or closing it loses them "
                   "(export them first).")
        state.warn_before_leaving()
    typed = st.chat_input("Ask all selected variants...", key="compare_input")
    return chosen, typed if typed is not None else (picked if send_picked else None)


def _answer(name: str, i: int, m: dict, last: bool, busy: bool) -> bool:
    """Draw one answer; True when its Regenerate button was pressed."""
    a: Answer = m["answer"]
    if a.error:
        st.error(a.error)
    if a.text:
        st.markdown(a.text)
    elif not a.done:
        st.markdown("...")
    else:  # an empty bubble reads as a glitch: say why there is no text
        st.markdown(f"_{conversation.no_text(m)}_")
    note = " · ".join(x for x in (conversation.stats(a), conversation.ending(m)) if x)
    if note:
        st.caption(note)
    if not a.done:
        st.button("Stop", key=f"compare_stop_{name}_{i}", on_click=setattr, args=(a, "stop_requested", True))
        return False
    return last and not busy and st.button("Regenerate", key=f"compare_regen_{name}")


def _column(name: str, variant: Variant, busy: bool) -> str | None:
    """One variant's chat; returns ``name`` when its last answer is to be regenerated."""
    st.subheader(name)
    st.caption(variant.description)
    history = _chats().setdefault(name, [])
    regen = None
    for i, m in enumerate(history):
        with st.chat_message(m["role"]):
            if "answer" not in m:
                st.markdown(m["content"])
            elif _answer(name, i, m, i == len(history) - 1, busy):
                regen = name
    return regen


def _columns(variants: list[Variant], chosen: list[str]) -> None:
    """The chat columns: a fragment that redraws on a timer while answers stream."""
    by_name = {v.name: v for v in variants}
    busy = state.busy(JOB)
    regen = None
    for name, col in zip(chosen, st.columns(len(chosen)), strict=True):
        with col:
            regen = _column(name, by_name[name], busy) or regen
    if regen is not None:
        _regenerate(variants, regen)
        st.rerun()  # the whole page: only a full run starts the fragment's timer for the new answer
    if busy:
        st.session_state.compare_was_busy = True
    elif st.session_state.pop("compare_was_busy", False):
        st.rerun()  # the last token arrived: redraw the whole page once (buttons, export)


def page() -> None:
    """The Compare page, top to bottom."""
    st.title("Compare variants")
    run = state.require_run()
    variants = state.variants(run)
    _intro(run, variants)
    chosen, prompt = _controls(variants)
    if not chosen:
        st.info("Pick at least one variant (two or more to compare).")
        st.stop()
    if prompt is not None and not prompt.strip():
        st.error("The prompt is empty: type a question first.")
    elif prompt is not None:
        _send(variants, prompt.strip(), chosen)
    st.fragment(_columns, run_every=state.STREAM_REFRESH_S if state.busy(JOB) else None)(variants, chosen)


page()
