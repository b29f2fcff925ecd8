"""`curate.run(recipe)`: the whole recipe into a run directory, resumable step by step.

ingest (sharded, quarantine) -> score (score store) -> validity -> dedup -> subsets -> report.
Each step is skipped on re-run when its marker's fingerprint matches, so changing only the subsets
re-runs in seconds and an interrupted run continues where it stopped with the same outputs.
"""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from curate.loaders import iter_load, to_table
from curate.recipe import Recipe, parse
from curate.rundir import RunDir, atomic_path, fingerprint, write_jsonl, write_parquet

VALIDITY_COLUMNS = {  # check -> (heuristics column, value that fails)
    "role_order": ("role_order_ok", False),
    "template_leak": ("template_leak", True),
    "truncated": ("truncated", True),
    "refusal": ("refusal", True),
    "ends_with_assistant": ("ends_with_assistant", False),
}
PACKAGES = ("curate-chat", "torch", "transformers", "trl", "peft", "datasets", "sentence-transformers", "pyarrow")


@dataclass
class RunSummary:
    run_dir: Path
    counts: dict[str, Any]
    subsets: dict[str, int] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    def table(self) -> str:
        """A plain-text summary for terminals."""
        c = self.counts
        lines = [f"run: {self.run_dir}", f"  read        {c['read']:>8}", f"  quarantined {c['quarantined']:>8}"]
        lines += [f"  removed     {n:>8}  {reason}" for reason, n in sorted(c["removed"].items())]
        lines += [f"  kept        {c['kept']:>8}", "subsets:"]
        lines += [f"  {name:<20} {rows:>6} rows" for name, rows in self.subsets.items()]
        return "\n".join(lines)


def _versions() -> dict[str, str]:
    out = {}
    for name in PACKAGES:
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[name] = metadata.version(name)
    return out


def _input_fingerprint(recipe: Recipe) -> str:
    spec = recipe.input.model_dump()
    src = Path(spec["source"]).expanduser()
    stat = None
    if src.is_file():
        st = src.stat()
        stat = [st.st_size, int(st.st_mtime)]
    return fingerprint(spec, stat)


def _consolidate(files: list[Path], out: Path) -> None:
    """Shards -> one Parquet file, a shard at a time; columns missing from a shard become nulls."""
    if not files:
        write_parquet(out, to_table([]))
        return
    schema = pa.unify_schemas([pq.read_schema(f) for f in files], promote_options="permissive")
    with atomic_path(out) as tmp, pq.ParquetWriter(tmp, schema, compression="zstd") as writer:
        for f in files:
            t = pq.read_table(f)
            for name in schema.names:
                if name not in t.column_names:
                    t = t.append_column(name, pa.nulls(t.num_rows, schema.field(name).type))
            writer.write_table(t.select(schema.names).cast(schema))


def ingest(recipe: Recipe, run: RunDir) -> tuple[pa.Table, dict[str, int], list[Path]]:
    """Normalize the input into Parquet shards, one marker per shard; resumes at the first missing.

    Returns the consolidated table without its messages (ids, rows, sources: compact per-row
    columns), the counts and the shard files (what scoring, signatures and subsets stream over)."""
    fp = _input_fingerprint(recipe)
    shards, qdir = run.root / "data" / "shards", run.root / "data" / "quarantine"

    def part(k: int) -> str:  # shard k's file name, for its Parquet data and its quarantine lines
        return f"part-{k:05d}"
    info = run.done("ingest", fp)
    if info is None:
        spec = recipe.input
        fmt = None if spec.format == "auto" else spec.format
        done = 0
        while run.done(f"ingest-{done:05d}", fp):
            done += 1
        read = done * spec.chunk_rows
        limit = None if spec.limit is None else spec.limit - read
        n_shards = done
        chunks = iter_load(spec.source, chunk_rows=spec.chunk_rows, n=limit, fmt=fmt, split=spec.split, start=read)
        for chunk in chunks if limit is None or limit > 0 else ():
            write_parquet(shards / f"{part(n_shards)}.parquet", chunk.table)
            write_jsonl(qdir / f"{part(n_shards)}.jsonl", chunk.quarantine)
            run.mark_done(f"ingest-{n_shards:05d}", fp, read=chunk.read, rows=chunk.table.num_rows)
            n_shards += 1
        per = [json.loads((run.root / "steps" / f"ingest-{k:05d}.json").read_text()) for k in range(n_shards)]
        quarantine = [json.loads(line) for k in range(n_shards)
                      for line in (qdir / f"{part(k)}.jsonl").read_text(encoding="utf-8").splitlines()]
        write_jsonl(run.quarantine, quarantine)
        _consolidate([shards / f"{part(k)}.parquet" for k in range(n_shards)], run.conversations)
        info = {"read": sum(p["read"] for p in per), "rows": sum(p["rows"] for p in per),
                "quarantined": len(quarantine), "shards": n_shards}
        run.mark_done("ingest", fp, **info)
    paths = [shards / f"{part(k)}.parquet" for k in range(info["shards"])]
    columns = [c for c in pq.read_schema(run.conversations).names if c != "messages"]
    return pq.read_table(run.conversations, columns=columns), {k: info[k] for k in ("read", "rows", "quarantined")}, paths


