"""The ingest step: the input normalized into Parquet shards with their quarantine lines, one marker per
shard, so a killed ingest restarts at the first missing shard and ends with the same files."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from tqdm.auto import tqdm

from curate.errors import UserError
from curate.jsonl_reader import Written, write_shards
from curate.loaders import iter_load, jsonl_file, repair_counts, to_table
from curate.pipeline.context import Context, Step, StepCounts
from curate.rundir import RunDir, RunDirError, shard_digest, write_jsonl, write_parquet

QUARANTINED = "quarantined"  # the removal reason of records that could not be read


def _write_shards(ctx: Context, first: int, start: int, limit: int | None) -> Iterator[Written]:
    """The input from record ``start`` written as shards ``first, first + 1, ...``: by the reader's
    worker processes for a JSONL file (the text never passes through this one), else here."""
    spec = ctx.recipe.input
    fmt = None if spec.format == "auto" else spec.format
    workers = ctx.recipe.executor_options().get("workers")  # the local executor's processes parse JSONL too
    repairs = tuple(spec.repairs)
    path = jsonl_file(spec.source)
    if path is not None:
        yield from write_shards(path, path.stem, spec.chunk_rows, ctx.rundir.shard, first, start, limit, fmt, workers,
                                repairs)
        return
    chunks = iter_load(spec.source, chunk_rows=spec.chunk_rows, limit=limit, fmt=fmt, split=spec.split, start=start,
                       workers=workers, repairs=repairs)
    for i, chunk in enumerate(chunks):
        write_parquet(ctx.rundir.shard(first + i), chunk.table)
        yield Written(chunk.table.num_rows, chunk.read, chunk.quarantine, chunk.end_byte, repair_counts(chunk.table))


def _summed(counts: list[dict[str, int]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for c in counts:
        for name, n in c.items():
            out[name] = out.get(name, 0) + n
    return out


def _nothing_readable(source: str, read: int, quarantine: list[dict[str, Any]], path: Path) -> UserError:
    """The one-line error of an input with no conversation in it (empty, all quarantined, UTF-16, ...),
    with the reasons, most frequent first."""
    if not read:
        return UserError(f"no readable conversations in {source}: the input is empty")
    reasons = ", ".join(f"{r}: {n}" for r, n in Counter(q["reason"] for q in quarantine).most_common())
    return UserError(f"no readable conversations in {source}: {len(quarantine)} of {read} lines quarantined "
                     f"({reasons}), see {path}")


def _bar(source: str, progress: bool) -> tqdm:
    """Bytes of a JSONL file (with an ETA; a resumed run jumps to its first new chunk), else records."""
    path = jsonl_file(source)
    if path is not None:
        return tqdm(total=path.stat().st_size, unit="B", unit_scale=True, desc="ingest", disable=not progress,
                    dynamic_ncols=True)
    return tqdm(unit="rows", desc="ingest", disable=not progress, dynamic_ncols=True)


def _shard_done(run: RunDir, k: int, fp: str) -> dict | None:
    """Shard ``k``'s marker, if it matches ``fp`` and the shard on disk is the one it recorded (a
    deleted or replaced shard is written again rather than indexed)."""
    marker = run.done(run.shard_step(k), fp)
    if marker is None or not run.shard(k).is_file():
        return None
    try:
        digest = shard_digest(run.shard(k))
    except RunDirError:
        return None
    return marker if marker.get("digest", digest) == digest else None


class Ingest(Step):
    name = "ingest"

    def settings(self, ctx: Context) -> Any:
        spec = ctx.recipe.input.model_dump()
        src = Path(spec["source"]).expanduser()
        stat = [src.stat().st_size, int(src.stat().st_mtime)] if src.is_file() else None
        return [spec, stat]

    def outputs(self, ctx: Context) -> list[Path]:
        return [ctx.rundir.conversations_path]

    def run(self, ctx: Context) -> StepCounts:
        rd, spec, fp = ctx.rundir, ctx.recipe.input, ctx.fingerprint
        rd.drop_conversations_index()
        n_shards = 0
        while _shard_done(rd, n_shards, fp):
            n_shards += 1
        read = n_shards * spec.chunk_rows
        limit = None if spec.limit is None else spec.limit - read
        with _bar(spec.source, ctx.progress) as bar:
            for shard in _write_shards(ctx, n_shards, read, limit) if limit is None or limit > 0 else ():
                write_jsonl(rd.quarantine_shard(n_shards), shard.quarantine)
                rd.mark_done(rd.shard_step(n_shards), fp, read=shard.read, rows=shard.rows,
                              repaired=shard.repaired, digest=shard_digest(rd.shard(n_shards)))
                n_shards += 1
                bar.update(shard.read if bar.total is None else shard.end_byte - bar.n)
        per = [rd.done(rd.shard_step(k), fp) for k in range(n_shards)]
        quarantine = [json.loads(line) for k in range(n_shards)
                      for line in rd.quarantine_shard(k).read_text(encoding="utf-8").splitlines()]
        write_jsonl(rd.quarantine, quarantine)
        read, rows = sum(p["read"] for p in per), sum(p["rows"] for p in per)
        if not rows:
            raise _nothing_readable(spec.source, read, quarantine, rd.quarantine)
        if not n_shards:  # nothing was read: one empty shard, so the run still has (no) conversations
            write_parquet(rd.shard(0), to_table([]))
        rd.write_conversations_index([rd.shard(k) for k in range(max(n_shards, 1))])
        self.restore(ctx, {"shards": n_shards})
        return StepCounts(read, rows, {QUARANTINED: len(quarantine)},
                          info={"shards": n_shards, "repaired": _summed([p.get("repaired", {}) for p in per])})

    def restore(self, ctx: Context, info: dict[str, Any]) -> None:
        ctx.shards = [ctx.rundir.shard(k) for k in range(info["shards"])]
        columns = [c for c in ctx.rundir.conversation_columns() if c != "messages"]
        ctx.table = ctx.rundir.conversations_table(columns)
        ctx.alive = np.ones(ctx.table.num_rows, bool)


def messages_by_row(shards: list[Path], rows: np.ndarray) -> pa.ChunkedArray:
    """Messages of the given input rows, in that order, read a shard at a time (never the whole text)."""
    import pandas as pd
    import pyarrow.dataset as ds

    found = ds.dataset([str(p) for p in shards], format="parquet").to_table(
        columns=["row", "messages"], filter=ds.field("row").isin(pa.array(rows, pa.int64())))
    at = pd.Index(found.column("row").to_numpy()).get_indexer(rows)
    if (at < 0).any():
        raise RuntimeError(f"{int((at < 0).sum())} chosen rows are missing from the shards")
    return found.column("messages").take(pa.array(at, pa.int64()))


