"""``curate.report(run_dir)``: a static ``report.html`` (+ PNGs) from whatever a run directory holds.

Every section is optional: a run without model scores, dedup or subsets still gets a report, so
the report can be rebuilt at any point of a run (``curate report RUN_DIR``).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from curate import glossary
from curate.detector.atypical import ATYPICAL
from curate.detector.config import COLUMN as JUNK_PROB
from curate.errors import UserError
from curate.proxy.report import agreement_html
from curate.reporting import html as H
from curate.reporting import plots, training
from curate.rundir import RunDir, write_text
from curate.schema import conversation_text
from curate.store import scalar_columns

SAMPLE = 50_000
# The detector's columns first (what the shipped quality subsets select by), then the model scores.
MODEL_SCORES = (JUNK_PROB, ATYPICAL, "reward", "ifd", "ppl", "embed_sim", "edu_score", "score")
LENGTHS = ("assistant_chars", "chars", "user_chars", "tokens", "assistant_tokens", "words", "turns", "user_turns",
           "assistant_turns")
LOG_SCALE = {"assistant_chars", "chars", "user_chars", "tokens", "assistant_tokens", "ppl"}


def report(run_dir: str | os.PathLike, sample: int = SAMPLE) -> Path:
    """Build ``RUN/report/report.html`` and its PNGs from whatever the run directory holds.

    Args:
        run_dir: the run directory.
        sample: the plots use a seeded random sample of at most this many rows (the report says so).

    Returns:
        The path of ``report.html``.

    Raises:
        UserError: ``run_dir`` does not exist.
        RunDirError: its conversations are damaged (``RunDir.conversation_shards``).
    """
    run = RunDir(run_dir)
    if not run.root.is_dir():
        raise UserError(f"report: run directory {str(run.root)!r} does not exist")
    out = run.report_dir
    out.mkdir(parents=True, exist_ok=True)
    manifest = run.manifest()
    pool, notes = _pool(run, sample)
    subsets = _subsets(run)
    dedup = _dedup(run)

    sections: list[tuple[str, str]] = [("Counts", _counts_section(manifest, pool, out))]
    if subsets:
        sections.append(("Subsets", _subsets_section(subsets, _not_removed(pool, dedup), out)))
    score_cols = _score_columns(pool)
    sections += _distribution_sections(pool, score_cols, notes, manifest, out)
    sections += _run_sections(run, manifest, dedup, score_cols, out)
    subtitle = f"{run.root.resolve()} · status {manifest.get('status', 'unknown')} · built {time.strftime('%Y-%m-%d %H:%M')}"
    name = (manifest.get("recipe") or {}).get("name") if isinstance(manifest.get("recipe"), dict) else None
    path = run.report_path
    write_text(path, H.page(f"curate report: {name or run.root.name}", sections, subtitle))
    os.chmod(path, 0o644)  # a report is meant to be shared (the atomic temp file starts as 0600)
    return path


def _not_removed(pool: pd.DataFrame, dedup: pd.DataFrame | None) -> pd.DataFrame:
    """The pool less the rows dedup removed, matched on ``row`` when both have it (an exact duplicate
    shares its kept copy's id), else on ``id``."""
    if dedup is None:
        return pool
    key = "row" if "row" in dedup.columns and "row" in pool.columns else "id"
    return pool[~pool[key].isin(dedup[key])]


def _distribution_sections(pool: pd.DataFrame, score_cols: list[str], notes: list[str], manifest: dict,
                           out: Path) -> list[tuple[str, str]]:
    """The plots of the scores, the lengths and their correlations; a section without columns is left out."""
    sections: list[tuple[str, str]] = []
    hist_cols = [c for c in score_cols if c not in LENGTHS][:6]  # lengths get their own section
    if hist_cols:
        fig = plots.histograms(pool, hist_cols, log=LOG_SCALE)
        sections.append(("Score distributions per source", _save(fig, out, "scores.png") + _notes(notes)))
    length_cols = [c for c in LENGTHS if c in pool.columns]
    if length_cols:
        fig = plots.histograms(pool, length_cols, log=LOG_SCALE)
        sections.append(("Length and turn distributions", _save(fig, out, "lengths.png")))
    corr_cols = [c for c in score_cols if pool[c].notna().sum() > 2 and pool[c].nunique() > 1][:10]
    if len(corr_cols) >= 2:
        sections.append(("Score correlations", _correlations_section(pool, corr_cols, manifest, out)))
    return sections


def _correlations_section(pool: pd.DataFrame, corr_cols: list[str], manifest: dict, out: Path) -> str:
    """The correlation plot, and why its n (every scored input row) can differ from the kept rows."""
    y = next((c for c in MODEL_SCORES if c in corr_cols), None)
    fig = plots.correlations(pool, corr_cols, x="assistant_chars", y=y)
    kept = (manifest.get("counts") or {}).get("kept")
    why_n = (f'<p class="muted">Correlations and the scatter use every scored input row ({len(pool):,}), '
             f"including rows later removed as invalid or duplicate, so n can differ from the "
             f"{kept:,} kept rows in Counts.</p>" if isinstance(kept, int) else "")
    return _save(fig, out, "correlations.png") + why_n


def _run_sections(run: RunDir, manifest: dict, dedup: pd.DataFrame | None, score_cols: list[str],
                  out: Path) -> list[tuple[str, str]]:
    """Duplicates, proxies, training, exports and the glossary: each only when the run has it."""
    sections: list[tuple[str, str]] = []
    if dedup is not None:
        sections.append(("Duplicates", _dedup_section(run, dedup)))
    current = [p["key"] for p in manifest.get("proxies") or []]  # a recipe's proxies, not earlier fits
    proxies = agreement_html(run.root, current or None)
    if proxies:
        sections.append(("Distilled proxies", proxies))
    trained = training.section(run.root, lambda fig, name: _save(fig, out, name))
    if trained:
        sections.append(("Training and evaluation", trained))
    exports = _exports_section(run)
    if exports:
        sections.append(("Exports", exports))
    known = [c for c in score_cols if glossary.score(c)]
    if known:
        sections.append(("Glossary", H.table(["column", "meaning"], [[c, glossary.score(c)] for c in known])))
    return sections


def _exports_section(run: RunDir) -> str:
    """The run's exported variants (``curate export``) with links to their model cards; exports whose
    folder has moved or gone are left out."""
    rows = [[e.get("variant"), H.link(Path(e["card"]).as_uri(), e["path"]), ", ".join(e.get("gguf") or []) or "–",
             "yes" if e.get("app") else "no", e.get("created")]
            for e in run.exports() if e.get("card") and Path(e["card"]).exists()]
    if not rows:
        return ""
    return (H.table(["variant", "model card", "GGUF", "chat app", "exported"], rows)
            + '<p class="muted">Each folder holds the merged model, its card (README.md) and lineage.json.</p>')


# --- data ------------------------------------------------------------------------------------
def _pool(run: RunDir, sample: int) -> tuple[pd.DataFrame, list[str]]:
    """Conversations (a seeded sample of at most ``sample`` rows) joined with their scores."""
    notes: list[str] = []
    if run.conversations_path.exists():
        df = run.conversations_table(["id", "source", "row"]).to_pandas()
    else:
        df = pd.DataFrame({"id": pd.Series([], dtype=object)})
        notes.append("no conversations in data/ (the run has not ingested its input)")
    df = df.drop_duplicates("id")
    if len(df) > sample:
        df = df.sample(sample, random_state=0)
        notes.append(f"plots use a random sample of {sample:,} rows")
    scores = _scores(run, notes, None if df.empty else df["id"].tolist())
    if scores is not None and len(scores):
        scores = scores.drop_duplicates("id")
        df = scores if df.empty else df.merge(scores, on="id", how="left", suffixes=("", "_score"))
    missing = [c for c in ("assistant_chars", "turns") if c not in df.columns]
    if missing and "messages" in run.conversation_columns() and len(df):
        msgs = _messages(run, df["id"].tolist())
        conv = df["id"].map(msgs)
        if "assistant_chars" in missing:
            df["assistant_chars"] = conv.map(lambda m: _answer_chars(m) if m is not None else np.nan)
        if "turns" in missing:
            df["turns"] = conv.map(lambda m: len(m) if m is not None else np.nan)
    if "source" not in df.columns:
        df["source"] = "all"
    return df.reset_index(drop=True), notes


def _answer_chars(messages: Any) -> int:
    return sum(len(m["content"]) for m in messages if m["role"] == "assistant")


def _scores(run: RunDir, notes: list[str], ids: list[str] | None = None) -> pd.DataFrame | None:
    """Every score column, for ``ids`` only when given: the store is filtered in Arrow before pandas,
    so a 1.75M-row run materializes the 50k sampled rows, not all of them."""
    try:
        return run.scores(vectors=False, ids=ids)
    except (UserError, FileNotFoundError, OSError) as e:
        notes.append(f"scores not read: {e}")
        return None


def _messages(run: RunDir, ids: list[str]) -> dict[str, Any]:
    """Messages of ``ids``, read only from the row groups that hold them."""
    if not ids or not run.conversations_path.exists():
        return {}
    t = run.conversations_table(["id", "messages"], ids=pa.array(sorted(set(ids)), pa.string()))
    return dict(zip(t.column("id").to_pylist(), t.column("messages").to_pylist(), strict=True))


def _score_columns(df: pd.DataFrame) -> list[str]:
    """The numeric score columns (not yes/no): the detector's and the model scores first, then lengths."""
    num = scalar_columns(df, "number", skip={"row", "rank"})
    first = [c for c in MODEL_SCORES if c in num] + [c for c in LENGTHS if c in num]
    return first + [c for c in num if c not in first]


def _subsets(run: RunDir) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for d in sorted(run.subsets_dir.glob("*/")):
        files = run.subset_files(d.name)
        if not files.selection.exists():
            continue
        info: dict[str, Any] = {"selection": pq.read_table(files.selection).to_pandas()}
        info["meta"] = json.loads(files.meta.read_text()) if files.meta.exists() else {}
        if files.data.exists():
            names = [c for c in pq.read_schema(files.data).names if c != "messages"]
            info["data"] = pq.read_table(files.data, columns=names).to_pandas().drop_duplicates("id").set_index("id")
        out[d.name] = info
    return out


def _rejected_by_rule(meta: dict) -> str:
    """The selection's own count of rows per rejecting rule (``meta.json`` ``counts.rejected``, written by
    ``Selection.counts``), most first: the report does not count them again."""
    counts = (meta.get("counts") or {}).get("rejected") or {}
    return ", ".join(f"{k} {v:,}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1]))


def _dedup(run: RunDir) -> pd.DataFrame | None:
    dedup = run.duplicates()
    return dedup if len(dedup) and "method" in dedup.columns else None


# --- sections --------------------------------------------------------------------------------
def _save(fig: Any, out: Path, name: str) -> str:
    import matplotlib.pyplot as plt

    path = out / name
    fig.savefig(path, dpi=100, bbox_inches="tight")  # long tick labels are never cut off
    plt.close(fig)
    return H.image(path, name)


def _notes(notes: list[str]) -> str:
    return "".join(f'<p class="muted">{H.esc(n)}</p>' for n in notes)


def _counts_section(manifest: dict, pool: pd.DataFrame, out: Path) -> str:
    counts = manifest.get("counts") or {}
    if not counts:
        return f'<p class="muted">manifest.json has no counts yet; {len(pool):,} conversations in data/.</p>'
    removed = counts.get("removed") or {}
    rows: list[list[Any]] = [["read", counts.get("read")], ["quarantined", counts.get("quarantined")]]
    rows += [[f"removed: {k}", v] for k, v in removed.items()]
    rows += [["kept", counts.get("kept")]]
    rows += [[f"  of them repaired: {k}", v] for k, v in (counts.get("repaired") or {}).items()]
    rows += [[k, v] for k, v in counts.items() if k not in {"read", "quarantined", "removed", "kept"}
             and not isinstance(v, dict | list)]
    parts = [H.table(["step", "rows"], rows)]
    needed = ("read", "kept", "quarantined")
    if all(isinstance(counts.get(k), int) for k in needed):
        total = counts["kept"] + sum(removed.values()) + counts["quarantined"]
        ok = total == counts["read"]
        parts.append(f'<p class="{"ok" if ok else "bad"}">read {counts["read"]:,} '
                     f'{"=" if ok else "≠"} kept + removed + quarantined = {total:,}</p>')
        parts.append(_save(plots.counts_bar(counts), out, "counts.png"))
    return "".join(parts)


def _describe(spec: dict) -> str:
    bits = []
    if spec.get("baseline"):
        bits.append(f"baseline {spec['baseline']}")
    if spec.get("filter"):
        bits.append(f"filter {spec['filter']}")
    if spec.get("rank"):
        bits.append("rank " + ", ".join(f"{k}:{v:g}" for k, v in spec["rank"].items()) + f" ({spec.get('normalize', 'rank')})")
    if spec.get("quotas"):
        bits.append(f"quotas {json.dumps({k: v for k, v in spec['quotas'].items() if v is not None})}")
    if spec.get("diversity"):
        bits.append(f"diversity cos < {spec['diversity'].get('threshold')}")
    if spec.get("budget"):
        bits.append("budget " + ", ".join(f"{k} {v:,}" for k, v in spec["budget"].items() if v))
    return "; ".join(bits) or "all rows"


def _subsets_section(subsets: dict[str, dict], pool: pd.DataFrame, out: Path) -> str:
    by_id = pool.set_index("id") if len(pool) else None
    cols = [c for c in (*MODEL_SCORES, "assistant_chars", "turns") if c in pool.columns][:5]
    header = ["subset", "rows", "tokens", "how", *[f"mean {c}" for c in cols], "rejected by rule", "example reason"]
    rows, mixes, frames = [], {}, {}
    for name, info in subsets.items():
        sel, meta = info["selection"], info["meta"]
        ids = sel["id"]
        if "data" in info:
            in_pool = info["data"].reindex(ids)
        else:
            in_pool = by_id.reindex(ids) if by_id is not None else pd.DataFrame(index=ids)
        means = [float(pd.to_numeric(in_pool[c], errors="coerce").mean()) if c in in_pool else None for c in cols]
        rejected = _rejected_by_rule(meta)
        tokens = meta.get("tokens")
        if tokens is None and "tokens" in in_pool.columns:
            tokens = int(pd.to_numeric(in_pool["tokens"], errors="coerce").fillna(0).sum())
        example = sel["reason"].iloc[0] if len(sel) else ""
        budget = (meta.get("fill") or {}).get("budget")
        filled = f"{len(sel):,} of {budget:,}" if budget and len(sel) < budget else len(sel)
        rows.append([name, filled, tokens, _describe(meta.get("spec", {})), *means, rejected, example])
        if "source" in in_pool.columns and in_pool["source"].notna().any():
            mixes[name] = in_pool["source"].astype(str).value_counts()
        elif meta.get("source_mix"):
            mixes[name] = pd.Series(meta["source_mix"])
        if cols and cols[0] in in_pool.columns:
            frames[name] = in_pool[cols[0]]
    parts = [H.table(header, rows), *_same_rows(subsets)]
    if mixes and "source" in pool.columns:
        parts.append(_save(plots.source_mix(pool["source"].astype(str).value_counts(), mixes), out, "source_mix.png"))
    if frames and cols:
        frames = {"pool": pool[cols[0]], **frames}
        parts.append(_save(plots.subset_scores(frames, cols[0]), out, "subset_scores.png"))
    return "".join(parts)


def _same_rows(subsets: dict[str, dict]) -> list[str]:
    """A note per pair of subsets that chose exactly the same rows (a diversity threshold that skipped
    nothing looks like a second variant otherwise)."""
    chosen = {name: frozenset(info["selection"]["id"]) for name, info in subsets.items() if len(info["selection"])}
    names = list(chosen)
    return [f'<p class="muted">{H.esc(b)} chose exactly the same {len(chosen[a]):,} rows as {H.esc(a)}.</p>'
            for i, a in enumerate(names) for b in names[i + 1:] if chosen[a] == chosen[b]]


def _dedup_section(run: RunDir, dedup: pd.DataFrame, clusters: int = 3, members: int = 3) -> str:
    parts = [H.table(["method", "rows removed", "clusters"],
                     [[m, len(g), g["duplicate_of"].nunique()] for m, g in dedup.groupby("method")])]
    picks = []
    for method, g in dedup.groupby("method"):
        for keeper in g["duplicate_of"].value_counts().index[:clusters]:
            picks.append((method, keeper, g[g["duplicate_of"] == keeper].head(members)))
    ids = [k for _, k, _ in picks] + [i for _, _, m in picks for i in m["id"]]
    texts = _messages(run, [str(i) for i in ids])

    def text(i: Any) -> H.Raw:
        m = texts.get(str(i))
        return H.snippet(conversation_text(m) if m is not None else f"(id {i} not in data/)", 400)

    rows = []
    for method, keeper, mem in picks:
        for _, r in mem.iterrows():
            sim = r.get("similarity")
            rows.append([method, text(keeper), text(r["id"]), float(sim) if pd.notna(sim) else None])
    if rows:
        parts.append("<p>Largest clusters: the kept conversation and removed copies.</p>")
        parts.append(H.table(["method", "kept", "removed as duplicate", "similarity"], rows))
    return "".join(parts)
