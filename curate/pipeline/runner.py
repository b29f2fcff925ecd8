"""``curate.run``: a loop over the steps of :func:`steps` with one resume rule, one place for timing,
logging and manifest updates, and one place where the counts reconcile."""

from __future__ import annotations

import contextlib
import logging
import sys
import time
import warnings
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from curate.errors import UserError
from curate.pipeline.context import Context, Step, StepCounts
from curate.pipeline.ingest import QUARANTINED, Ingest
from curate.pipeline.steps import Dedup, Detect, Distill, Report, Score, Subsets, Validity
from curate.recipe import Recipe, parse
from curate.rundir import RunDir, RunDirError, fingerprint

log = logging.getLogger("curate.pipeline")
PACKAGES = ("curate-chat", "torch", "transformers", "trl", "peft", "datasets", "sentence-transformers", "pyarrow")


@dataclass
class RunSummary:
    """What ``curate.run`` did; ``table()`` puts it in lines for a terminal.

    Attributes:
        run_dir: the run directory.
        counts: ``read``, ``quarantined``, ``removed`` (rows per reason), ``kept`` and ``repaired`` (rows
            per repair); ``read = kept + sum(removed) + quarantined``.
        subsets: rows per subset.
        timings: seconds per step.
        proxies: each distilled proxy's key, column, teacher key, model and held-out agreement.
    """

    run_dir: Path
    counts: dict[str, Any]
    subsets: dict[str, int] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    proxies: list[dict[str, Any]] = field(default_factory=list)

    def table(self) -> str:
        """A plain-text summary for terminals."""
        c = self.counts
        lines = [f"run: {self.run_dir}", f"  read        {c['read']:>8}", f"  quarantined {c['quarantined']:>8}"]
        lines += [f"  removed     {n:>8}  {reason}" for reason, n in sorted(c["removed"].items())]
        lines += [f"  kept        {c['kept']:>8}"]
        lines += [f"  repaired    {n:>8}  {name}" for name, n in c.get("repaired", {}).items()]
        lines += ["subsets:"]
        lines += [f"  {name:<20} {rows:>6} rows" for name, rows in self.subsets.items()]
        lines += ["proxies (held-out agreement with the teacher):"] if self.proxies else []
        lines += [f"  {p['column'] + '_proxy':<20} spearman {p['agreement']['spearman']:.3f}  top-25% "
                  f"{p['agreement']['top25']:.2f}  ({p['key']})" for p in self.proxies]
        return "\n".join(lines)


def steps(recipe: Recipe) -> list[Step]:
    """The steps of a run, in order: cheap heuristics on every row first, so model scorers never pay
    for rows that validity removes. A new stage is one :class:`Step` subclass listed here.

    Returns:
        The steps, in run order.
    """
    cheap, models = recipe.scorer_specs()
    out: list[Step] = [Ingest(), Score("heuristics", cheap, alive_only=False), Validity()]
    if models:
        out.append(Score("score", models, alive_only=True))
    if recipe.proxies:
        out.append(Distill())
    if recipe.detector is not None:
        out.append(Detect())
    return out + [Dedup(), Subsets(), Report()]


def _versions() -> dict[str, str]:
    out = {}
    for name in PACKAGES:
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[name] = metadata.version(name)
    return out


def _counts(done: dict[str, StepCounts], ctx: Context) -> dict[str, Any]:
    """Run counts from the steps' counts; raises when any step, or the run, does not reconcile."""
    removed: dict[str, int] = {}
    for name, c in done.items():
        if not c.reconciles():
            raise RuntimeError(f"step {name}: counts do not reconcile: {c}")
        removed.update(c.removed)
    quarantined = removed.pop(QUARANTINED, 0)
    counts = {"read": done["ingest"].rows_in, "quarantined": quarantined, "removed": removed,
              "kept": int(ctx.alive.sum()), "repaired": done["ingest"].info.get("repaired", {})}
    if counts["read"] != counts["kept"] + sum(removed.values()) + quarantined:
        raise RuntimeError(f"counts do not reconcile: {counts}")
    return counts


def _scorer_settings(specs: list) -> list[dict[str, Any]]:
    from curate.scorers import build
    from curate.scorers.base import scorer_key

    return [{"name": s.name, "key": scorer_key(s), "settings": s.settings()} for s in map(build, specs)]


def _proxies(done: dict[str, StepCounts]) -> list[dict[str, Any]]:
    """Each distilled proxy's key, column, teacher key, model and held-out agreement (none without proxies)."""
    return done["distill"].info["proxies"] if "distill" in done else []


def _one(step: Step, ctx: Context, upstream: str) -> tuple[StepCounts, str]:
    """The resume rule: a step whose marker matches its fingerprint (and whose outputs exist) is restored,
    not run. Returns its counts and fingerprint, which the next step's fingerprint includes."""
    ctx.fingerprint = fingerprint(upstream, step.name, step.settings(ctx))
    marker = ctx.rundir.done(step.name, ctx.fingerprint)
    if marker is not None and all(p.exists() for p in step.outputs(ctx)):
        try:
            step.restore(ctx, marker["info"])
            return StepCounts(marker["rows_in"], marker["rows_out"], marker["removed"], marker["info"]), ctx.fingerprint
        except RunDirError as e:  # a damaged output (a deleted shard): make it again
            log.warning("%s: %s; running the step again", step.name, e)
    counts = step.run(ctx)
    ctx.rundir.mark_done(step.name, ctx.fingerprint, rows_in=counts.rows_in, rows_out=counts.rows_out,
                      removed=counts.removed, info=counts.info)
    return counts, ctx.fingerprint


