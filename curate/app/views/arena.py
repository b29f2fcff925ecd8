"""Arena: two variants shown in random order as A and B; their names appear only after the vote. Both
answers stream at once (one batched generation). Follow-up turns go to both models before the vote.
Votes go to ``RUN/votes.sqlite`` with the prompt, both answers and how each ended, the earlier turns and
the settings; one vote per battle and browser session (per voter in shared mode, ``--voters``).

Pairs are drawn where a vote teaches most (``ratings.pick_pair``: few votes, overlapping intervals), or
uniformly when the user picks that. While answers stream only the battle redraws (a fragment on a
timer); any action that starts a generation reruns the whole page, so the timer starts and the
"Ask" button is disabled until the answers are in.
"""

from __future__ import annotations

import random
import uuid

import streamlit as st

from curate.app import conversation, state
from curate.app.background import Job
from curate.app.ratings import pick_pair
from curate.app.votes import RATE_LIMIT, VoteStore, set_aside
from curate.errors import UserError
from curate.rundir import RunDir
from curate.train.generate import Answer, Variant

JOB = "arena_job"  # session key of the battle's background generation
OUTCOMES = {"a": ("A is better", "a"), "b": ("B is better", "b"), "tie": ("Tie", "t"),
            "both_bad": ("Both are bad", "x")}
PAIRING = {"adaptive": "where a vote tells most (few votes, close results)", "uniform": "uniformly at random"}


def _battle() -> dict:
    return st.session_state.setdefault("arena", {})


def _settings() -> dict:
    return {**state.settings(), "max_new_tokens": int(st.session_state.arena_max_new_tokens)}


def _new_pair(variants: list[Variant], store: VoteStore) -> tuple[str, str]:
    mode = st.session_state.get("arena_pairing", "adaptive")
    try:
        votes = store.all() if mode == "adaptive" else []
    except UserError:
        votes = []  # the page says the store is broken below; pairing falls back to uniform
    return pick_pair([v.name for v in variants], votes, random.Random(), mode)


def _ask(variants: list[Variant], store: VoteStore, prompt: str) -> None:
    """Send ``prompt`` to both models of the battle (a new battle when none is open)."""
    battle = _battle()
    if not battle or battle.get("voted"):
        a, b = _new_pair(variants, store)
        battle.clear()
        battle.update(id=uuid.uuid4().hex[:12], a=a, b=b, turns=[], voted=None,
                      settings={**_settings(), "pairing": st.session_state.get("arena_pairing", "adaptive")})
    requests, answers = [], []
    for side in "ab":
        history: list[dict] = []
        for t in battle["turns"]:
            history += [{"role": "user", "content": t["prompt"]}, conversation.assistant(t[side])]
        history.append({"role": "user", "content": prompt})
        requests.append((battle[side], conversation.model_messages(history)))
        answers.append(Answer(battle[side]))
    battle["turns"].append({"prompt": prompt, "a": answers[0], "b": answers[1]})
    generation = {k: v for k, v in battle["settings"].items() if k != "pairing"}
    st.session_state[JOB] = Job(state.generator(variants), requests, generation, answers)


def _next_battle(variants: list[Variant], store: VoteStore) -> None:
    _battle().clear()
    st.session_state.arena_prompt = random.choice(state.prompts())
    _ask(variants, store, st.session_state.arena_prompt)


def _vote(store: VoteStore, outcome: str, voter: str | None) -> None:
    battle = _battle()
    turns = battle["turns"]
    last = turns[-1]
    earlier = [{"prompt": t["prompt"], "answer_a": t["a"].text, "answer_b": t["b"].text} for t in turns[:-1]]
    try:
        store.add(last["prompt"], battle["a"], battle["b"], last["a"].text, last["b"].text, outcome,
                  settings=battle["settings"], session=st.session_state.arena_session, battle=battle["id"],
                  history=earlier, finish=(last["a"].finish, last["b"].finish), voter=voter,
                  rate_limit=RATE_LIMIT if voter else None)
        battle["voted"] = outcome
    except UserError as e:  # a store that broke since the page loaded, a second vote: say so, keep the battle
        st.session_state.arena_notice = f"The vote was not saved: {e}"


def _random_prompt() -> None:
    st.session_state.arena_prompt = random.choice(state.prompts())


def _store_or_stop(run: object) -> VoteStore:
    """The vote store; a broken one stops the page before any generation (answers would be wasted)."""
    store = state.vote_store(run)
    if store is not None:
        return store
    path = RunDir(run).votes_path
    st.markdown(f"Votes cannot be saved, so the arena is paused. To fix it, move `{path}` aside yourself "
                "(and restore it from a backup if you have one), or start a fresh store here: the old file "
                "is kept beside it, renamed, not deleted.")
    if st.button("Start a fresh vote store (keep the old file)", key="arena_fresh_store", type="primary"):
        kept = set_aside(path)
        st.session_state.arena_notice = f"Started a fresh vote store. The old file is kept as `{kept}`."
        st.rerun()
    st.stop()


def _voter_or_stop() -> str | None:
    shared, voter = state.voter()
    if shared and voter is None:
        st.warning("This arena is shared: votes count only through a personal link. Open the link you were "
                   "given (it ends in `?voter=...`); the person who started the app has the list.")
        st.stop()
    if voter:
        st.caption(f"Voting as **{voter}**.")
    return voter