def validity(table: pa.Table, scores: pd.DataFrame, checks: list[str]) -> pd.Series:
    """Per row: '' if valid, else 'invalid:<first failing check>'."""
    frame = pd.DataFrame({"id": table.column("id").to_pylist()}).merge(scores, on="id", how="left")
    reason = pd.Series([""] * len(frame), dtype=object)
    for check in reversed(checks):  # reversed so the first listed check wins
        col, bad = VALIDITY_COLUMNS[check]
        reason[frame[col].eq(bad).fillna(False).to_numpy()] = f"invalid:{check}"
    return reason


def _embeddings(run: RunDir, needed: bool):
    if not needed:
        return None
    from curate.store import load_embeddings

    return load_embeddings(run.root)


def run(recipe: str | Path | dict[str, Any] | Recipe, output: str | Path | None = None,
        progress: bool = True, address: str | None = None) -> RunSummary:
    """Run a recipe end to end into its run directory (``output`` overrides the recipe's).

    Row-wise scoring runs shard by shard on the recipe's ``executor`` (``local``, or ``ray`` on the
    cluster at ``address``); both fill the same score store, so either can resume the other."""
    from curate import dedup as dedup_fn
    from curate import report as report_fn
    from curate import select as select_fn
    from curate.duplicates.config import DedupConfig
    from curate.executors import Shards, get_executor, score_shards
    from curate.selection import write_subset

    recipe = recipe if isinstance(recipe, Recipe) else parse(recipe)
    run_dir = RunDir(output or recipe.run_dir())
    timings: dict[str, float] = {}

    def timed(step: str, fn, *a, **kw):
        t0 = time.perf_counter()
        out = fn(*a, **kw)
        timings[step] = round(time.perf_counter() - t0, 3)
        if progress:
            print(f"[curate] {step:<10} {timings[step]:8.1f}s", flush=True)
        return out

    run_dir.update_manifest(recipe=recipe.model_dump(), versions=_versions(), status="running")
    table, ingest_counts, shard_paths = timed("ingest", ingest, recipe, run_dir)
    executor = get_executor(recipe.executor, address=address, **recipe.executor_options())

    # Cheap heuristics on every row first, so model scorers never pay for rows that validity removes.
    scorers = [sp for sp in recipe.scorers if _spec_name(sp) != "heuristics"]
    cheap = [sp for sp in recipe.scorers if _spec_name(sp) == "heuristics"] or ["heuristics"]
    scores = timed("heuristics", score_shards, executor, Shards(shard_paths), cheap, run_dir.root, progress)
    reasons = validity(table, scores, list(recipe.validity))
    invalid = (reasons != "").to_numpy()
    write_parquet(run_dir.path("validity.parquet"), pa.table({
        "id": table.column("id").filter(pa.array(invalid)), "row": table.column("row").filter(pa.array(invalid)),
        "reason": pa.array(reasons[invalid].tolist(), pa.string())}))
    valid = table.filter(pa.array(~invalid))
    del table  # only the valid rows are needed from here on
    if scorers:
        model_scores = timed("score", score_shards, executor, Shards(shard_paths, keep=valid.column("id").combine_chunks()),
                             scorers, run_dir.root, progress)
        scores = scores.merge(model_scores, on="id", how="left")
    scorers = cheap + scorers

    dedup_cfg = DedupConfig.model_validate(recipe.dedup or {"methods": ["exact"]})
    embeddings = _embeddings(run_dir, "semantic" in dedup_cfg.methods or
                             any(s.get("diversity") for s in recipe.subsets))
    dfp = fingerprint(dedup_cfg.model_dump(), valid.column("id").to_pylist())
    result = timed("dedup", _dedup_step, run_dir, dfp, dedup_fn, valid, np.nonzero(~invalid)[0], shard_paths,
                   dedup_cfg, scores, embeddings, progress)

    pool = valid.filter(pa.array(result.keep_mask))
    # Selection sees ids, rows and scores only; messages are read from the shards for chosen rows.
    frame = pool.to_pandas()
    frame = frame.merge(scores, on="id", how="left", suffixes=("", "_score"))

    removed = {str(r): int(n) for r, n in reasons[invalid].value_counts().items()}
    for method, n in result.counts.items():
        if n:
            removed[f"duplicate:{method}"] = int(n)
    counts = {"read": ingest_counts["read"], "quarantined": ingest_counts["quarantined"],
              "removed": removed, "kept": int(pool.num_rows)}
    if counts["read"] != counts["kept"] + sum(removed.values()) + counts["quarantined"]:
        raise RuntimeError(f"counts do not reconcile: {counts}")
    del pool, valid, scores, result, reasons  # per-row state selection does not need (it has `frame`)
    pa.default_memory_pool().release_unused()  # hand freed Arrow buffers back before the subsets

    def _subsets():
        out = {}
        for spec in recipe.subsets:
            selection = select_fn(frame, spec, embeddings=embeddings, progress=progress)
            chosen = selection.selected
            chosen.insert(1, "messages", _messages_by_row(shard_paths, chosen["row"].to_numpy()).to_pylist())
            write_subset(selection, run_dir.subset_dir(spec["name"]), format=spec.get("format", "sharegpt"))
            out[spec["name"]] = len(selection.selected)
        return out

    subsets = timed("subsets", _subsets)
    summary = RunSummary(run_dir.root, counts, subsets, timings)
    run_dir.update_manifest(counts=counts, subsets=subsets, timings=timings, status="scored",
                            scorers=_scorer_settings(scorers))
    timed("report", report_fn, run_dir.root)
    run_dir.update_manifest(timings=timings, status="done")
    return summary


