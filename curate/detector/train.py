"""Train the detector on one run and score its rows: sample -> corrupted copies -> the run's own scorers
on the copies -> a classifier on planted-vs-original -> ``junk_prob`` for every valid row.

Everything is learned from the dataset at hand, so nothing here encodes what "clean" looks like in
some other dataset: casual chats that end without a full stop are clean if the data's own rows are
like that, because the originals teach it so.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from curate.auditing.metrics import auroc
from curate.detector.alignment import MARGIN, Alignment, reference_ids, run_margins
from curate.detector.atypical import ATYPICAL, atypicality
from curate.detector.config import COLUMN, DetectorConfig
from curate.detector.model import (
    Calibration,
    feature_columns,
    fit,
    folds_of,
    matrix,
    out_of_fold,
)
from curate.detector.planting import plant_copies
from curate.errors import UserError
from curate.schema import Message

MIN_ROWS = 20  # fewer rows: no folds with both classes to learn and measure on
ReadMessages = Callable[[list[str]], list[list[Message]]]  # ids -> their conversations


@dataclass
class Training:
    """The examples: one row per sampled original (label 0) and per corrupted copy (label 1)."""

    frame: pd.DataFrame  # id, label, group (the original's position), kind, family + feature columns
    columns: list[str]  # the features learned from

    @property
    def x(self) -> np.ndarray:
        return matrix(self.frame, self.columns)

    @property
    def y(self) -> np.ndarray:
        return self.frame["label"].to_numpy()


@dataclass
class Detected:
    """``scores``: ``id``, ``junk_prob``, ``atypical`` and ``qa_margin`` for every row given; ``report``: what
    ``detector.json`` holds."""

    scores: pd.DataFrame
    report: dict[str, Any]
    training: Training


def sample_ids(ids: pd.Series, cfg: DetectorConfig) -> list[str]:
    """Up to ``cfg.sample`` distinct ids, the same for the same rows and seed."""
    uniq = ids.drop_duplicates().to_numpy()
    take = np.random.default_rng(cfg.seed).permutation(len(uniq))[: cfg.sample]
    return [str(i) for i in uniq[np.sort(take)]]


def chosen_scorers(specs: list[Any], cfg: DetectorConfig) -> list[Any]:
    """The run's scorer specs the detector uses (``cfg.scorers`` by name; all when unset)."""
    if cfg.scorers is None:
        return specs
    named = {(s if isinstance(s, str) else s.get("name", "")): s for s in specs}
    missing = sorted(set(cfg.scorers) - set(named))
    if missing:
        raise UserError(f"detector.scorers: {missing} not among the run's scorers ({', '.join(named)})")
    return [named[n] for n in cfg.scorers]


def alignment_of(real: pd.DataFrame, read: ReadMessages, cfg: DetectorConfig, progress: bool = False) -> Alignment:
    """``qa_margin`` of every row of ``real`` against its questions (capped, keeping the detector's sample)."""
    ids = [str(i) for i in real["id"].drop_duplicates()]
    return run_margins(ids, reference_ids(ids, sample_ids(real["id"], cfg), cfg.seed), read, progress)


def training_set(real: pd.DataFrame, read: ReadMessages, specs: list[Any], cfg: DetectorConfig,
                 progress: bool = False, alignment: Alignment | None = None) -> Training:
    """Originals from ``real`` (the run's scores by id), copies scored now by ``specs`` (the run's scorers)
    and, with ``alignment``, their ``qa_margin`` against the run's questions but their original's."""
    import curate

    specs = chosen_scorers(specs, cfg)
    ids = sample_ids(real["id"], cfg)
    copies, labels = plant_copies(read(ids), cfg.variants(), cfg.copies, cfg.seed)
    copy_ids = [f"copy-{j}" for j in range(len(copies))]
    scored = curate.score(pa.table({"id": copy_ids, "messages": copies}), specs, progress=progress)
    scored = scored.set_index("id").reindex(copy_ids).reset_index()
    if alignment is not None:
        own = np.array([alignment.position[ids[p]] for p in labels["position"]], dtype=np.int64)
        scored[MARGIN] = alignment.reference.margin(copies, own)
    originals = real.drop_duplicates("id").set_index("id").reindex(ids).reset_index()
    columns = feature_columns(originals, scored, COLUMN)
    originals = originals.assign(label=0, group=np.arange(len(ids)), kind="", family="")
    scored = scored.assign(label=1, group=labels["position"].to_numpy(), kind=labels["kind"].to_numpy(),
                           family=labels["family"].to_numpy())
    keep = ["id", "label", "group", "kind", "family", *columns]
    return Training(pd.concat([originals[keep], scored[keep]], ignore_index=True), columns)


