"""``curate.audit``: plant known corruptions into a sample of the input, run the recipe on it in the
audit's own folder, and measure what each score and each subset does with the planted rows.

Everything lands in the audit folder (default ``<recipe run_dir>-audit/``, ``RunDir.audit_dir``): ``pool.jsonl`` (the
planted sample), ``labels.parquet`` (which row is which kind; never given to a scorer), ``run/`` (the
recipe's run on the pool), ``audit.json``, ``audit.html`` and ``heatmap.png``. Nothing is written
into the recipe's own run directory, so planted rows never reach a real run's subsets or training.
With ``plant=False`` nothing is planted: the audit counts what each flag finds, with examples.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from curate.auditing.corruptions import KINDS
from curate.auditing.metrics import separation
from curate.auditing.plant import PlantedPool, check_plantable
from curate.auditing.plant import plant as plant_pool
from curate.errors import UserError
from curate.recipe import InputSpec, Recipe, parse
from curate.rundir import RunDir, write_json, write_jsonl, write_parquet, write_text
from curate.schema import conversation_id

CAUGHT = 0.75  # AUROC below this: no score catches the kind
DEFAULT_LIMIT = 1000  # rows audited when neither the call nor the recipe's input sets a limit
RANDOM_DRAWS = 200  # random subsets averaged for the equal-size baseline


@dataclass
class AuditResult:
    """The audit folder and what ``audit.json`` holds."""

    folder: Path
    summary: dict[str, Any]

    def table(self) -> str:
        """Plain text for terminals: the best score per kind, then each subset's planted share."""
        s = self.summary
        lines = [f"audit: {self.folder}  ({s['rows']} rows, {s['planted_rows']} planted, {s['seconds']:.0f}s)"]
        for kind, best in s.get("best", {}).items():
            flag = "" if best["auroc"] >= CAUGHT else "   <- not caught"
            lines.append(f"  {kind:<15} {best['auroc']:.3f}  {best['column']} ({best['direction']} = bad){flag}")
        for name, sub in s.get("subsets", {}).items():
            lines.append(f"  subset {name}: {sub['rows']} rows, planted {sub['planted_share']:.1%} "
                         f"vs random {sub['random_planted_share']:.1%} (ratio {sub['ratio']:.2f})")
        for flag, info in s.get("flags", {}).items():
            lines.append(f"  {flag:<24} {info['count']:>6}")
        return "\n".join(lines)


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
    unknown = [k for k in kinds if k not in KINDS]
    if unknown or not kinds:
        raise UserError(f"kinds: unknown kind {unknown[0] if unknown else '(none)'!r}; allowed: {', '.join(KINDS)}")
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
    write_text(folder / "IN_PROGRESS", "an audit is running, or was stopped before it wrote audit.json\n")
    for name in ("audit.json", "audit.html"):
        (folder / name).unlink(missing_ok=True)
    return folder


def _sample(recipe: Recipe, limit: int | None) -> list[list[dict]]:
    from curate.loaders import load

    spec = recipe.input
    data = load(spec.source, n=limit or spec.limit or DEFAULT_LIMIT,
                fmt=None if spec.format == "auto" else spec.format, split=spec.split)
    return [[{"role": m["role"], "content": m["content"]} for m in msgs] for msgs in data.table.column("messages").to_pylist()]


def audit(recipe: str | Path | dict | Recipe | None = None, *, source: str | None = None,
          scorers: list | None = None, rate: float = 0.3, kinds: list[str] | tuple[str, ...] | None = None,
          limit: int | None = None, seed: int = 0, run_dir: str | Path | None = None, plant: bool = True,
          progress: bool = True) -> AuditResult:
    """Plant ``rate`` corrupted rows (``kinds``, equally mixed) into ``limit`` rows of the recipe's input
    (or of ``source``, scored by ``scorers``), run the recipe on them in ``run_dir`` and measure.

    Returns per score column and kind the direction-aware AUROC and precision at the planted rate,
    per subset the planted rows that survive next to random subsets of the same size, and the kinds
    no score catches. ``plant=False`` audits the data as it is (counts per flag, three examples each).
    """
    import curate

    started = time.perf_counter()
    base = _recipe(recipe, source, scorers)
    kinds = tuple(KINDS if kinds is None else kinds)
    folder = _checked_folder(base, run_dir, rate, kinds, limit)
    convs = _sample(base, limit)
    if plant:
        try:
            check_plantable(len(convs), rate, kinds)
            pool = plant_pool(convs, rate, kinds, seed)
        except ValueError as e:
            raise UserError(str(e)) from None
    else:
        pool = PlantedPool(convs, pd.DataFrame({"position": range(len(convs)), "id": [conversation_id(c) for c in convs],
                                                "kind": "", "source_id": None, "eligible": True, "detail": "{}"}))
    write_jsonl(folder / "pool.jsonl", ({"id": i, "messages": c} for i, c in zip(pool.labels["id"], pool.conversations)))
    write_parquet(folder / "labels.parquet", pa.Table.from_pandas(pool.labels, preserve_index=False))
    inner = base.model_copy(update={"input": InputSpec(source=str(folder / "pool.jsonl"), format="messages"),
                                    "train": None})
    # The run directory goes positionally (``output`` here, ``run_dir`` after the rename): never the recipe's own.
    curate.run(inner, folder / "run", progress=progress)
    frame = _frame(folder / "run", pool.labels)
    summary: dict[str, Any] = {"recipe": base.name, "source": base.input.source, "rows": len(pool),
                               "rate": rate if plant else 0.0, "seed": seed, "kinds": list(kinds) if plant else [],
                               "planted_rows": int((pool.labels["kind"] != "").sum()),
                               "planted": pool.labels["kind"][pool.labels["kind"] != ""].value_counts().to_dict()}
    if plant:
        summary.update(_planted_report(frame, folder / "run", kinds, seed))
    else:
        summary["flags"] = _flags(frame, pool)
    summary["seconds"] = round(time.perf_counter() - started, 1)
    write_json(folder / "audit.json", summary)
    (folder / "IN_PROGRESS").unlink()
    from curate.auditing.report import write_html

    write_html(folder, summary)
    return AuditResult(folder, summary)


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