def _setup(variants: list[Variant], store: VoteStore) -> None:
    """Token limit, pairing, prompt and the Ask buttons (disabled while a battle streams)."""
    busy = state.busy(JOB)
    s1, s2 = st.columns([1, 1])
    s1.number_input("Max new tokens per answer", 1, 2048, key="arena_max_new_tokens", step=16,
                    help="both models get the same limit; an answer that hits it is marked cut, and the "
                         "leaderboard can leave votes on cut answers out")
    s2.radio("Pick the two models", list(PAIRING), key="arena_pairing", format_func=PAIRING.get,
             help="'where a vote tells most' favours pairs with few votes and close results, as Chatbot "
                  "Arena does, so the leaderboard's intervals narrow sooner")
    cfg = _settings()
    st.caption(f"Battle settings: temperature {cfg['temperature']}, min_p {cfg['min_p']}, "
               f"seed {cfg['seed'] or 'random'} (change them under Generation settings in the sidebar); "
               f"at most {cfg['max_new_tokens']} new tokens per answer.")
    st.text_area("Prompt", key="arena_prompt", height=100, placeholder="Ask something, or pick a prompt")
    with st.container(horizontal=True):
        st.button("Random eval prompt", on_click=_random_prompt, key="arena_random")
        ask = st.button("Ask two models", type="primary", key="arena_ask", disabled=busy,
                        help="starts a new battle; disabled while the answers stream")
    if not ask:
        return
    prompt = st.session_state.get("arena_prompt", "")
    if not prompt.strip():
        st.error("The prompt is empty: type a question or pick a random eval prompt.")
        st.stop()
    _battle().clear()
    _ask(variants, store, prompt.strip())
    st.rerun()  # the whole page again: the battle's timer starts and Ask shows disabled


def _side(a: Answer) -> None:
    if a.error:
        st.error(a.error)
    st.markdown(a.text or ("..." if not a.done else f"_{conversation.no_text({'answer': a})}_"))
    note = " · ".join(x for x in (conversation.stats(a), conversation.ending({"answer": a})) if x)
    if note:
        st.caption(note)


def _turns() -> None:
    """The battle's turns, A left and B right: a fragment that redraws on a timer while they stream."""
    battle = _battle()
    for n, turn in enumerate(battle.get("turns", [])):
        if n or len(battle["turns"]) > 1:
            st.markdown(f"**Turn {n + 1}:** {turn['prompt']}")
        for side, col in zip("ab", st.columns(2), strict=True):
            with col:
                if n == 0:
                    st.subheader(f"Model {side.upper()}")
                _side(turn[side])
    if state.busy(JOB):
        st.session_state.arena_was_busy = True
    elif st.session_state.pop("arena_was_busy", False):
        st.rerun()  # both answers are in: redraw the whole page (vote buttons, Ask enabled)


def _votes(variants: list[Variant], store: VoteStore, voter: str | None) -> None:
    battle = _battle()
    if battle["voted"]:
        label = OUTCOMES[battle["voted"]][0]
        st.success(f"Vote saved: {label}. Model A was **{battle['a']}**, Model B was **{battle['b']}**.")
        st.button("Next battle (new prompt, new models)", key="arena_next", type="primary", shortcut="n",
                  on_click=_next_battle, args=(variants, store))
        return
    st.caption(f"Prompt: {battle['turns'][0]['prompt']} · vote with the keys A, B, T (tie), X (both bad)")
    for (outcome, (label, key)), col in zip(OUTCOMES.items(), st.columns(4), strict=True):
        col.button(label, key=f"vote_{outcome}", width="stretch", shortcut=key, on_click=_vote,
                   args=(store, outcome, voter))


def _follow_up(variants: list[Variant], store: VoteStore) -> None:
    follow = st.chat_input("Ask both models a follow-up before you vote...", key="arena_follow")
    if follow is not None and follow.strip():
        _ask(variants, store, follow.strip())
        st.rerun()


def _footer(store: VoteStore) -> None:
    try:
        n = store.count()
    except UserError as e:
        st.error(str(e))
        st.stop()
    st.divider()
    st.caption(f"{n} vote{'s' if n != 1 else ''} in `{store.path}`")
    if n:
        with st.container(horizontal=True):
            st.download_button("Export CSV", store.to_csv(), "votes.csv", "text/csv", key="export_csv")
            st.download_button("Export JSONL", store.to_jsonl(), "votes.jsonl", "application/jsonl",
                               key="export_jsonl")


def page() -> None:
    """The Arena page, top to bottom."""
    st.title("Blind arena")
    run = state.require_run()
    variants = state.variants(run)
    if len(variants) < 2:
        st.error(f"The arena needs at least two variants, but `{RunDir(run).models_dir}` has no trained "
                 "adapters. Train some with `curate train` first.")
        st.stop()
    store = _store_or_stop(run)
    voter = _voter_or_stop()
    if "arena_notice" in st.session_state:
        st.info(st.session_state.pop("arena_notice"))
    st.session_state.setdefault("arena_session", uuid.uuid4().hex[:12])
    st.session_state.setdefault("arena_max_new_tokens", state.ARENA_MAX_NEW_TOKENS)
    st.session_state.setdefault("arena_pairing", "adaptive")
    _setup(variants, store)
    busy = state.busy(JOB)
    if _battle():
        st.fragment(_turns, run_every=state.STREAM_REFRESH_S if busy else None)()
        if not busy:
            _votes(variants, store, voter)
        if not busy and not _battle()["voted"]:
            _follow_up(variants, store)
    _footer(store)


page()
