"""Compare: the same prompt to two or more variants, answers streamed side by side, one chat per
column so follow-up questions go to each model with its own earlier answers."""

from __future__ import annotations

import streamlit as st

from app import state
from curate.errors import UserError

st.title("Compare variants")
run = state.require_run()
variants = state.variants(run)
labels = {v.name: v.label for v in variants}
if len(variants) < 2:
    st.error(f"No trained models in `{run / 'models'}`: train some with `curate train` first. "
             "Only the base model is available.")

chosen = st.multiselect("Variants", list(labels), default=list(labels)[:2], format_func=labels.get,
                        key="compare_variants")
picked = st.selectbox("Prompt from the evaluation set (or type below)", ["", *state.prompts()],
                      key="compare_pick", format_func=lambda p: p or "— type your own —")
chats: dict[str, list[dict]] = st.session_state.setdefault("compare_chats", {})

c1, c2 = st.columns([1, 5])
send_picked = c1.button("Send picked prompt", disabled=not picked, key="compare_send")
if c2.button("New chat", key="compare_clear"):
    chats.clear()
typed = st.chat_input("Ask all selected variants...", key="compare_input")
prompt = typed if typed is not None else (picked if send_picked else None)

if not chosen:
    st.info("Pick at least one variant (two or more to compare).")
    st.stop()
if prompt is not None and not prompt.strip():
    st.error("The prompt is empty: type a question first.")
    prompt = None

gen = state.generator(variants) if (prompt or any(chats.get(n) for n in chosen)) else None
cfg = state.settings()
for name, col in zip(chosen, st.columns(len(chosen)), strict=True):
    history = chats.setdefault(name, [])
    with col:
        st.subheader(name)
        st.caption(labels[name])
        for m in history:
            with st.chat_message(m["role"]):
                st.markdown(m["content"])
                if m.get("stats"):
                    st.caption(m["stats"])
        if prompt is None:
            continue
        with st.chat_message("user"):
            st.markdown(prompt)
        messages = [{"role": m["role"], "content": m["content"]} for m in history]
        messages.append({"role": "user", "content": prompt})
        with st.chat_message("assistant"):
            try:
                answer = st.write_stream(gen.stream(name, messages, **cfg))
            except UserError as e:
                st.error(str(e))
                continue
            s = gen.last_stats
            caption = f"{s.tokens} tokens in {s.seconds:.1f} s ({s.tokens_per_s:.1f} tok/s)" if s else ""
            st.caption(caption)
        history += [{"role": "user", "content": prompt},
                    {"role": "assistant", "content": str(answer), "stats": caption}]