def _messages_by_row(shards: list[Path], rows: np.ndarray) -> pa.ChunkedArray:
    """Messages of the given input rows, in that order, read a shard at a time (never the whole text)."""
    import pyarrow.dataset as ds

    found = ds.dataset([str(p) for p in shards], format="parquet").to_table(
        columns=["row", "messages"], filter=ds.field("row").isin(pa.array(rows, pa.int64())))
    at = pd.Index(found.column("row").to_numpy()).get_indexer(rows)
    if (at < 0).any():
        raise RuntimeError(f"{int((at < 0).sum())} chosen rows are missing from the shards")
    return found.column("messages").take(pa.array(at, pa.int64()))


def _shard_text_arrays(shards: list[Path], positions: np.ndarray, cfg, folder: Path, progress: bool):
    """MinHash signatures (a .npy memmap under ``folder``) and text lengths of the rows at
    ``positions`` (indices into the concatenated shards, ascending), computed a shard at a time."""
    from curate.duplicates import minhash
    from curate.duplicates.shingles import text_lengths

    near = "near" in cfg.methods and cfg.near.verify != "exact"
    lengths = np.zeros(len(positions), np.int64) if cfg.keep == "longest" else None
    if not near and lengths is None:
        return None, None
    sig = None
    if near and not len(positions):
        sig = np.zeros((0, cfg.near.num_perm), np.uint32)
    elif near:
        folder.mkdir(parents=True, exist_ok=True)
        sig = np.lib.format.open_memmap(folder / "signatures.npy", mode="w+", dtype=np.uint32,
                                        shape=(len(positions), cfg.near.num_perm))
    start = 0
    for path in tqdm(shards, desc="signatures", unit="shard", disable=not progress or len(shards) < 2):
        n = pq.read_metadata(path).num_rows
        lo, hi = np.searchsorted(positions, [start, start + n])
        start += n
        if hi == lo:
            continue
        msgs = pq.read_table(path, columns=["messages"]).column("messages").take(pa.array(positions[lo:hi] - (start - n)))
        msgs = msgs.combine_chunks()
        if lengths is not None:
            lengths[lo:hi] = text_lengths(msgs)
        if sig is not None:
            n_ = cfg.near
            sig[lo:hi] = minhash.signatures(msgs, n_.num_perm, n_.ngram, n_.shingle, n_.seed, n_.chunk_rows, progress=False)
        del msgs
    if sig is not None:
        sig.flush()
    return sig, lengths


def _dedup_step(run_dir: RunDir, fp: str, dedup_fn, valid: pa.Table, positions: np.ndarray, shards: list[Path],
                cfg, scores, embeddings, progress: bool):
    from curate.duplicates import DedupResult

    folder = run_dir.root / "dedup"
    if run_dir.done("dedup", fp) and folder.exists():
        return DedupResult.load(folder)
    if "near" in cfg.methods and cfg.near.verify == "exact":  # exact Jaccard needs every text at once
        text = pa.concat_tables([pq.read_table(p, columns=["messages"]) for p in shards]).column("messages")
        valid = valid.append_column("messages", text.take(pa.array(positions)))
    sig, lengths = _shard_text_arrays(shards, positions, cfg, folder, progress)
    result = dedup_fn(valid, scores=scores, embeddings=embeddings, config=cfg, signatures=sig, lengths=lengths,
                      progress=progress)
    result.save(folder)
    run_dir.mark_done("dedup", fp, counts=result.counts)
    return result


def _spec_name(spec: Any) -> str:
    return spec if isinstance(spec, str) else spec.get("name", "") if isinstance(spec, dict) else spec.name


def _scorer_settings(specs: list) -> list[dict[str, Any]]:
    from curate.scorers import build
    from curate.scorers.base import scorer_key

    out = []
    for spec in specs:
        s = build(spec)
        out.append({"name": s.name, "key": scorer_key(s), "settings": s.settings()})
    return out