def _same_source(a: str, b: str) -> bool:
    """Two ``input.source`` values name the same input (local paths compared resolved)."""
    return a == b or Path(a).expanduser().resolve() == Path(b).expanduser().resolve()


def _check_input(rd: RunDir, recipe: Recipe, force: bool) -> None:
    """Refuse to replace a run of another input (``force`` allows it): its subsets and report would go."""
    before = rd.manifest().get("recipe", {}).get("input", {})
    now = recipe.input
    if force or not before or (_same_source(str(before.get("source")), now.source)
                               and before.get("format", now.format) == now.format
                               and before.get("split", now.split) == now.split):
        return
    raise UserError(f"{rd.root} holds a run of another input ({before.get('source')!r}, recipe "
                    f"{rd.manifest()['recipe'].get('name')!r}); this recipe reads {now.source!r}. Give another "
                    "run directory (run_dir / --run-dir), or replace that run with --force (force=True)")


def _check_columns(ctx: Context) -> None:
    """After ingest, before any scoring: every filter, rank and quota column must come from a scorer,
    a proxy or the input, so a typo costs the ingest (kept for the re-run), not an hour of scoring."""
    unknown = ctx.recipe.unknown_columns(ctx.rundir.conversation_columns())
    if unknown:
        known = sorted(ctx.recipe.score_columns() | set(ctx.rundir.conversation_columns()))
        raise UserError(f"unknown column in {'; '.join(unknown)}: no scorer, proxy or input column has that name "
                        f"(known: {', '.join(known)})")


def run(recipe: str | Path | dict[str, Any] | Recipe, run_dir: str | Path | None = None, progress: bool = True,
        address: str | None = None, output: str | Path | None = None, force: bool = False) -> RunSummary:
    """Run a recipe end to end into its run directory; a step whose marker matches is not run again.

    Row-wise scoring runs shard by shard on the recipe's ``executor`` (``local``, or ``ray``); both fill
    the same score store, so either can resume the other. A run that fails leaves the manifest's
    status ``failed`` with the error.

    Args:
        recipe: a YAML path, a dict or a :class:`Recipe`.
        run_dir: the run directory; None: the recipe's (``run_dir``, else ``runs/<name>``).
        progress: progress bars and a line per step on stderr (else the lines go to the log).
        address: the Ray cluster of the ``ray`` executor (``ray://head:10001``); None starts or joins a
            local one.
        output: the deprecated name of ``run_dir``.
        force: replace a run of another input in the run directory (its subsets and report go).

    Returns:
        A :class:`RunSummary`: counts, subset sizes, timings and proxies.

    Raises:
        UserError: an invalid recipe; a run directory that is a file, holds a run of another input
            (without ``force``) or is being written by another ``curate run``; a filter, rank or quota
            column that no scorer, proxy or input has; or any step's refusal of its input.
        RuntimeError: counts that do not reconcile (``read = kept + removed + quarantined``).
    """
    if output is not None:
        warnings.warn("curate.run(output=...) is deprecated; use run_dir=", DeprecationWarning, stacklevel=2)
        run_dir = run_dir or output
    recipe = recipe if isinstance(recipe, Recipe) else parse(recipe)
    rd = RunDir(run_dir or recipe.run_path())
    with rd.lock():
        _check_input(rd, recipe, force)
        rd.clean_temp_files()
        rd.update_manifest(recipe=recipe.model_dump(), versions=_versions(), status="running", error=None)
        try:
            return _steps(recipe, rd, progress, address)
        except BaseException as e:
            rd.update_manifest(status="failed", error=f"{type(e).__name__}: {e}"[:2000])
            raise


def _steps(recipe: Recipe, rd: RunDir, progress: bool, address: str | None) -> RunSummary:
    """The step loop of :func:`run`, inside the run's lock."""
    from curate.executors import get_executor

    executor = get_executor(recipe.executor, address=address, **recipe.executor_options())
    ctx = Context(recipe, rd, executor, progress)
    done: dict[str, StepCounts] = {}
    timings: dict[str, float] = {}
    upstream = ""
    for step in steps(recipe):
        t0 = time.perf_counter()
        done[step.name], upstream = _one(step, ctx, upstream)
        if step.name == "ingest":
            _check_columns(ctx)
        timings[step.name] = round(time.perf_counter() - t0, 3)
        line = f"[curate] {step.name:<10} {timings[step.name]:8.1f}s"
        if progress:
            tqdm.write(line, file=sys.stderr)
        else:
            log.info(line)
        if step.name == "subsets":  # the report reads the counts from the manifest
            rd.update_manifest(counts=_counts(done, ctx), subsets=ctx.subsets, timings=timings, status="scored",
                               retired=rd.retired_subsets(list(ctx.subsets)),
                               fill=done["subsets"].info.get("fill", {}),
                               scorers=_scorer_settings(ctx.scorers), proxies=_proxies(done))
    counts = _counts(done, ctx)
    rd.update_manifest(counts=counts, subsets=ctx.subsets, timings=timings, status="done")
    return RunSummary(rd.root, counts, ctx.subsets, timings, _proxies(done))
