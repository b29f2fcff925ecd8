"""``curate.audit``: plant known corruptions into a sample of the input, run the recipe on it in the
audit's own folder, and measure what each score and each subset does with the planted rows.

Everything lands in the audit folder (``AuditFiles``; default ``<recipe run_dir>-audit/``, ``RunDir.audit_dir``): ``pool.jsonl`` (the
planted sample), ``labels.parquet`` (which row is which kind; never given to a scorer), ``run/`` (the
recipe's run on the pool), ``audit.json``, ``audit.html`` and ``heatmap.png``. Nothing is written
into the recipe's own run directory, so planted rows never reach a real run's subsets or training.
With ``plant=False`` nothing is planted: the audit counts what each flag finds, with examples.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from curate.auditing.corruptions import FAMILIES, KINDS, VARIANTS, family_of, resolve_kinds
from curate.auditing.metrics import separation, survives
from curate.auditing.plant import PlantedPool, check_plantable
from curate.auditing.plant import plant as plant_pool
from curate.errors import UserError
from curate.recipe import InputSpec, Recipe, parse
from curate.rundir import AuditFiles, RunDir, write_json, write_jsonl, write_parquet, write_text
from curate.schema import conversation_id
from curate.store import scalar_columns
from curate.validity import CHECKS as VALIDITY_CHECKS

CAUGHT = 0.75  # AUROC below this: no score catches the kind
DEFAULT_LIMIT = 1000  # rows audited when neither the call nor the recipe's input sets a limit
RANDOM_DRAWS = 200  # random subsets averaged for the equal-size baseline
LABELS = {"position", "kind", "family", "source_id", "eligible", "detail", "row"}  # the pool's columns, not scores


@dataclass
class AuditResult:
    """The audit folder and what ``audit.json`` holds.

    Attributes:
        folder: the audit folder (``AuditFiles``).
        summary: ``audit.json``: the measurements per score, variant, family and subset.
    """

    folder: Path
    summary: dict[str, Any]

    def table(self) -> str:
        """Lines for a terminal: the best score per family and variant, then each subset's planted share."""
        s = self.summary
        lines = [f"audit: {self.folder}  ({s['rows']} rows, {s['planted_rows']} planted, {s['seconds']:.0f}s)"]
        best, fam_best = s.get("best", {}), s.get("best_family", {})
        for family, variants in s.get("families", {}).items():
            lines.append(_best_line(f"{family} (family)", fam_best[family], 2))
            lines += [_best_line(v, best[v], 4) for v in variants if len(variants) > 1]
        if "all" in best:
            lines.append(_best_line("all planted", best["all"], 2))
        for name, sub in s.get("subsets", {}).items():
            lines.append(f"  subset {name}: {sub['rows']} rows, planted {sub['planted_share']:.1%} "
                         f"vs random {sub['random_planted_share']:.1%} (ratio {sub['ratio']:.2f})")
            fams = sub.get("families", {})
            if fams:
                lines.append("    " + ", ".join(f"{f} {v['subset']:.1%}/{v['random']:.1%}" for f, v in fams.items()))
        held = s.get("held_out") or {}
        for name, ratio in held.get("pooled", {}).items():
            worst = sorted(((r.get(name) or 0, v) for v, r in held["ratios"].items()), reverse=True)[:3]
            lines.append(f"  subset {name}, leave one variant out: {ratio} of random's share (1 = random); "
                         "least caught: " + ", ".join(f"{v} {r:.2f}" for r, v in worst))
        for flag, info in s.get("flags", {}).items():
            lines.append(f"  {flag:<24} {info['count']:>6}")
        return "\n".join(lines)


def _held_out(run: Path, labels: pd.DataFrame, recipe: Recipe) -> dict[str, Any]:
    """Leave one variant out (``curate.auditing.holdout``): with a detector in the recipe, what each
    ``junk_prob`` subset keeps of every planted variant the detector is refit without; {} otherwise."""
    from curate.auditing.holdout import leave_one_variant_out, ratios

    result = leave_one_variant_out(str(run), labels, list(recipe.subsets))
    return {"pooled": result["pooled"], "ratios": ratios(result), "rows": result["variants"]} if result else {}


def _best_line(name: str, best: dict[str, Any], indent: int) -> str:
    flag = "" if best["auroc"] >= CAUGHT else "   <- not caught"
    return f"{' ' * indent}{name:<{26 - indent}} {best['auroc']:.3f}  {best['column']} ({best['direction']} = bad){flag}"


