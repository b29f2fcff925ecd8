"""Arena: two variants drawn at random, shown in random order as A and B; their names appear only
after the vote. Both answers stream at once (one batched generation). Follow-up turns go to both
models before the vote. Votes go to ``RUN/votes.sqlite`` with the prompt, both answers, the earlier
turns and the settings; one vote per battle and browser session."""

from __future__ import annotations

import random
import uuid

import streamlit as st

from curate.app import conversation, state
from curate.app.background import Job
from curate.app.votes import set_aside
from curate.errors import UserError
from curate.rundir import RunDir
from curate.train.generate import Answer

OUTCOMES = {"a": ("A is better", "a"), "b": ("B is better", "b"), "tie": ("Tie", "t"),
            "both_bad": ("Both are bad", "x")}

st.title("Blind arena")
run = state.require_run()
variants = state.variants(run)
if len(variants) < 2:
    st.error(f"The arena needs at least two variants, but `{RunDir(run).models_dir}` has no trained adapters. "
             "Train some with `curate train` first.")
    st.stop()
store = state.vote_store(run)
if store is None:  # refuse before any generation: answers without a place to keep the vote are wasted
    path = RunDir(run).votes_path
    st.markdown(f"Votes cannot be saved, so the arena is paused. To fix it, move `{path}` aside yourself "
                "(and restore it from a backup if you have one), or start a fresh store here: the old file "
                "is kept beside it, renamed, not deleted.")
    if st.button("Start a fresh vote store (keep the old file)", key="arena_fresh_store", type="primary"):
        kept = set_aside(path)
        st.session_state.arena_notice = f"Started a fresh vote store. The old file is kept as `{kept}`."
        st.rerun()
    st.stop()
if "arena_notice" in st.session_state:
    st.info(st.session_state.pop("arena_notice"))

session = st.session_state.setdefault("arena_session", uuid.uuid4().hex[:12])
st.session_state.setdefault("arena_max_new_tokens", state.ARENA_MAX_NEW_TOKENS)
battle: dict = st.session_state.setdefault("arena", {})


def _settings() -> dict:
    return {**state.settings(), "max_new_tokens": int(st.session_state.arena_max_new_tokens)}


def _job() -> Job | None:
    return st.session_state.get("arena_job")


def _ask(prompt: str) -> None:
    """Send ``prompt`` to both models of the battle (a new battle when none is open)."""
    if not battle or battle.get("voted"):
        a, b = random.sample([v.name for v in variants], 2)
        battle.clear()
        battle.update(id=uuid.uuid4().hex[:12], a=a, b=b, turns=[], settings=_settings(), voted=None)
    turns = battle["turns"]
    requests, answers = [], []
    for side in "ab":
        history: list[dict] = []
        for t in turns:
            history += [{"role": "user", "content": t["prompt"]}, conversation.assistant(t[side])]
        history.append({"role": "user", "content": prompt})
        requests.append((battle[side], conversation.model_messages(history)))
        answers.append(Answer(battle[side]))
    turns.append({"prompt": prompt, "a": answers[0], "b": answers[1]})
    st.session_state.arena_job = Job(state.generator(variants), requests, battle["settings"], answers)


def _next_battle() -> None:
    battle.clear()
    st.session_state.arena_prompt = random.choice(state.prompts())
    _ask(st.session_state.arena_prompt)


def _vote(outcome: str) -> None:
    turns = battle["turns"]
    last = turns[-1]
    earlier = [{"prompt": t["prompt"], "answer_a": t["a"].text, "answer_b": t["b"].text} for t in turns[:-1]]
    try:
        store.add(last["prompt"], battle["a"], battle["b"], last["a"].text, last["b"].text, outcome,
                  settings=battle["settings"], session=session, battle=battle["id"], history=earlier)
        battle["voted"] = outcome
    except UserError as e:  # a store that broke since the page loaded, a second vote: say so, keep the battle
        st.session_state.arena_notice = f"The vote was not saved: {e}"


def _random_prompt() -> None:
    st.session_state.arena_prompt = random.choice(state.prompts())


job = _job()
busy = job is not None and job.running
s1, s2 = st.columns([1, 3])
s1.number_input("Max new tokens per answer", 1, 2048, key="arena_max_new_tokens", step=16,
                help="shorter answers make a quicker battle; both models get the same limit")
cfg = _settings()
s2.caption(f"Battle settings: temperature {cfg['temperature']}, min_p {cfg['min_p']}, "
           f"seed {cfg['seed'] or 'random'} (change them under Generation settings in the sidebar); "
           f"at most {cfg['max_new_tokens']} new tokens per answer.")
st.text_area("Prompt", key="arena_prompt", height=100, placeholder="Ask something, or pick a prompt")
c1, c2, _ = st.columns([1, 1, 3])
c1.button("Random eval prompt", on_click=_random_prompt, key="arena_random")
ask = c2.button("Ask two random models", type="primary", key="arena_ask", disabled=busy)
if ask:
    prompt = st.session_state.get("arena_prompt", "")
    if not prompt.strip():
        st.error("The prompt is empty: type a question or pick a random eval prompt.")
        st.stop()
    battle.clear()
    _ask(prompt.strip())


def _turns() -> None:
    for n, turn in enumerate(battle.get("turns", [])):
        if n or len(battle["turns"]) > 1:
            st.markdown(f"**Turn {n + 1}:** {turn['prompt']}")
        cols = st.columns(2)
        for side, col in zip("ab", cols, strict=True):
            a: Answer = turn[side]
            with col:
                if n == 0:
                    st.subheader(f"Model {side.upper()}")
                if a.error:
                    st.error(a.error)
                st.markdown(a.text or "...")
                note = conversation.ending({"answer": a})
                if note:
                    st.caption(note)


def _votes() -> None:
    if battle["voted"]:
        label = OUTCOMES[battle["voted"]][0]
        st.success(f"Vote saved: {label}. Model A was **{battle['a']}**, Model B was **{battle['b']}**.")
        st.button("Next battle (new prompt, new models)", key="arena_next", type="primary", shortcut="n",
                  on_click=_next_battle)
        return
    st.caption(f"Prompt: {battle['turns'][0]['prompt']} · vote with the keys A, B, T (tie), X (both bad)")
    for (outcome, (label, key)), col in zip(OUTCOMES.items(), st.columns(4), strict=True):
        col.button(label, key=f"vote_{outcome}", width="stretch", shortcut=key, on_click=_vote, args=(outcome,))


def _battle() -> None:
    job = _job()
    busy = job is not None and job.running
    _turns()
    if busy:
        st.session_state.arena_was_busy = True
    elif st.session_state.pop("arena_was_busy", False):
        st.rerun()


job = _job()  # again: "Ask" may have just started one
busy = job is not None and job.running
if battle:
    st.fragment(_battle, run_every=0.4 if busy else None)()
    if not busy:
        _votes()
    if not busy and not battle["voted"]:
        follow = st.chat_input("Ask both models a follow-up before you vote...", key="arena_follow")
        if follow is not None and follow.strip():
            _ask(follow.strip())
            st.rerun()

try:
    n = store.count()
except UserError as e:
    st.error(str(e))
    st.stop()
st.divider()
st.caption(f"{n} vote{'s' if n != 1 else ''} in `{store.path}`")
if n:
    d1, d2, _ = st.columns([1, 1, 3])
    d1.download_button("Export CSV", store.to_csv(), "votes.csv", "text/csv", key="export_csv")
    d2.download_button("Export JSONL", store.to_jsonl(), "votes.jsonl", "application/jsonl", key="export_jsonl")
