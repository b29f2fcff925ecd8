"""The steps after ingest: scoring (cheap heuristics first, model scorers on the valid rows only),
validity, dedup, subsets and the report. Each reads what the steps before it left in the context."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from curate.pipeline.context import Context, Step, StepCounts
from curate.rundir import write_parquet
from curate.validity import BY_NAME as VALIDITY_CHECKS


class Score(Step):
    """Adds score columns to the context. ``alive_only``: score only the rows no step removed yet (model
    scorers never pay for rows validity removes). The score store resumes row by row on its own."""

    def __init__(self, name: str, specs: list[Any], alive_only: bool):
        self.name, self.specs, self.alive_only = name, specs, alive_only

    def settings(self, ctx: Context) -> Any:
        return self.specs

    def outputs(self, ctx: Context) -> list[Path]:
        return [ctx.rundir.scores_dir]

    def _shards(self, ctx: Context):
        from curate.executors import Shards

        keep = ctx.kept().column("id").combine_chunks() if self.alive_only else None
        return Shards(ctx.shards, keep=keep)

    def run(self, ctx: Context) -> StepCounts:
        from curate.executors import score_shards

        frame = score_shards(ctx.executor, self._shards(ctx), self.specs, ctx.rundir.root, ctx.progress)
        ctx.add_scores(frame, self.specs)
        n = int(ctx.alive.sum())
        return StepCounts(n, n)

    def restore(self, ctx: Context, info: dict[str, Any]) -> None:
        from curate.executors import stored_scores

        ctx.add_scores(stored_scores(self._shards(ctx), self.specs, ctx.rundir.root), self.specs)


class Distill(Step):
    """Distilled proxies (``curate.proxy.distill``) fit on the alive rows after model scoring; adds each
    proxy's ``<column>_proxy``, ``<column>_best`` and ``<column>_teacher_scored`` columns to the scores."""

    name = "distill"

    def settings(self, ctx: Context) -> Any:
        return [p.model_dump() for p in ctx.recipe.proxies]

    def outputs(self, ctx: Context) -> list[Path]:
        marker = ctx.rundir.done(self.name, ctx.fingerprint)
        return [ctx.rundir.scores_dir / key for key in (marker or {}).get("info", {}).get("keys", [])]

    def run(self, ctx: Context) -> StepCounts:
        from curate.proxy import distill

        kept = ctx.kept()  # the alive rows; their messages are read from the run's conversations
        pool = kept.select([c for c in ("id", "source") if c in kept.column_names])
        results = [distill(ctx.rundir.root, cfg, data=pool, progress=ctx.progress) for cfg in ctx.recipe.proxies]
        proxies = [{"key": r.key, "column": r.column, "teacher_key": r.teacher_key, "model": r.model,
                    "agreement": r.agreement} for r in results]
        info = {"keys": [r.key for r in results], "proxies": proxies}
        self.restore(ctx, info)
        n = int(ctx.alive.sum())
        return StepCounts(n, n, info=info)

    def restore(self, ctx: Context, info: dict[str, Any]) -> None:
        frame = ctx.rundir.scores(info["keys"], vectors=False)
        ctx.add_scores(frame.drop_duplicates("id"), [])


class Detect(Step):
    """The learned junk detector (``curate.detector``): corruption planted into a sample of the valid rows,
    scored by the run's own scorers, a classifier on planted-vs-original; ``junk_prob`` for every valid row."""

    name = "detect"

    def settings(self, ctx: Context) -> Any:
        return ctx.recipe.detector.model_dump()

    def outputs(self, ctx: Context) -> list[Path]:
        return ctx.rundir.detector_outputs

    def run(self, ctx: Context) -> StepCounts:
        from curate.detector import detect
        from curate.pipeline.ingest import messages_by_row

        kept = ctx.kept()
        row_of = dict(zip(kept.column("id").to_pylist(), kept.column("row").to_pylist(), strict=True))
        real = pd.DataFrame({"id": list(row_of)}).merge(ctx.scores, on="id", how="left").drop_duplicates("id")

        def read(ids: list[str]) -> list[list[dict]]:
            return messages_by_row(ctx.shards, np.array([row_of[i] for i in ids], np.int64)).to_pylist()

        found = detect(real, read, list(ctx.scorers), ctx.recipe.detector, ctx.progress)
        if "skipped" in found.report:
            ctx.warn(f"detector skipped: {found.report['skipped']}; junk_prob is null")
        ctx.rundir.write_detector(found.scores, found.report, found.training.frame)
        self.restore(ctx, {})
        n = int(ctx.alive.sum())
        return StepCounts(n, n, info={k: found.report[k] for k in ("auroc", "flagged_share", "skipped")
                                      if k in found.report})

    def restore(self, ctx: Context, info: dict[str, Any]) -> None:
        ctx.add_scores(ctx.rundir.junk_scores(), [])


def validity(table: pa.Table, scores: pd.DataFrame, checks: list[str]) -> pd.Series:
    """Per row: '' if valid, else 'invalid:<first failing check>'."""
    frame = pd.DataFrame({"id": table.column("id").to_pylist()}).merge(scores, on="id", how="left")
    reason = pd.Series([""] * len(frame), dtype=object)
    for check in reversed(checks):  # reversed so the first listed check wins
        c = VALIDITY_CHECKS[check]
        reason[frame[c.column].eq(c.fails).fillna(False).to_numpy()] = f"invalid:{check}"
    return reason


