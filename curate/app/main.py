"""Entry point: ``streamlit run curate/app/main.py -- RUN_DIR [--model BASE]`` (or ``curate app RUN_DIR``).

Four pages over one run directory: Compare (answers side by side), Arena (blind A/B votes),
Leaderboard (human and automatic win rates), Explorer (the data and why rows were kept or removed).
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from curate.app import state

st.set_page_config(page_title="curate", page_icon=state.PAGE_ICON, layout="wide")

_HERE = Path(__file__).resolve().parent
pages = [
    st.Page(_HERE / "views" / "compare.py", title="Compare", icon=":material/view_column:", default=True),
    st.Page(_HERE / "views" / "arena.py", title="Arena", icon=":material/how_to_vote:"),
    st.Page(_HERE / "views" / "leaderboard.py", title="Leaderboard", icon=":material/leaderboard:"),
    st.Page(_HERE / "views" / "explorer.py", title="Explorer", icon=":material/table_view:"),
]
nav = st.navigation(pages)
run = state.run_dir()
st.sidebar.caption(f"Run: `{run}`" if run else "No run directory")
state.settings_sidebar()
nav.run()
