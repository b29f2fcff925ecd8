"""Leave one variant out: what a recipe's subsets keep of a corruption variant when the run's detector
was never shown it.

For each planted variant whose family has others, the detector is refit from its stored examples
(``RUN/detector/training.parquet``) without that variant's copies, every row gets the refit
``junk_prob``, the recipe's subsets that read ``junk_prob`` are selected again, and the variant's share
of each subset is compared with its share of the pool (what a random subset of any size keeps). No
scorer runs again: the copies' scores were stored by the detector, so this costs seconds.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from curate.auditing.corruptions import FAMILIES, family_of
from curate.rundir import RunDir


def _uses_junk(spec: Any) -> bool:
    from curate.detector import COLUMN
    from curate.selection.expr import parse_filter
    from curate.selection.rank import split_column

    used = set(parse_filter(spec.filter).columns) if spec.filter else set()
    used |= {split_column(k)[0] for k in spec.rank or {}}
    return COLUMN in used and spec.diversity is None


def _refit_junk(run: RunDir, real: pd.DataFrame, training: pd.DataFrame, variant: str) -> pd.Series:
    from curate.detector import DetectorConfig
    from curate.detector.train import Training, junk_prob

    report = run.detector() or {}
    cfg = DetectorConfig(**report["settings"])
    kept = training[training["kind"] != variant].reset_index(drop=True)
    prob, _ = junk_prob(real, Training(kept, list(report["features"])), cfg)
    return prob


def leave_one_variant_out(run_dir: str, labels: pd.DataFrame, subsets: list[Any]) -> dict[str, Any]:
    """Per planted variant (of a family with two or more): each ``junk_prob`` subset's share of that
    variant's rows next to the pool's share, and the ratio; plus the pooled ratio over the variants.
    Empty when the run has no detector or no variant qualifies."""
    from curate.detector import COLUMN
    from curate.selection import select

    run = RunDir(run_dir)
    junk = run.junk_scores()
    specs = [s for s in subsets if _uses_junk(s)]
    report = run.detector() or {}
    if junk is None or not specs or "settings" not in report:  # no detector, or it was skipped (too few rows)
        return {}
    training = run.detector_examples()
    real = junk[["id"]].merge(run.scores(vectors=False).drop(columns=[COLUMN]), on="id", how="left")
    pool = run.pool().drop(columns=[COLUMN])
    kind = labels.drop_duplicates("id").set_index("id")["kind"].reindex(pool["id"]).fillna("").to_numpy()
    variants = sorted(v for v in set(kind) - {""} if len(FAMILIES[family_of(v)]) > 1)
    out: dict[str, Any] = {}
    for variant in variants:
        prob = _refit_junk(run, real, training, variant)
        frame = pool.assign(**{COLUMN: prob.reindex(pool["id"]).to_numpy()})
        mine = kind == variant
        out[variant] = {}
        for spec in specs:
            chosen = frame["id"].isin(select(frame, spec, progress=False).selected["id"]).to_numpy()
            out[variant][spec.name] = {"subset": int((mine & chosen).sum()), "subset_rows": int(chosen.sum()),
                                       "pool": int(mine.sum()), "pool_rows": len(pool)}
    return {"variants": out, "pooled": _pooled(out, [s.name for s in specs])}


def _pooled(per_variant: dict[str, dict[str, dict[str, int]]], names: list[str]) -> dict[str, float | None]:
    """Per subset: the held-out rows it kept over the rows a random subset of its size would keep."""
    out: dict[str, float | None] = {}
    for name in names:
        rows = [v[name] for v in per_variant.values() if name in v]
        expected = sum(r["pool"] * r["subset_rows"] / max(r["pool_rows"], 1) for r in rows)
        out[name] = round(sum(r["subset"] for r in rows) / expected, 3) if expected else None
    return out


def ratios(result: dict[str, Any]) -> dict[str, dict[str, float | None]]:
    """Per variant and subset: its share of the subset over its share of the pool (1 = random)."""
    out: dict[str, dict[str, float | None]] = {}
    for variant, subsets in result.get("variants", {}).items():
        out[variant] = {}
        for name, r in subsets.items():
            expected = r["pool"] * r["subset_rows"] / max(r["pool_rows"], 1)
            out[variant][name] = round(r["subset"] / expected, 3) if expected else None
    return out

