"""Explorer: the run's counts and report, its rows with their scores, and why each row was kept
(which subsets chose it, and why) or removed (which row it duplicated, how similar)."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import streamlit as st  # noqa: E402

from curate import glossary  # noqa: E402
from curate.app import state  # noqa: E402
from curate.app.audit_view import catches, survival  # noqa: E402
from curate.app.explore import dedup_clusters, dedup_table, load_rows, removal_counts, source_mix  # noqa: E402
from curate.app.inspect import conversation_diff, duplicate_of, export_rows, to_jsonl, to_parquet_bytes  # noqa: E402
from curate.errors import UserError  # noqa: E402
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
    st.caption(f"Read = kept + removed + quarantined. {int(counts.get('kept', 0)):,} rows are kept: the pool "
               "every subset chooses from; each subset then takes its own budget.")
    if len(removed):
        st.markdown("**Removed, by reason**")
        st.bar_chart(removed, horizontal=True)
else:
    st.info(f"No counts: `{run_dir.manifest_path}` is missing (run `curate run RECIPE` first).")

report_dir = run_dir.report_dir
if run_dir.report_path.exists() or list(report_dir.glob("*.png")):
    with st.expander("Run report", expanded=False):
        pngs = sorted(report_dir.glob("*.png"))
        if run_dir.report_path.exists() and not pngs:
            st.iframe(run_dir.report_path, height=700)
        for png in pngs:
            st.image(str(png), caption=png.stem)

audit = run_dir.audit()
if audit and audit.get("best"):
    with st.expander(f"Audit: {audit.get('planted_rows', 0)} planted corruptions in {audit.get('rows', 0)} rows "
                     f"(`curate audit`, {run_dir.audit_dir.name}/)", expanded=False):
        st.caption("Known corruptions were planted into a sample of this recipe's input and the recipe was run on "
                   "it in its own folder. AUROC 1.0: the score separates that kind perfectly; 0.5: chance.")
        st.dataframe(catches(audit), hide_index=True, width="stretch")
        st.markdown("**Planted rows each subset kept** (lower is better; ratio = subset / random)")
        st.dataframe(survival(audit), hide_index=True, width="stretch")
        if run_dir.audit_files.heatmap.exists():
            st.image(str(run_dir.audit_files.heatmap), caption="AUROC per score and kind")

# --- rows ---------------------------------------------------------------------------------------


@st.cache_data(show_spinner="Reading the run's rows...")
def _rows(run_str: str, stamp: tuple) -> tuple[pd.DataFrame | None, list[str]]:
    return load_rows(run_str)


def _stamp(run: RunDir) -> tuple:
    paths = [run.conversations_path, *sorted(run.dedup_dir.glob("*.parquet")),
             *(run.subset_files(d.name).selection for d in sorted(run.subsets_dir.glob("*/"))),
             *sorted(run.scores_dir.glob("*/*"))]
    return tuple((str(p), p.stat().st_mtime) for p in paths if p.exists())


rows, notes = _rows(str(run), _stamp(run_dir))
dd_all = dedup_table(run)
for note in notes:
    st.caption(note)
if rows is None:
    st.warning(f"No rows to browse: `{run_dir.conversations_path}` is missing.")
    st.stop()


def _slider_bounds(lo: float, hi: float) -> tuple[float, float, float, int]:
    """(min, max, step, decimals) of a range slider that covers [lo, hi] with ends on its step grid.

    The browser snaps both handles to multiples of the step; with the score's own minimum (0.1331) as
    the slider's minimum, the lower handle snapped to 0.13, below the minimum, and Streamlit threw the
    whole value away: the filter silently did nothing. Ends on the grid cannot be snapped outside.
    """
    step = 10.0 ** math.floor(math.log10((hi - lo) / 100))
    decimals = max(0, -int(math.floor(math.log10(step))))
    return (round(math.floor(lo / step) * step, decimals), round(math.ceil(hi / step) * step, decimals),
            step, decimals)


def _range_filter(view: pd.DataFrame, rows: pd.DataFrame, col: str) -> pd.DataFrame:
    """A range slider for score ``col``; the rows of ``view`` inside the chosen range."""
    values = rows[col].dropna()
    if values.empty:
        return view
    lo, hi = float(values.min()), float(values.max())
    if lo == hi:
        st.caption(f"`{col}` is {lo:g} on every row: nothing to filter.")
        return view
    smin, smax, step, decimals = _slider_bounds(lo, hi)
    a, b = st.slider(f"{col}: {glossary.score(col) or 'range'}", smin, smax, (smin, smax), step=step,
                     format=f"%.{decimals}f", key=f"explore_range_{col}")
    return view[view[col].between(a, b)]


def _varying(rows: pd.DataFrame, numeric: list[str]) -> list[str]:
    """Score columns ordered for the histogram: those that vary first (most distinct values first), so
    the default chart is not a single bar (``mojibake_rate`` is 0 on every clean row)."""
    distinct = {c: rows[c].nunique(dropna=True) for c in numeric}
    return sorted(numeric, key=lambda c: (distinct[c] <= 1, glossary.score(c) == "", -distinct[c]))


def _scores_of(row: pd.Series, numeric: list[str]) -> None:
    """The inspected row's scores, each with what it measures."""
    scores = pd.DataFrame({"score": numeric, "value": [row[c] for c in numeric],
                           "meaning": [glossary.score(c) for c in numeric]})
    scores = scores[scores["value"].notna()]
    if len(scores):
        with st.expander(f"Scores of this row ({len(scores)})", expanded=True):
            st.dataframe(scores, hide_index=True, key="explore_row_scores", width="stretch")