class Validity(Step):
    name = "validity"

    def settings(self, ctx: Context) -> Any:
        return list(ctx.recipe.validity)

    def outputs(self, ctx: Context) -> list[Path]:
        return [ctx.rundir.validity_path]

    def run(self, ctx: Context) -> StepCounts:
        rows = ctx.kept()
        reasons = validity(rows, ctx.scores, list(ctx.recipe.validity))
        invalid = (reasons != "").to_numpy()
        write_parquet(ctx.rundir.validity_path, pa.table({
            "id": rows.column("id").filter(pa.array(invalid)), "row": rows.column("row").filter(pa.array(invalid)),
            "reason": pa.array(reasons[invalid].tolist(), pa.string())}))
        ctx.remove(invalid)
        removed = {str(r): int(n) for r, n in reasons[invalid].value_counts().items()}
        return StepCounts(rows.num_rows, rows.num_rows - int(invalid.sum()), removed)

    def restore(self, ctx: Context, info: dict[str, Any]) -> None:
        gone = set(ctx.rundir.invalid()["row"].tolist())
        ctx.remove(np.isin(ctx.kept().column("row").to_numpy(), list(gone)))


class Dedup(Step):
    """Exact, near and semantic duplicates among the alive rows; the text is read a shard at a time
    (signatures and lengths), except for near dedup with ``verify: exact``, which needs every text."""

    name = "dedup"

    def settings(self, ctx: Context) -> Any:
        return ctx.recipe.dedup.model_dump()

    def outputs(self, ctx: Context) -> list[Path]:
        return [ctx.rundir.dedup_dir]

    def run(self, ctx: Context) -> StepCounts:
        import pyarrow.parquet as pq

        from curate.duplicates import dedup_signatures
        from curate.duplicates.signatures import shard_signatures

        cfg, rows, positions = ctx.recipe.dedup, ctx.kept(), ctx.positions()
        if "near" in cfg.methods and cfg.near.verify == "exact":
            text = pa.concat_tables([pq.read_table(p, columns=["messages"]) for p in ctx.shards]).column("messages")
            rows = rows.append_column("messages", text.take(pa.array(positions)))
        embeddings = ctx.embeddings(cfg.semantic.embedding, cfg.semantic.column) if "semantic" in cfg.methods else None
        sig, lengths = shard_signatures(ctx.shards, positions, cfg, ctx.rundir.dedup_dir, ctx.progress)
        result = dedup_signatures(rows, sig, lengths, scores=ctx.scores, embeddings=embeddings, config=cfg,
                                  progress=ctx.progress)
        result.save(ctx.rundir.dedup_dir)
        ctx.remove(~result.keep_mask)
        removed = {f"duplicate:{m}": int(n) for m, n in result.counts.items() if n}
        return StepCounts(rows.num_rows, int(result.keep_mask.sum()), removed)

    def restore(self, ctx: Context, info: dict[str, Any]) -> None:
        from curate.duplicates import DedupResult

        ctx.remove(~DedupResult.load(ctx.rundir.dedup_dir).keep_mask)


class Subsets(Step):
    """Each recipe subset chosen from the kept rows and their scores; messages are read from the shards
    for the chosen rows only."""

    name = "subsets"

    def settings(self, ctx: Context) -> Any:
        return [s.model_dump() for s in ctx.recipe.subsets]

    def outputs(self, ctx: Context) -> list[Path]:
        return [ctx.rundir.subset_files(s.name).selection for s in ctx.recipe.subsets]

    def run(self, ctx: Context) -> StepCounts:
        from curate.pipeline.ingest import messages_by_row
        from curate.selection import select, shortfall, write_subset

        frame = ctx.kept().to_pandas().merge(ctx.scores, on="id", how="left", suffixes=("", "_score"))
        pa.default_memory_pool().release_unused()  # hand freed Arrow buffers back before the subsets
        fill = {}
        for spec in ctx.recipe.subsets:
            d = spec.diversity
            embeddings = ctx.embeddings(d.embedding, d.column) if d is not None else None
            selection = select(frame, spec, embeddings=embeddings, progress=ctx.progress)
            chosen = selection.selected
            chosen.insert(1, "messages", messages_by_row(ctx.shards, chosen["row"].to_numpy()).to_pylist())
            write_subset(selection, ctx.rundir.subset_dir(spec.name), format=spec.format)
            ctx.subsets[spec.name] = len(selection.selected)
            fill[spec.name] = selection.fill
            if (short := shortfall(selection, str(ctx.rundir.root))) is not None:
                ctx.warn(short)
        return StepCounts(len(frame), len(frame), info={"subsets": ctx.subsets, "fill": fill})

    def restore(self, ctx: Context, info: dict[str, Any]) -> None:
        ctx.subsets.update(info["subsets"])


class Report(Step):
    """``report.html`` from what the run directory holds (the manifest already has the counts)."""

    name = "report"

    def outputs(self, ctx: Context) -> list[Path]:
        return [ctx.rundir.report_path]

    def run(self, ctx: Context) -> StepCounts:
        from curate.reporting import report

        report(ctx.rundir.root)
        n = int(ctx.alive.sum())
        return StepCounts(n, n)

    def restore(self, ctx: Context, info: dict[str, Any]) -> None:
        return None
