"""Leaderboard: human votes (win rates with bootstrap CIs, Bradley-Terry ratings, who beat whom) next
to the automatic evaluation of ``RUN/eval/`` (win rates per opponent, judge, held-out loss).

Every number says how much it rests on: the vote or prompt count sits next to each rate, a rate from
fewer than ``ratings.PROVISIONAL_VOTES`` votes is marked provisional, pairs that never met are named
(their order is inferred through other variants), and an interval of zero width is explained rather
than drawn as certainty.
"""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import streamlit as st  # noqa: E402

from curate.app import state  # noqa: E402
from curate.app.ratings import (  # noqa: E402
    PROVISIONAL_VOTES,
    bradley_terry,
    never_met,
    pairwise_matrix,
    voter_agreement,
    win_rates,
)
from curate.errors import UserError  # noqa: E402
from curate.rundir import RunDir  # noqa: E402

JUDGES = {
    "lm": "a language model is shown the question and both answers and asked which is better; the preference "
          "is its probability of answering 'A' rather than 'B'",
    "reward": "a reward model scores each answer on its own; the preference is the sigmoid of the score "
              "difference",
}
CAVEAT = ("Each pair is judged in both answer orders (position bias cancels) and ties count half; the interval "
          "is a 95% bootstrap over prompts. A small judge on a few prompts after a few training steps gives "
          "smoke-scale numbers: read the width of the interval before the point estimate, and prefer the "
          "human votes where they disagree.")
# Markdown tables (results.md) wider than their container scroll instead of being clipped.
_SCROLL_TABLES = "<style>[data-testid=stMarkdownContainer] table {display: block; overflow-x: auto;}</style>"


def _num(v: object, digits: int = 2) -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{digits}f}"


def _range(lo: object, hi: object, digits: int = 2) -> str:
    return "–" if _num(lo) == "–" or _num(hi) == "–" else f"{lo:.{digits}f} – {hi:.{digits}f}"


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def _errorbar(df: pd.DataFrame, value: str, title: str, label: str = "variant", n: str = "n",
              ref: float | None = 0.5) -> plt.Figure:
    """Points with their intervals on the whole 0-1 scale, each labelled with its count; a point from
    fewer than ``PROVISIONAL_VOTES`` is drawn hollow and grey (provisional)."""
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(df) + 1.2))
    d = df.iloc[::-1].reset_index(drop=True)
    for i, r in d.iterrows():
        weak = int(r[n]) < PROVISIONAL_VOTES
        ax.errorbar(r[value], i, xerr=[[r[value] - r["ci_low"]], [r["ci_high"] - r[value]]], fmt="o",
                    capsize=4, color="#999999" if weak else "#1f77b4", mfc="white" if weak else None)
    ax.set_yticks(range(len(d)), [f"{r[label]}\nn={int(r[n])}{', provisional' if int(r[n]) < PROVISIONAL_VOTES else ''}"
                                  for _, r in d.iterrows()], fontsize=8)
    ax.set_xlim(0, 1)
    if ref is not None:
        ax.axvline(ref, color="grey", lw=0.8, ls="--")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def _with_n(rate: object, n: int) -> str:
    return f"{_num(rate)} (n={n})"


def _cut(v: dict) -> bool:
    return "length" in (v.get("finish_a"), v.get("finish_b"))


def _filter_cut(votes: list[dict]) -> list[dict]:
    """The votes to count: all, or (the user's choice) those where neither answer was cut at the limit."""
    cut = sum(_cut(v) for v in votes)
    unknown = sum(v.get("finish_a") is None for v in votes)
    note = f"{_plural(cut, 'vote')} had an answer cut at the token limit"
    if unknown:
        note += f"; {_plural(unknown, 'older vote')} did not record how the answers ended and always count"
    exclude = st.toggle("Leave out votes on cut answers", key="board_exclude_cut", disabled=not cut,
                        help="a cut answer is judged on where the cut fell, not on what the model would say")
    st.caption(note + ".")
    return [v for v in votes if not _cut(v)] if exclude else votes


def _human_rates(votes: list[dict]) -> None:
    wr = win_rates(votes)
    provisional = (wr["n"] < PROVISIONAL_VOTES).tolist()
    st.dataframe(pd.DataFrame({
        "variant": wr["variant"], "win rate": [_with_n(r, n) for r, n in zip(wr["win_rate"], wr["n"], strict=True)],
        "95% CI": [_range(lo, hi) for lo, hi in zip(wr["ci_low"], wr["ci_high"], strict=True)],
        "wins": wr["wins"], "losses": wr["losses"], "ties": wr["ties"],
        "status": ["provisional" if p else "" for p in provisional],
    }), hide_index=True, key="human_winrates", width="stretch")
    if any(provisional):
        st.caption(f"**Provisional**: fewer than {PROVISIONAL_VOTES} votes. A win rate's 95% interval is about "
                   f"±0.98/√n wide near 0.5, so it takes about {PROVISIONAL_VOTES} votes to tell 0.5 from "
                   "0.65; below that, read the interval, not the point.")
    st.pyplot(_errorbar(wr, "win_rate", "Win rate (human votes)"), clear_figure=True)


