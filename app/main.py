"""Entry point: ``streamlit run app/main.py -- RUN_DIR [--model BASE]`` (or ``curate app RUN_DIR``).

Four pages over one run directory: Compare (answers side by side), Arena (blind A/B votes),
Leaderboard (human and automatic win rates), Explorer (the data and why rows were kept or removed).
"""

from __future__ import annotations

import sys
from pathlib import Path

_ROOT = Path(__file__).resolve().parent.parent
if str(_ROOT) not in sys.path:  # `streamlit run app/main.py` puts app/ on the path, not the repo root
    sys.path.insert(0, str(_ROOT))

import streamlit as st  # noqa: E402

from app import state  # noqa: E402

st.set_page_config(page_title="curate", page_icon=":material/compare:", layout="wide")

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