st.subheader("Rows")
numeric = [c for c in rows.columns if c not in ("row",) and pd.api.types.is_numeric_dtype(rows[c])
           and not pd.api.types.is_bool_dtype(rows[c])]
f1, f2, f3, f4 = st.columns([3, 2, 2, 2])
query = f1.text_input("Search text", key="explore_query", placeholder="words in the conversation")
sources = sorted(rows["source"].dropna().astype(str).unique()) if "source" in rows else []
chosen_sources = f2.multiselect("Source", sources, key="explore_sources")
status = f3.selectbox("Status", ["all", "kept", "removed"], key="explore_status")
subsets = sorted({s for ss in rows["subsets"] for s in ss})
subset = f4.selectbox("In subset", ["any", *subsets], key="explore_subset")
r1, r2, r3 = st.columns([3, 2, 2])  # wide enough for "Highest first" at 1000 px
ranged = r1.multiselect("Filter by score range", numeric, key="explore_ranged",
                        help="pick score columns, then drag each range; rows without that score drop out")
sort_by = r2.selectbox("Sort by", ["input order", *numeric], key="explore_sort")
descending = r3.toggle("Highest first", value=True, key="explore_desc")

view = rows
if query.strip():
    view = view[view["text"].str.contains(query.strip(), case=False, regex=False)]
if chosen_sources:
    view = view[view["source"].astype(str).isin(chosen_sources)]
if status != "all":
    view = view[view["status"] == status]
if subset != "any":
    view = view[view["subsets"].map(lambda ss: subset in ss)]
    try:
        fill = run_dir.subset_meta(subset).get("fill") or {}
    except UserError:  # a subset folder made by hand has no meta.json
        fill = {}
    if fill.get("budget") and fill["selected"] < fill["budget"]:
        st.warning(f"{subset} filled {fill['selected']:,} of {fill['budget']:,} rows: its rules left too few; "
                   f"`curate select {run_dir.root} --explain {subset}` says which removed what")
    elif fill.get("budget"):
        st.caption(f"{subset}: filled {fill['selected']:,} of {fill['budget']:,} rows")
for col in ranged:
    view = _range_filter(view, rows, col)
if sort_by != "input order":
    view = view.sort_values(sort_by, ascending=not descending, na_position="last", kind="stable")

st.caption(f"{len(view):,} of {len(rows):,} rows · click a row to inspect it")
front = [c for c in ("status", "why", "preview", "source") if c in view.columns]
hidden = {"messages", "text", "subsets", "why_chosen", "id"}
show = view[front + [c for c in view.columns if c not in hidden and c not in front] + ["id"]].head(1000)
help_for = {c: st.column_config.Column(help=glossary.score(c)) for c in show.columns if glossary.score(c)}
help_for["why"] = st.column_config.TextColumn("why removed", width="medium")


def _picked_from_table() -> None:
    picked = st.session_state.explore_table.selection.rows
    if picked:
        st.session_state.explore_row = show["id"].iloc[picked[0]]