def _variants(kinds: list[str] | tuple[str, ...] | str | None) -> tuple[str, ...]:
    """``kinds`` as variant names: None = the original ten (``KINDS``); ``all``, family names and
    variant names expand (``curate.auditing.corruptions.resolve_kinds``)."""
    if kinds is None:
        return KINDS
    if not kinds:
        return ()  # refused by _checked_folder, as the CLI refuses it
    try:
        return resolve_kinds(kinds)
    except ValueError as e:
        raise UserError(f"kinds: {e}") from None


def _families(kinds: tuple[str, ...]) -> dict[str, list[str]]:
    """Each family's planted variants, in the order of ``kinds``."""
    out: dict[str, list[str]] = {}
    for k in kinds:
        out.setdefault(family_of(k), []).append(k)
    return out


def _recipe(recipe: str | Path | dict | Recipe | None, source: str | None, scorers: list | None) -> Recipe:
    if recipe is not None:
        return recipe if isinstance(recipe, Recipe) else parse(recipe)
    if source is None:
        raise UserError("audit needs a recipe, or a source and scorers")
    name = Path(str(source)).stem or "audit"
    return parse({"name": name, "input": {"source": str(source)}, "scorers": scorers or ["heuristics"],
                  "dedup": {"methods": ["exact", "near"]}})


def _checked_folder(base: Recipe, run_dir: str | Path | None, rate: float, kinds: tuple[str, ...],
                    limit: int | None) -> Path:
    """The arguments checked as the CLI checks them, and the audit folder marked IN_PROGRESS (its old
    summary removed) until the new summary is written. The recipe's own run directory, or a folder
    inside it, is refused: planted rows must never enter a real run."""
    unknown = [k for k in kinds if k not in VARIANTS]
    if unknown or not kinds:
        raise UserError(f"kinds: unknown kind {unknown[0] if unknown else '(none)'!r}; allowed: all, a family "
                        f"({', '.join(FAMILIES)}) or a variant ({', '.join(VARIANTS)})")
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 < rate < 1:
        raise UserError(f"rate must be a number between 0 and 1 (exclusive), got {rate!r}")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise UserError(f"limit must be a whole number >= 1, got {limit!r}")
    own = RunDir(base.run_path())
    folder = Path(run_dir) if run_dir else own.audit_dir
    real, mine = folder.resolve(), own.root.resolve()
    if real == mine or mine in real.parents:
        raise UserError(f"--run-dir {folder} is the recipe's own run directory (or inside it); planted rows "
                        f"must not enter it: give another folder, or none for {own.audit_dir}")
    RunDir(folder).ensure_dir()
    files = AuditFiles(folder)
    write_text(files.in_progress, f"an audit is running, or was stopped before it wrote {files.summary.name}\n")
    for path in (files.summary, files.html):
        path.unlink(missing_ok=True)
    return folder


def _sample(recipe: Recipe, limit: int | None) -> list[list[dict]]:
    from curate.loaders import load

    spec = recipe.input
    data = load(spec.source, limit=limit or spec.limit or DEFAULT_LIMIT,
                fmt=None if spec.format == "auto" else spec.format, split=spec.split)
    return [[{"role": m["role"], "content": m["content"]} for m in msgs] for msgs in data.table.column("messages").to_pylist()]


