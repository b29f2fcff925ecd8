"""Arena: two variants drawn at random, shown in random order as A and B; their names appear only
after the vote. Votes go to ``RUN/votes.sqlite`` with the prompt, both answers and the settings."""

from __future__ import annotations

import random
import uuid

import streamlit as st

from app import state
from curate.errors import UserError

OUTCOME_LABELS = {"a": "A is better", "b": "B is better", "tie": "Tie", "both_bad": "Both are bad"}

st.title("Blind arena")
run = state.require_run()
variants = state.variants(run)
store = state.vote_store(run)
if len(variants) < 2:
    st.error(f"The arena needs at least two variants, but `{run / 'models'}` has no trained adapters. "
             "Train some with `curate train` first.")
    st.stop()
session = st.session_state.setdefault("arena_session", uuid.uuid4().hex[:12])
battle: dict = st.session_state.setdefault("arena", {})


def _random_prompt() -> None:
    st.session_state.arena_prompt = random.choice(state.prompts())


st.text_area("Prompt", key="arena_prompt", height=100, placeholder="Ask something, or pick a prompt")
c1, c2, _ = st.columns([1, 1, 3])
c1.button("Random eval prompt", on_click=_random_prompt, key="arena_random")
ask = c2.button("Ask two random models", type="primary", key="arena_ask")

if ask:
    prompt = st.session_state.get("arena_prompt", "")
    if not prompt.strip():
        st.error("The prompt is empty: type a question or pick a random eval prompt.")
        st.stop()
    gen = state.generator(variants)
    a, b = random.sample([v.name for v in variants], 2)
    cfg = state.settings()
    answers = {}
    cols = st.columns(2)
    for side, name, col in (("a", a, cols[0]), ("b", b, cols[1])):
        with col:
            st.subheader(f"Model {side.upper()}")
            try:
                answers[side] = str(st.write_stream(gen.stream(name, [{"role": "user", "content": prompt}], **cfg)))
            except UserError as e:
                st.error(str(e))
                st.stop()
    battle.clear()
    battle.update(prompt=prompt, a=a, b=b, answer_a=answers["a"], answer_b=answers["b"], settings=cfg, voted=None)
elif battle:
    cols = st.columns(2)
    for side, col in zip("ab", cols, strict=True):
        with col:
            st.subheader(f"Model {side.upper()}")
            st.markdown(battle[f"answer_{side}"])

if battle:
    st.caption(f"Prompt: {battle['prompt']}")
    buttons = st.columns(4)
    for (outcome, label), col in zip(OUTCOME_LABELS.items(), buttons, strict=True):
        if col.button(label, key=f"vote_{outcome}", disabled=battle["voted"] is not None or store is None,
                      width="stretch"):
            try:
                store.add(battle["prompt"], battle["a"], battle["b"], battle["answer_a"], battle["answer_b"],
                          outcome, settings=battle["settings"], session=session)
                battle["voted"] = outcome
            except UserError as e:
                st.error(str(e))
    if battle["voted"]:
        st.success(f"Vote saved: {OUTCOME_LABELS[battle['voted']]}. "
                   f"Model A was **{battle['a']}**, Model B was **{battle['b']}**.")
        st.caption("Ask again for the next round.")

if store is not None:
    try:
        n = store.count()
        st.divider()
        st.caption(f"{n} votes in `{store.path}`")
        if n:
            d1, d2, _ = st.columns([1, 1, 3])
            d1.download_button("Export CSV", store.to_csv(), "votes.csv", "text/csv", key="export_csv")
            d2.download_button("Export JSONL", store.to_jsonl(), "votes.jsonl", "application/jsonl",
                               key="export_jsonl")
    except UserError as e:
        st.error(str(e))