def _by(frame: pd.DataFrame, prob: np.ndarray, key: str) -> dict[str, float]:
    """AUROC of each ``key`` value's copies against every original."""
    clean = (frame["label"] == 0).to_numpy()
    out = {}
    for name in sorted(set(frame[key]) - {""}):
        rows = clean | (frame[key] == name).to_numpy()
        out[name] = round(auroc(frame["label"].to_numpy()[rows], prob[rows]), 4)
    return out


def held_out_families(train: Training, cfg: DetectorConfig) -> dict[str, float]:
    """Per family: AUROC of its copies against the originals when no copy of that family was learned
    from (two folds): how the detector does on damage it was never shown."""
    x, y, frame = train.x, train.y, train.frame
    fold = folds_of(frame["group"].to_numpy(), 2, cfg.seed)
    out = {}
    for family in sorted(set(frame["family"]) - {""}):
        mine = (frame["family"] == family).to_numpy()
        raw = out_of_fold(x, y, fold, cfg.model, cfg.seed, train.columns, train_mask=~mine)
        rows = (y == 0) | mine
        out[family] = round(auroc(y[rows], raw[rows]), 4)
    return out


def junk_prob(real: pd.DataFrame, train: Training, cfg: DetectorConfig) -> tuple[pd.Series, np.ndarray]:
    """``(junk_prob by real id, calibrated out-of-fold probability per training example)``. A sampled row's
    own score is its out-of-fold one: the final model trained on it as a clean example."""
    x, y, real_x = train.x, train.y, matrix(real, train.columns)
    fold = folds_of(train.frame["group"].to_numpy(), cfg.folds, cfg.seed)
    calibrate = Calibration(oof_raw := out_of_fold(x, y, fold, cfg.model, cfg.seed, train.columns), y)
    oof = calibrate(oof_raw)
    final = fit(x, y, cfg.model, cfg.seed, train.columns)
    prob = pd.Series(calibrate(final.raw(real_x)), index=real["id"].to_numpy())
    prob = prob.groupby(level=0).first()
    sampled = (train.frame["label"] == 0).to_numpy()
    prob.loc[train.frame["id"].to_numpy()[sampled]] = oof[sampled]
    return prob, oof


def skipped(real: pd.DataFrame, why: str) -> Detected:
    """No detector: ``junk_prob``, ``atypical`` and ``qa_margin`` are null for every row (a filter on them passes none; a
    rank puts them last)."""
    scores = pd.DataFrame({"id": real["id"].to_numpy(), COLUMN: np.nan, ATYPICAL: np.nan, MARGIN: np.nan})
    return Detected(scores, {"skipped": why, "sampled": 0}, Training(pd.DataFrame(), []))


def detect(real: pd.DataFrame, read: ReadMessages, specs: list[Any], cfg: DetectorConfig,
           progress: bool = False) -> Detected:
    """Train on ``real``'s own rows and score them all. ``real``: ``id`` + the run's score columns. With
    fewer than :data:`MIN_ROWS` distinct rows there is nothing to learn from: see :func:`skipped`."""
    started = time.perf_counter()
    if real["id"].nunique() < MIN_ROWS:
        return skipped(real, f"{real['id'].nunique()} valid rows; the detector needs at least {MIN_ROWS}")
    alignment = alignment_of(real, read, cfg, progress) if cfg.alignment else None
    if alignment is not None:
        real = real.assign(**{MARGIN: alignment.margins.reindex(real["id"].astype(str)).to_numpy()})
    train = training_set(real, read, specs, cfg, progress, alignment)
    prob, oof = junk_prob(real, train, cfg)
    junk = prob.reindex(real["id"]).to_numpy()
    clean = junk < 0.5  # the reference of "usual": the rows the detector calls clean (all, if too few)
    scores = pd.DataFrame({"id": real["id"].to_numpy(), COLUMN: junk,
                           ATYPICAL: atypicality(real, train.columns, clean if clean.sum() >= MIN_ROWS else None),
                           MARGIN: real[MARGIN].to_numpy() if MARGIN in real else np.nan})
    sampled = train.frame["label"] == 0
    report = {
        "settings": cfg.model_dump(), "variants": list(cfg.variants()), "features": train.columns,
        "sampled": int(sampled.sum()), "copies": train.frame.loc[~sampled, "kind"].value_counts().to_dict(),
        "auroc": round(auroc(train.y, oof), 4), "auroc_by_family": _by(train.frame, oof, "family"),
        "auroc_by_variant": _by(train.frame, oof, "kind"),
        "held_out_family_auroc": held_out_families(train, cfg),
        "flagged_share": round(float((scores[COLUMN] >= 0.5).mean()), 4),
        "qa_margin_reference": len(alignment.position) if alignment else 0,  # questions compared against
        "seconds": round(time.perf_counter() - started, 1),
    }
    return Detected(scores, report, train)