def audit(recipe: str | Path | dict | Recipe | None = None, *, source: str | None = None,
          scorers: list | None = None, rate: float = 0.3, kinds: list[str] | tuple[str, ...] | None = None,
          limit: int | None = None, seed: int = 0, run_dir: str | Path | None = None, plant: bool = True,
          progress: bool = True) -> AuditResult:
    """Plant known corruptions into a sample of the recipe's input, run the recipe on it and measure.

    Args:
        recipe: a YAML path, dict or Recipe (its input, scorers, dedup and subsets are audited); None:
            ``source`` scored by ``scorers``.
        source: the input to audit without a recipe.
        scorers: the scorers for ``source`` (default heuristics).
        rate: the share of rows to corrupt, between 0 and 1 (exclusive).
        kinds: variant names, family names or ``all`` (docs/audit.md), planted equally mixed; None: the
            original ten (``KINDS``).
        limit: rows of the input to audit (default the recipe's ``input.limit``, else 1000).
        seed: seeds the planting and the random subsets.
        run_dir: the audit folder (default ``<recipe run_dir>-audit``); never the recipe's run directory.
        plant: False audits the data as it is: the rows each yes/no flag marks, three examples each.
        progress: show progress bars.

    Returns:
        An :class:`AuditResult` whose summary holds, per score column, variant and family, the
        direction-aware AUROC and precision at the planted rate; per subset the planted rows that
        survive (per family too) next to random subsets of the same size; and the variants and families
        no score catches.

    Raises:
        UserError: neither a recipe nor a source, an unknown kind, ``rate`` or ``limit`` out of range, a
            ``run_dir`` that is (or is inside) the recipe's run directory, too few rows to plant, or a
            refusal of the recipe's run (``curate.run``).
    """
    import curate

    started = time.perf_counter()
    base = _recipe(recipe, source, scorers)
    kinds = _variants(kinds)
    folder = _checked_folder(base, run_dir, rate, kinds, limit)
    pool = _planted_pool(_sample(base, limit), rate, kinds, seed, plant)
    files = AuditFiles(folder)
    write_jsonl(files.pool, ({"id": i, "messages": c} for i, c in zip(pool.labels["id"], pool.conversations)))
    write_parquet(files.labels, pa.Table.from_pandas(pool.labels, preserve_index=False))
    inner = base.model_copy(update={"input": InputSpec(source=str(files.pool), format="messages"), "train": None})
    # The run directory goes positionally (``output`` here, ``run_dir`` after the rename): never the recipe's own.
    curate.run(inner, files.run, progress=progress)
    frame = _frame(files.run, pool.labels)
    summary = _pool_summary(base, pool, rate, seed, kinds, plant)
    if plant:
        summary.update(_planted_report(frame, files.run, kinds, seed))
        summary["held_out"] = _held_out(files.run, pool.labels, inner)
    else:
        summary["flags"] = _flags(frame, pool)
    summary["seconds"] = round(time.perf_counter() - started, 1)
    write_json(files.summary, summary)
    files.in_progress.unlink()
    from curate.auditing.report import write_html

    write_html(folder, summary)
    return AuditResult(folder, summary)


def _planted_pool(convs: list[list[dict]], rate: float, kinds: tuple[str, ...], seed: int,
                  plant: bool) -> PlantedPool:
    """The sample with ``kinds`` planted (a refusal to plant becomes a UserError); with ``plant`` False,
    the sample as it is, every row labelled clean so the same run and frame apply."""
    if plant:
        try:
            check_plantable(len(convs), rate, kinds)
            return plant_pool(convs, rate, kinds, seed)
        except ValueError as e:
            raise UserError(str(e)) from None
    return PlantedPool(convs, pd.DataFrame({"position": range(len(convs)), "id": [conversation_id(c) for c in convs],
                                            "kind": "", "family": "", "source_id": None, "eligible": True,
                                            "detail": "{}"}))


def _pool_summary(base: Recipe, pool: PlantedPool, rate: float, seed: int, kinds: tuple[str, ...],
                  plant: bool) -> dict[str, Any]:
    """The head of ``audit.json``: what was audited and what was planted, before any measurement."""
    kind = pool.labels["kind"]
    return {"recipe": base.name, "source": base.input.source, "rows": len(pool),
            "rate": rate if plant else 0.0, "seed": seed, "kinds": list(kinds) if plant else [],
            "families": _families(kinds) if plant else {},
            "planted_rows": int((kind != "").sum()),
            "planted": kind[kind != ""].value_counts().to_dict()}


def _frame(run: Path, labels: pd.DataFrame) -> pd.DataFrame:
    """One row per pool row: its label, every numeric or yes/no score, and the removals as flags."""
    rd = RunDir(run)
    frame = labels.drop_duplicates("id").merge(rd.scores(vectors=False), on="id", how="left")
    frame["removed_invalid"] = frame["id"].isin(rd.invalid()["id"]).astype(float)
    removed = rd.duplicates()
    gone, kept = set(removed["id"]), dict(zip(removed["id"], removed["duplicate_of"], strict=True))
    # a near-duplicate pair counts as caught whichever member dedup removed
    frame["removed_duplicate"] = [float(i in gone or (k == "near_dup" and kept.get(s) == i))
                                  for i, s, k in zip(frame["id"], frame["source_id"], frame["kind"], strict=True)]
    return frame


def _separations(frame: pd.DataFrame, columns: list[str], groups: dict[str, np.ndarray]) -> dict[str, dict[str, Any]]:
    """Per score column and group of bad rows: the direction-aware separation from the eligible clean rows."""
    clean = ((frame["kind"] == "") & frame["eligible"]).to_numpy()  # malformed clean rows could never be planted
    out: dict[str, dict[str, Any]] = {}
    for col in columns:
        values = frame[col].astype(float).to_numpy()
        out[col] = {name: vars(separation(bad[clean | bad], values[clean | bad])) for name, bad in groups.items()}
    return out