st.dataframe(show, hide_index=True, key="explore_table", on_select=_picked_from_table,
             selection_mode="single-row", column_config=help_for)
export = export_rows(view)
with st.container(horizontal=True):  # buttons as wide as their labels: "Export JSONL" whole at 1000 px
    st.download_button("Export JSONL", to_jsonl(export), "rows.jsonl", "application/jsonl",
                       key="explore_export_jsonl", disabled=view.empty)
    st.download_button("Export Parquet", to_parquet_bytes(export), "rows.parquet",
                       "application/vnd.apache.parquet", key="explore_export_parquet", disabled=view.empty)


def _open(row_id: str) -> None:
    st.session_state.explore_row = row_id


def _conversation(messages) -> None:
    for msg in messages:
        with st.chat_message(msg["role"] if msg["role"] in ("user", "assistant") else "ai"):
            st.markdown(msg["content"])


if len(view):
    ids = view["id"].head(1000).tolist()
    if st.session_state.get("explore_row") not in set(ids) | set(rows["id"]):
        st.session_state.pop("explore_row", None)
    options = ids if st.session_state.get("explore_row", ids[0]) in ids else [st.session_state.explore_row, *ids]
    pick = st.selectbox("Inspect a row", options, key="explore_row")
    row = rows[rows["id"] == pick].iloc[0]
    kept_id = duplicate_of(dd_all, row)
    if row["status"] == "removed":
        st.warning(f"Removed: {row['why']}.")
    elif row["why_chosen"]:
        st.success("Kept, and chosen by " + "; ".join(row["why_chosen"]) + ".")
    else:
        st.info("Kept: it passed the validity checks and dedup, but no subset picked it "
                "(each subset takes only its budget of the best rows).")
    _scores_of(row, numeric)  # before the conversation, which can be long
    if kept_id is not None and kept_id in set(rows["id"]):
        st.button(f"Open the kept row {kept_id}", key="explore_open_kept", on_click=_open, args=(kept_id,))
        kept = rows[rows["id"] == kept_id].iloc[0]
        left, right = st.columns(2)
        with left:
            st.markdown(f"**This row ({pick}, removed)**")
            _conversation(row["messages"])
        with right:
            st.markdown(f"**Kept row ({kept_id})**")
            _conversation(kept["messages"])
        diff = conversation_diff(kept["messages"], row["messages"])
        st.markdown("**What differs** (`-` kept row, `+` this row)")
        st.code(diff or "no difference in the text (an exact copy)", language="diff")
    else:
        _conversation(row["messages"])

# --- scores, subsets, clusters ------------------------------------------------------------------
if numeric:
    one_source = "source" not in rows or rows["source"].nunique() <= 1
    st.subheader("Score histogram" if one_source else "Score histograms by source")
    col = st.selectbox("Score", _varying(rows, numeric), key="explore_score", help="; ".join(
        f"{c}: {glossary.score(c)}" for c in numeric if glossary.score(c)) or None)
    if glossary.score(col):
        st.caption(f"`{col}`: {glossary.score(col)}.")
    if one_source and "source" in rows and len(rows):
        st.caption(f"Every row comes from one source (`{rows['source'].iloc[0]}`), so there is one histogram.")
    fig, ax = plt.subplots(figsize=(7, 3))
    for src, group in rows.groupby(rows["source"].astype(str) if "source" in rows else [""] * len(rows)):
        ax.hist(group[col].dropna(), bins=30, alpha=0.5, label=str(src))
    ax.set_xlabel(col)
    ax.set_ylabel("rows")
    if not one_source:
        ax.legend(fontsize=8)
    fig.tight_layout()
    st.pyplot(fig, clear_figure=True)

mix = source_mix(run, rows)
if mix is not None and mix.shape[1] > 1:
    st.subheader("Source mix of each subset")
    st.bar_chart(mix, horizontal=True)

if not dd_all.empty:
    st.subheader("Dedup clusters")
    clusters = dedup_clusters(dd_all)
    st.dataframe(clusters, hide_index=True, key="explore_clusters")
    keep = st.selectbox("Show a cluster", clusters["kept row"].tolist(), key="explore_cluster")
    st.dataframe(dd_all[dd_all["duplicate_of"] == keep], hide_index=True, key="explore_cluster_rows")