def score_columns(frame: pd.DataFrame) -> list[str]:
    """Columns that hold one number or yes/no per row (not ids, labels, vectors or text)."""
    skip = {"position", "id", "kind", "source_id", "eligible", "detail", "row"}
    out = []
    for col in frame.columns:
        if col in skip or col.endswith("error"):
            continue
        values = frame[col].dropna()
        if len(values) and all(isinstance(v, (bool, int, float, np.bool_, np.integer, np.floating)) for v in values[:50]):
            out.append(col)
    return out


def _planted_report(frame: pd.DataFrame, run: Path, kinds: tuple[str, ...], seed: int) -> dict[str, Any]:
    columns = score_columns(frame)
    sep: dict[str, dict[str, Any]] = {}
    clean = (frame["kind"] == "") & frame["eligible"]  # malformed clean rows could never be planted
    for col in columns:
        values = frame[col].astype(float).to_numpy()
        rows = (clean | (frame["kind"] != "")).to_numpy()
        sep[col] = {"all": vars(separation((frame["kind"] != "").to_numpy()[rows], values[rows]))}
        for kind in kinds:
            rows = (clean | (frame["kind"] == kind)).to_numpy()
            sep[col][kind] = vars(separation((frame["kind"] == kind).to_numpy()[rows], values[rows]))
    best = {}
    for kind in (*kinds, "all"):
        col = max(columns, key=lambda c: np.nan_to_num(sep[c][kind]["auroc"]))
        best[kind] = {"column": col, **sep[col][kind]}
    return {"separation": sep, "best": best, "uncaught": [k for k in kinds if not best[k]["auroc"] >= CAUGHT],
            "subsets": _survival(frame, run, kinds, seed)}


def _survives(frame: pd.DataFrame, chosen: set[str]) -> np.ndarray:
    """Planted rows that survive in ``chosen``: a near-duplicate copy only together with its source."""
    inside = frame["id"].isin(chosen).to_numpy().copy()
    pair = (frame["kind"] == "near_dup").to_numpy()
    inside[pair] &= frame["source_id"][pair].isin(chosen).to_numpy()
    return inside


def _survival(frame: pd.DataFrame, run: Path, kinds: tuple[str, ...], seed: int) -> dict[str, Any]:
    ids = frame["id"].to_numpy()
    planted = (frame["kind"] != "").to_numpy()
    rng = np.random.default_rng(seed)
    out = {}
    for name, selection in RunDir(run).selections().items():
        chosen = set(selection["id"])
        m = len(chosen)

        def measure(s: set[str]) -> dict[str, float]:
            alive = _survives(frame, s)
            row = {k: float(alive[(frame["kind"] == k).to_numpy()].mean()) for k in kinds}
            row["planted_share"] = float(alive[planted].sum() / max(len(s), 1))
            return row
        mine = measure(chosen)
        draws = [measure(set(rng.choice(ids, size=min(m, len(ids)), replace=False))) for _ in range(RANDOM_DRAWS)]
        rand = {k: float(np.mean([d[k] for d in draws])) for k in mine}
        out[name] = {
            "rows": m, "planted_share": round(mine.pop("planted_share"), 4),
            "random_planted_share": round(rand.pop("planted_share"), 4),
            "survival": {k: {"subset": round(mine[k], 4), "random": round(rand[k], 4)} for k in kinds}}
        sub = out[name]
        sub["ratio"] = round(sub["planted_share"] / sub["random_planted_share"], 4) if sub["random_planted_share"] else None
    return out


def _flags(frame: pd.DataFrame, pool: PlantedPool) -> dict[str, Any]:
    """Unplanted data: rows each yes/no flag marks, with three examples (no ground truth claimed)."""
    by_id = dict(zip(pool.labels["id"], pool.conversations, strict=True))
    bad_when_false = {"role_order_ok", "ends_with_assistant"}
    out = {}
    for col in score_columns(frame):
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


def load_audit(folder: str | Path) -> dict[str, Any]:
    """``audit.json`` of an audit folder (what the report and the app read)."""
    path = Path(folder) / "audit.json"
    if not path.exists():
        raise UserError(f"no audit in {folder}: {path.name} is missing (run `curate audit RECIPE` first)")
    return json.loads(path.read_text(encoding="utf-8"))

