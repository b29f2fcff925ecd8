"""Explorer: the run's counts and report, its rows with their scores, and why each row was kept
(which subsets chose it, and why) or removed (which row it duplicated, how similar)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import streamlit as st  # noqa: E402

from app import state  # noqa: E402
from app.explore import dedup_clusters, dedup_table, load_rows, removal_counts, source_mix  # noqa: E402
from curate.rundir import RunDir  # noqa: E402

st.title("Data explorer")
run = state.require_run()
run_dir = RunDir(run)

# --- counts -------------------------------------------------------------------------------------
manifest = state.read_json(run_dir.manifest_path) or {}
counts = manifest.get("counts") if isinstance(manifest, dict) else None
if counts:
    removed = removal_counts(counts)
    m = st.columns(4)
    m[0].metric("Read", f"{counts.get('read', 0):,}")
    m[1].metric("Kept", f"{counts.get('kept', 0):,}")
    m[2].metric("Removed", f"{int(removed.sum()):,}")
    m[3].metric("Quarantined", f"{counts.get('quarantined', 0):,}")
    if len(removed):
        st.markdown("**Removed, by reason**")
        st.bar_chart(removed, horizontal=True)
else:
    st.info(f"No counts: `{run_dir.manifest_path}` is missing (run `curate run RECIPE` first).")

report_dir = run_dir.report_dir
if (report_dir / "report.html").exists() or list(report_dir.glob("*.png")):
    with st.expander("Run report", expanded=False):
        pngs = sorted(report_dir.glob("*.png"))
        if (report_dir / "report.html").exists() and not pngs:
            st.iframe(report_dir / "report.html", height=700)
        for png in pngs:
            st.image(str(png), caption=png.stem)

# --- rows ---------------------------------------------------------------------------------------


@st.cache_data(show_spinner="Reading the run's rows...")
def _rows(run_str: str, stamp: tuple) -> tuple[pd.DataFrame | None, list[str]]:
    return load_rows(run_str)


def _stamp(run: RunDir) -> tuple:
    paths = [run.conversations_path, *sorted(run.dedup_dir.glob("*.parquet")),
             *sorted(run.subsets_dir.glob("*/selection.parquet")), *sorted(run.scores_dir.glob("*/*"))]
    return tuple((str(p), p.stat().st_mtime) for p in paths if p.exists())


rows, notes = _rows(str(run), _stamp(run_dir))
for note in notes:
    st.caption(note)
if rows is None:
    st.warning(f"No rows to browse: `{run_dir.conversations_path}` is missing.")
    st.stop()

st.subheader("Rows")
f1, f2, f3, f4 = st.columns([3, 2, 2, 2])
query = f1.text_input("Search text", key="explore_query", placeholder="words in the conversation")
sources = sorted(rows["source"].dropna().astype(str).unique()) if "source" in rows else []
chosen_sources = f2.multiselect("Source", sources, key="explore_sources")
status = f3.selectbox("Status", ["all", "kept", "removed"], key="explore_status")
subsets = sorted({s for ss in rows["subsets"] for s in ss})
subset = f4.selectbox("In subset", ["any", *subsets], key="explore_subset")

view = rows
if query.strip():
    view = view[view["text"].str.contains(query.strip(), case=False, regex=False)]
if chosen_sources:
    view = view[view["source"].astype(str).isin(chosen_sources)]
if status != "all":
    view = view[view["status"] == status]
if subset != "any":
    view = view[view["subsets"].map(lambda ss: subset in ss)]

st.caption(f"{len(view):,} of {len(rows):,} rows")
hidden = {"messages", "text", "subsets", "why_chosen"}
show = view[[c for c in view.columns if c not in hidden]]
st.dataframe(show.head(1000), hide_index=True, key="explore_table")

if len(view):
    pick = st.selectbox("Inspect a row", view["id"].head(1000).tolist(), key="explore_row")
    row = view[view["id"] == pick].iloc[0]
    if row["status"] == "removed":
        st.warning(f"Removed: {row['why']}")
    else:
        chosen_by = "; ".join(row["why_chosen"])
        st.success(f"Kept. Chosen by {chosen_by}" if chosen_by else "Kept, but no subset chose it.")
    for msg in row["messages"]:
        with st.chat_message(msg["role"] if msg["role"] in ("user", "assistant") else "ai"):
            st.markdown(msg["content"])

# --- scores, subsets, clusters ------------------------------------------------------------------
numeric = [c for c in rows.columns if c not in ("row",) and pd.api.types.is_numeric_dtype(rows[c])
           and not pd.api.types.is_bool_dtype(rows[c])]
if numeric:
    st.subheader("Score histograms by source")
    col = st.selectbox("Score", numeric, key="explore_score")
    fig, ax = plt.subplots(figsize=(7, 3))
    for src, group in rows.groupby(rows["source"].astype(str) if "source" in rows else [""] * len(rows)):
        ax.hist(group[col].dropna(), bins=30, alpha=0.5, label=str(src))
    ax.set_xlabel(col)
    ax.legend(fontsize=8)
    fig.tight_layout()
    st.pyplot(fig, clear_figure=True)

mix = source_mix(run, rows)
if mix is not None:
    st.subheader("Source mix of each subset")
    st.bar_chart(mix, horizontal=True)

dd = dedup_table(run)
if not dd.empty:
    st.subheader("Dedup clusters")
    clusters = dedup_clusters(dd)
    st.dataframe(clusters, hide_index=True, key="explore_clusters")
    keep = st.selectbox("Show a cluster", clusters["kept row"].tolist(), key="explore_cluster")
    st.dataframe(dd[dd["duplicate_of"] == keep], hide_index=True, key="explore_cluster_rows")
