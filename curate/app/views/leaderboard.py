"""Leaderboard: human votes (win rates with bootstrap CIs, Bradley-Terry ratings, who beat whom) next
to the automatic evaluation of ``RUN/eval/`` (win rates per opponent, judge, held-out loss)."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import streamlit as st  # noqa: E402

from curate.app import state  # noqa: E402
from curate.app.ratings import bradley_terry, pairwise_matrix, win_rates  # noqa: E402
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


def _num(v, digits: int = 2) -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{digits}f}"


def _range(lo, hi, digits: int = 2) -> str:
    return "–" if _num(lo) == "–" or _num(hi) == "–" else f"{lo:.{digits}f} – {hi:.{digits}f}"


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def _errorbar(df: pd.DataFrame, value: str, title: str, label: str = "variant", ref: float | None = 0.5):
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(df) + 1.2))
    d = df.iloc[::-1]
    ax.errorbar(d[value], d[label], xerr=[d[value] - d["ci_low"], d["ci_high"] - d[value]], fmt="o",
                capsize=4, color="#1f77b4")
    if ref is not None:
        ax.axvline(ref, color="grey", lw=0.8, ls="--")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def _human(votes: list[dict]) -> None:
    st.caption(f"{_plural(len(votes), 'vote')}; a tie or 'both bad' counts half a win for each side; "
               "ranges are 95% bootstrap intervals.")
    wr = win_rates(votes)
    st.dataframe(pd.DataFrame({
        "variant": wr["variant"], "votes": wr["n"], "wins": wr["wins"], "losses": wr["losses"], "ties": wr["ties"],
        "win rate": wr["win_rate"].map(_num), "95% CI": [_range(lo, hi) for lo, hi in zip(wr["ci_low"], wr["ci_high"],
                                                                                         strict=True)],
    }), hide_index=True, key="human_winrates", width="stretch")
    st.pyplot(_errorbar(wr, "win_rate", "Win rate (human votes)"), clear_figure=True)
    bt = bradley_terry(votes, n_boot=100)
    st.markdown("**Bradley-Terry ratings** (Elo scale, 1000 = average)")
    st.dataframe(pd.DataFrame({
        "variant": bt["variant"], "rating": bt["rating"].map(lambda v: _num(v, 0)),
        "95% CI": [_range(lo, hi, 0) for lo, hi in zip(bt["ci_low"], bt["ci_high"], strict=True)], "votes": bt["n"],
    }), hide_index=True, key="human_bt", width="stretch")
    share, count = pairwise_matrix(votes)
    st.markdown("**Who beat whom**: the row variant's win share against the column variant (votes in brackets)")
    cells = share.map(_num).astype(str) + " (" + count.astype(str) + ")"
    st.dataframe(cells.where(count > 0, "–"), key="human_matrix", width="stretch")


def _judge_text(judge: str) -> str:
    kind = judge.partition(":")[0]
    return f"`{judge}`: {JUDGES[kind]}." if kind in JUDGES else f"`{judge}`."


def _auto(data: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame(data)
    judges = sorted(df["judge"].astype(str).unique()) if "judge" in df else []
    st.markdown("Judge " + "; ".join(_judge_text(j) for j in judges) if judges else "Judge: not recorded.")
    st.caption(CAVEAT)
    for opponent, part in df.groupby(df.get("opponent", pd.Series(["?"] * len(df))), sort=False):
        st.markdown(f"**Against `{opponent}`**")
        table = pd.DataFrame({"variant": part["variant"], "prompts": part.get("n"),
                              "win rate": part["win_rate"].map(_num)})
        if {"ci_low", "ci_high"} <= set(part.columns):
            table["95% CI"] = [_range(lo, hi) for lo, hi in zip(part["ci_low"], part["ci_high"], strict=True)]
        if "lc_win_rate" in part:
            table["length-controlled"] = part["lc_win_rate"].map(_num)
        if "mean_tokens" in part:
            table["mean answer tokens"] = part["mean_tokens"].map(lambda v: _num(v, 0))
        st.dataframe(table, hide_index=True, key=f"auto_{opponent}", width="stretch")
    if {"variant", "opponent", "win_rate", "ci_low", "ci_high"} <= set(df.columns):
        d = df.assign(pair=df["variant"].astype(str) + " vs " + df["opponent"].astype(str))
        st.pyplot(_errorbar(d, "win_rate", "Win rate (automatic judge)", label="pair"), clear_figure=True)
    return df


def _heldout(run: RunDir) -> None:
    held = state.read_json(run.eval_dir / "heldout.json")
    st.subheader("Held-out loss")
    if not isinstance(held, dict) or not held.get("losses"):
        why = held.get("skipped") if isinstance(held, dict) else None
        st.info(f"No held-out loss{f' ({why})' if why else ''}: `curate evaluate` writes it to "
                f"`{run.eval_dir / 'heldout.json'}`.")
        return
    st.caption(f"Mean loss on the assistant tokens of {_plural(int(held.get('rows', 0)), 'conversation')} that no "
               "subset trained on; lower is better.")
    loss = pd.DataFrame(held["losses"])
    loss["loss"] = loss["loss"].map(_num)
    if "perplexity" in loss:
        loss["perplexity"] = loss["perplexity"].map(_num)
    st.dataframe(loss, hide_index=True, key="heldout", width="stretch")


st.title("Leaderboard")
run = state.require_run()
store = state.vote_store(run)
votes: list[dict] = []
store_ok = store is not None
if store is not None:
    try:
        votes = store.all()
    except UserError as e:
        st.error(str(e))
        store_ok = False

st.subheader("Human votes (arena)")
if not store_ok:
    st.warning("The votes cannot be read (see above); open the Arena to start a fresh store that keeps the old file.")
elif not votes:
    st.info("No votes yet: vote in the Arena to fill this table.")
else:
    _human(votes)

st.subheader("Automatic evaluation")
data = state.read_json(RunDir(run).eval_dir / "winrates.json")
if isinstance(data, dict):  # tolerate {"winrates": [...]} as well as a bare list
    data = data.get("winrates") or data.get("rows")
auto = None
if not data:
    st.info(f"No automatic win rates yet (`{RunDir(run).eval_dir / 'winrates.json'}`): run `curate evaluate`.")
else:
    auto = _auto(data)
    results = RunDir(run).eval_dir / "results.md"
    if results.exists():
        with st.expander("The evaluation's own report (results.md)"):
            st.markdown(results.read_text(encoding="utf-8"))
_heldout(RunDir(run))

if votes and auto is not None and {"variant", "win_rate", "opponent"} <= set(auto.columns):
    st.subheader("Side by side")
    side = win_rates(votes, n_boot=200)[["variant", "win_rate", "n"]]
    side = side.assign(win_rate=side["win_rate"].map(_num)).rename(columns={"win_rate": "human win rate",
                                                                            "n": "votes"})
    for opponent, part in auto.groupby("opponent", sort=False):  # one column per opponent: never averaged
        col = f"auto win rate vs {opponent}"
        side = side.merge(part[["variant", "win_rate"]].assign(win_rate=part["win_rate"].map(_num))
                          .rename(columns={"win_rate": col}), on="variant", how="outer")
    st.dataframe(side.astype(object).where(side.notna(), "–"), hide_index=True, key="side_by_side", width="stretch")