def _human_ratings(votes: list[dict]) -> None:
    bt = bradley_terry(votes, n_boot=100)
    st.markdown("**Bradley-Terry ratings** (Elo scale, 1000 = average)")
    st.dataframe(pd.DataFrame({
        "variant": bt["variant"], "rating": bt["rating"].map(lambda v: _num(v, 0)),
        "95% CI": [_range(lo, hi, 0) for lo, hi in zip(bt["ci_low"], bt["ci_high"], strict=True)], "votes": bt["n"],
        "status": ["provisional" if n < PROVISIONAL_VOTES else "" for n in bt["n"]],
    }), hide_index=True, key="human_bt", width="stretch")
    apart = never_met(votes, list(bt["variant"]))
    if apart:
        pairs = ", ".join(f"`{a}` and `{b}`" for a, b in apart)
        st.warning(f"Never compared directly: {pairs}. Their order in these ratings is inferred only through "
                   "their results against other variants (and a prior that pulls ratings toward 1000); vote "
                   "on them in the Arena, which draws such pairs first.")
    share, count = pairwise_matrix(votes)
    st.markdown("**Who beat whom**: the row variant's win share against the column variant (votes in brackets)")
    cells = share.map(_num).astype(str) + " (" + count.astype(str) + ")"
    cells = cells.where(count > 0, "never met")
    for name in cells.index:  # a variant against itself is not a pairing
        cells.loc[name, name] = "–"
    st.dataframe(cells, key="human_matrix", width="stretch")


def _voters(votes: list[dict]) -> None:
    agree = voter_agreement(votes)
    if agree.empty:
        return
    st.markdown("**Voters** (shared arena): how often each voter's decisive votes agree with the others' "
                "majority on the same pair")
    agree = agree.assign(agreement=[f"{_num(a)} (n={c})" for a, c in zip(agree["agreement"], agree["compared"],
                                                                          strict=True)])
    st.dataframe(agree.drop(columns="compared"), hide_index=True, key="human_voters", width="stretch")


def _human(votes: list[dict]) -> None:
    st.caption(f"{_plural(len(votes), 'vote')}; a tie or 'both bad' counts half a win for each side; "
               "ranges are 95% bootstrap intervals; n is the number of votes behind each rate.")
    votes = _filter_cut(votes)
    if not votes:
        st.info("No votes left once cut answers are left out.")
        return
    _human_rates(votes)
    _human_ratings(votes)
    _voters(votes)


def _judge_text(judge: str) -> str:
    kind = judge.partition(":")[0]
    return f"`{judge}`: {JUDGES[kind]}." if kind in JUDGES else f"`{judge}`."


def _auto_table(part: pd.DataFrame) -> pd.DataFrame:
    n = part["n"] if "n" in part else pd.Series([None] * len(part), index=part.index)
    table = pd.DataFrame({"variant": part["variant"],
                          "win rate": [f"{_num(r)} (n={k})" for r, k in zip(part["win_rate"], n, strict=True)]})
    if {"ci_low", "ci_high"} <= set(part.columns):
        table["95% CI"] = [_range(lo, hi) for lo, hi in zip(part["ci_low"], part["ci_high"], strict=True)]
    if "lc_win_rate" in part:
        table["length-controlled"] = part["lc_win_rate"].map(_num)
    if "mean_tokens" in part:
        table["mean answer tokens"] = part["mean_tokens"].map(lambda v: _num(v, 0))
    return table


def _zero_width(df: pd.DataFrame) -> None:
    if not {"ci_low", "ci_high"} <= set(df.columns):
        return
    flat = df[(df["ci_high"] - df["ci_low"]).abs() < 1e-9]
    for r in flat.itertuples(index=False):
        ties = f", {r.ties} of them ties" if "ties" in df.columns else ""
        st.caption(f"`{r.variant}` vs `{r.opponent}`: an interval of zero width from {getattr(r, 'n', '?')} prompts"
                   f"{ties}: every prompt came out the same, so the bootstrap cannot vary. That is too few "
                   "prompts to measure, not certainty.")