def _best_of(sep: dict[str, dict[str, Any]], names: list[str]) -> dict[str, dict[str, Any]]:
    best = {}
    for name in names:
        col = max(sep, key=lambda c: np.nan_to_num(sep[c][name]["auroc"]))
        best[name] = {"column": col, **sep[col][name]}
    return best


def _planted_report(frame: pd.DataFrame, run: Path, kinds: tuple[str, ...], seed: int) -> dict[str, Any]:
    """AUROC per score and variant (``separation``, ``best``) and per family (``family_separation``,
    ``best_family``), the variants and families no score catches, and the subsets' planted rows."""
    columns = scalar_columns(frame, "number_or_flag", skip=LABELS)
    kind = frame["kind"]
    families = _families(kinds)
    sep = _separations(frame, columns, {**{k: (kind == k).to_numpy() for k in kinds}, "all": (kind != "").to_numpy()})
    fam_sep = _separations(frame, columns, {f: kind.isin(v).to_numpy() for f, v in families.items()})
    best, fam_best = _best_of(sep, [*kinds, "all"]), _best_of(fam_sep, list(families))
    return {"separation": sep, "best": best, "uncaught": [k for k in kinds if not best[k]["auroc"] >= CAUGHT],
            "family_separation": fam_sep, "best_family": fam_best,
            "uncaught_families": [f for f in families if not fam_best[f]["auroc"] >= CAUGHT],
            "subsets": _survival(frame, run, kinds, seed)}


def _measure(frame: pd.DataFrame, chosen: set[str], kinds: tuple[str, ...]) -> dict[str, float]:
    """Share of each variant's planted rows alive in ``chosen``; the planted share of ``chosen`` in all
    (``planted_share``) and per family (``family:<name>``)."""
    alive = survives(frame, chosen)
    size = max(len(chosen), 1)
    row = {k: float(alive[(frame["kind"] == k).to_numpy()].mean()) for k in kinds}
    row["planted_share"] = float(alive[(frame["kind"] != "").to_numpy()].sum() / size)
    for family, variants in _families(kinds).items():
        row[f"family:{family}"] = float(alive[frame["kind"].isin(variants).to_numpy()].sum() / size)
    return row


def _survival(frame: pd.DataFrame, run: Path, kinds: tuple[str, ...], seed: int) -> dict[str, Any]:
    """Per subset: its planted share (all, per family) and each variant's survival, next to the mean of
    random subsets of the same size."""
    ids = frame["id"].to_numpy()
    rng = np.random.default_rng(seed)
    out = {}
    for name, selection in RunDir(run).selections().items():
        chosen = set(selection["id"])
        mine = _measure(frame, chosen, kinds)
        draws = [_measure(frame, set(rng.choice(ids, size=min(len(chosen), len(ids)), replace=False)), kinds)
                 for _ in range(RANDOM_DRAWS)]
        rand = {k: float(np.mean([d[k] for d in draws])) for k in mine}
        sub = {"rows": len(chosen), "planted_share": round(mine["planted_share"], 4),
               "random_planted_share": round(rand["planted_share"], 4),
               "survival": {k: {"subset": round(mine[k], 4), "random": round(rand[k], 4)} for k in kinds},
               "families": {f: {"subset": round(mine[f"family:{f}"], 4), "random": round(rand[f"family:{f}"], 4)}
                            for f in _families(kinds)}}
        sub["ratio"] = round(sub["planted_share"] / sub["random_planted_share"], 4) if sub["random_planted_share"] else None
        out[name] = sub
    return out


def _flags(frame: pd.DataFrame, pool: PlantedPool) -> dict[str, Any]:
    """Unplanted data: rows each yes/no flag marks, with three examples (no ground truth claimed)."""
    by_id = dict(zip(pool.labels["id"], pool.conversations, strict=True))
    bad_when_false = {c.column for c in VALIDITY_CHECKS if c.fails is False}
    out = {}
    for col in scalar_columns(frame, "number_or_flag", skip=LABELS):
        values = frame[col].dropna()
        if not col.startswith("removed_") and not all(isinstance(v, (bool, np.bool_)) for v in values):
            continue  # yes/no columns only
        hit = frame[col].astype(float).eq(0.0 if col in bad_when_false else 1.0)
        name = f"not {col}" if col in bad_when_false else col
        examples = []
        for rid in frame["id"][hit][:3]:
            msgs = by_id[rid]
            examples.append({"id": rid, "question": _first(msgs, "user")[:300], "answer": _first(msgs, "assistant")[:300]})
        out[name] = {"count": int(hit.sum()), "share": round(float(hit.mean()), 4), "examples": examples}
    return out


def _first(messages: list[dict], role: str) -> str:
    return next((m["content"] for m in messages if m["role"] == role), "")
