"""Leaderboard: human votes (win rates with bootstrap CIs, Bradley-Terry ratings) next to the
automatic evaluation's win rates from ``RUN/eval/winrates.json``."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import streamlit as st  # noqa: E402

from app import state  # noqa: E402
from app.ratings import bradley_terry, win_rates  # noqa: E402
from curate.errors import UserError  # noqa: E402
from curate.rundir import RunDir  # noqa: E402


def _errorbar(df: pd.DataFrame, value: str, title: str, label: str = "variant", ref: float | None = 0.5):
    fig, ax = plt.subplots(figsize=(5, 0.45 * len(df) + 1.2))
    d = df.iloc[::-1]
    ax.errorbar(d[value], d[label], xerr=[d[value] - d["ci_low"], d["ci_high"] - d[value]], fmt="o",
                capsize=4, color="#1f77b4")
    if ref is not None:
        ax.axvline(ref, color="grey", lw=0.8, ls="--")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


st.title("Leaderboard")
run = state.require_run()
store = state.vote_store(run)
votes = []
if store is not None:
    try:
        votes = store.all()
    except UserError as e:
        st.error(str(e))

human, auto = st.columns(2)
with human:
    st.subheader("Human votes (arena)")
    if not votes:
        st.info("No votes yet: vote in the Arena to fill this table.")
    else:
        st.caption(f"{len(votes)} votes; a tie or 'both bad' counts half a win for each side; 95% bootstrap CIs.")
        wr = win_rates(votes)
        st.dataframe(wr, hide_index=True, key="human_winrates",
                     column_config={c: st.column_config.NumberColumn(format="%.2f")
                                    for c in ("win_rate", "ci_low", "ci_high")})
        st.pyplot(_errorbar(wr, "win_rate", "Win rate (human votes)"), clear_figure=True)
        bt = bradley_terry(votes, n_boot=100)
        st.markdown("**Bradley-Terry ratings** (Elo scale, 1000 = average)")
        st.dataframe(bt.round(1), hide_index=True, key="human_bt")
        st.pyplot(_errorbar(bt, "rating", "Bradley-Terry rating", ref=1000.0), clear_figure=True)

with auto:
    st.subheader("Automatic evaluation")
    data = state.read_json(RunDir(run).eval_dir / "winrates.json")
    if isinstance(data, dict):  # tolerate {"winrates": [...]} as well as a bare list
        data = data.get("winrates") or data.get("rows")
    if not data:
        st.info(f"No automatic win rates yet (`{run / 'eval' / 'winrates.json'}`): run `curate evaluate`.")
    else:
        df = pd.DataFrame(data)
        st.dataframe(df, hide_index=True, key="auto_winrates")
        if {"variant", "opponent", "win_rate", "ci_low", "ci_high"} <= set(df.columns):
            d = df.assign(pair=df["variant"].astype(str) + " vs " + df["opponent"].astype(str)
                          + (" (" + df["judge"].astype(str) + ")" if "judge" in df else ""))
            st.pyplot(_errorbar(d, "win_rate", "Win rate (automatic judge)", label="pair"), clear_figure=True)

if votes and data:
    st.subheader("Side by side")
    h = win_rates(votes, n_boot=200)[["variant", "win_rate", "n"]].rename(
        columns={"win_rate": "human win rate", "n": "votes"})
    a = pd.DataFrame(data)
    if {"variant", "win_rate"} <= set(a.columns):
        a = a.groupby("variant", as_index=False)["win_rate"].mean().rename(columns={"win_rate": "auto win rate"})
        st.dataframe(h.merge(a, on="variant", how="outer"), hide_index=True, key="side_by_side")