def _auto(data: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame(data)
    judges = sorted(df["judge"].astype(str).unique()) if "judge" in df else []
    st.markdown("Judge " + "; ".join(_judge_text(j) for j in judges) if judges else "Judge: not recorded.")
    st.caption(CAVEAT)
    for opponent, part in df.groupby(df.get("opponent", pd.Series(["?"] * len(df))), sort=False):
        st.markdown(f"**Against `{opponent}`**")
        st.dataframe(_auto_table(part), hide_index=True, key=f"auto_{opponent}", width="stretch")
    if {"variant", "opponent", "win_rate", "ci_low", "ci_high", "n"} <= set(df.columns):
        d = df.assign(pair=df["variant"].astype(str) + " vs " + df["opponent"].astype(str))
        st.pyplot(_errorbar(d, "win_rate", "Win rate (automatic judge)", label="pair"), clear_figure=True)
        _zero_width(df)
    return df


def _heldout(run: RunDir) -> None:
    held = state.read_json(run.eval_files.heldout)
    st.subheader("Held-out loss")
    if not isinstance(held, dict) or not held.get("losses"):
        why = held.get("skipped") if isinstance(held, dict) else None
        st.info(f"No held-out loss{f' ({why})' if why else ''}: `curate evaluate` writes it to "
                f"`{run.eval_files.heldout}`.")
        return
    loss = pd.DataFrame(held["losses"])
    base = loss.loc[loss["variant"] == "base", "loss"]
    if len(base):
        loss.insert(2, "vs base", (loss["loss"] - float(base.iloc[0])).map(lambda d: f"{d:+.4f}"))
    loss["loss"] = loss["loss"].map(lambda v: _num(v, 4))
    if "perplexity" in loss:
        loss["perplexity"] = loss["perplexity"].map(lambda v: _num(v, 3))
    st.caption(f"Mean loss on the assistant tokens of {_plural(int(held.get('rows', 0)), 'conversation')} that no "
               "subset trained on; lower is better. Four decimals, and the difference to the base model: the "
               "variants often differ in the third decimal. heldout.json keeps no per-conversation losses, so "
               "no interval can be given for the difference: treat a gap of a few thousandths on a few "
               "conversations as noise.")
    st.dataframe(loss, hide_index=True, key="heldout", width="stretch")


def _side_by_side(votes: list[dict], auto: pd.DataFrame) -> None:
    st.subheader("Side by side")
    wr = win_rates(votes, n_boot=200)
    side = pd.DataFrame({"variant": wr["variant"],
                         "human win rate": [_with_n(r, n) for r, n in zip(wr["win_rate"], wr["n"], strict=True)]})
    for opponent, part in auto.groupby("opponent", sort=False):  # one column per opponent: never averaged
        n = part["n"] if "n" in part else [None] * len(part)
        col = pd.DataFrame({"variant": part["variant"], f"auto win rate vs {opponent}":
                            [f"{_num(r)} (n={k})" for r, k in zip(part["win_rate"], n, strict=True)]})
        side = side.merge(col, on="variant", how="outer")
    st.dataframe(side.astype(object).where(side.notna(), "–"), hide_index=True, key="side_by_side", width="stretch")


def _export(run: object, variants: list[str]) -> None:
    """How to take a variant out of the app: the `curate export` command line, ready to copy."""
    st.subheader("Export a variant")
    trained = [v for v in variants if v != "base"]
    if not trained:
        st.caption("No trained variant to export yet.")
        return
    pick = st.selectbox("Variant", trained, key="board_export")
    st.code(f"curate export {run} {pick} --to DIR", language="bash")
    st.caption("Writes the adapter (and what it was trained on) to DIR; replace DIR with a folder of your own.")


def _votes(run: object) -> tuple[list[dict], bool]:
    store = state.vote_store(run)
    if store is None:
        return [], False
    try:
        return store.all(), True
    except UserError as e:
        st.error(str(e))
        return [], False


def page() -> None:
    """The Leaderboard page, top to bottom."""
    st.title("Leaderboard")
    st.html(_SCROLL_TABLES)
    run = state.require_run()
    votes, store_ok = _votes(run)
    st.subheader("Human votes (arena)")
    if not store_ok:
        st.warning("The votes cannot be read (see above); open the Arena to start a fresh store that keeps the "
                   "old file.")
    elif not votes:
        st.info("No votes yet: vote in the Arena to fill this table.")
    else:
        _human(votes)
    st.subheader("Automatic evaluation")
    data = state.read_json(RunDir(run).eval_files.winrates)
    if isinstance(data, dict):  # tolerate {"winrates": [...]} as well as a bare list
        data = data.get("winrates") or data.get("rows")
    auto = None
    if not data:
        st.info(f"No automatic win rates yet (`{RunDir(run).eval_files.winrates}`): run `curate evaluate`.")
    else:
        auto = _auto(data)
        results = RunDir(run).eval_files.results
        if results.exists():
            with st.expander("The evaluation's own report (results.md)"):
                st.markdown(results.read_text(encoding="utf-8"))
    _heldout(RunDir(run))
    if votes and auto is not None and {"variant", "win_rate", "opponent"} <= set(auto.columns):
        _side_by_side(votes, auto)
    _export(run, [v.name for v in state.variants(run)])


page()
