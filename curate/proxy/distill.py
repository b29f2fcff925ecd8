"""``curate.distill``: score a sample with an expensive teacher, learn it from cheap features, apply
the learned proxy to every row (FineWeb-Edu's annotate-a-sample-then-classify recipe).

Everything goes through the score store: the features and the teacher's sample are scored under
their own keys (reused and resumable), and the proxy lands under ``<column>_proxy-<hash>``, a key
that covers the teacher's key, the teacher rows and the fitted model, so a changed sample or model
never overwrites an earlier proxy. The key's ``meta.json`` holds the held-out agreement and costs.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from tqdm.auto import tqdm

from curate.errors import UserError
from curate.inputs import conversation_table
from curate.proxy.config import ProxyConfig, parse_proxy
from curate.proxy.costs import costs
from curate.proxy.features import Features, load_features
from curate.proxy.sample import draw, hash_order, sample_size
from curate.rundir import RunDir, fingerprint
from curate.scorers import allowed_settings, build, get_class
from curate.scorers.base import Scorer, scorer_key
from curate.scoring import Conversations, _place, run_scorer
from curate.store import ScoreStore

if TYPE_CHECKING:  # scikit-learn loads on the first fit, not when a recipe validates its proxies
    from curate.proxy.fit import Fitted

APPLY_CHUNK = 100_000
MIN_HELDOUT = 30  # held-out rows below which the agreement is flagged as resting on too few rows


class Pool:
    """The rows to distill over: ids and sources up front, messages read only for rows scored.

    ``data`` None: every row of the run's conversations. A table with ``id`` but no ``messages`` (a
    pipeline's valid rows): those rows, messages read from the run by id.
    Anything else with messages (what :func:`curate.inputs.conversation_table` reads): those rows as given.
    """

    def __init__(self, run_dir: Path, data: Any = None):
        self._run: RunDir | None = None  # read the messages from the run when ``data`` has none
        if data is not None:
            data = conversation_table(data, messages=False)
        if data is None or "messages" not in data.column_names:
            self._run = RunDir(run_dir)
            if not self._run.conversations_path.exists():
                raise UserError(f"no conversations in {run_dir} ({self._run.conversations_path} is missing): run "
                                "`curate run` first, or pass the data (CLI: --input)")
            if data is None:
                data = self._run.conversations_table(["id", "source"])
        self._table = data
        frame = data.select([c for c in ("id", "source") if c in data.column_names]).to_pandas()
        self.frame = frame.drop_duplicates("id").reset_index(drop=True)

    @property
    def ids(self) -> list[str]:
        """The pool's ids, each once, in input order."""
        return self.frame["id"].tolist()

    def conversations(self, ids: list[str] | None = None) -> Conversations:
        """The messages of ``ids`` (all rows when None), for scoring."""
        if ids is None and self._run is not None:
            ids = self.ids  # the pool may be a subset of the run's rows
        want = None if ids is None else pa.array(ids, pa.string())
        if self._run is not None:
            table = self._run.conversations_table(["id", "messages"], ids=want)
        else:
            table = self._table.select(["id", "messages"])
            table = table if want is None else table.filter(pc.is_in(table["id"], value_set=want))
        return Conversations(table)


@dataclass
class ProxyResult:
    """What ``distill`` did: the proxy's store key, its agreement with the teacher and its costs.

    Attributes:
        key: the proxy's score store key (``<column>_proxy-<hash>``).
        column: the teacher column the proxy learns.
        teacher_key: the score store key of the teacher's values.
        model: the fitted model's name.
        agreement: held-out agreement with the teacher (rows, spearman, top-k overlap, ...).
        rounds: the agreement after each active-sampling round (the last is ``agreement``).
        cv: the chosen model's cross-validation scores.
        costs: teacher rows, estimated GPU hours and seconds per phase.
        plot: the calibration plot, when the store is on disk.
        features: the score store keys of the features.
    """

    key: str
    column: str
    teacher_key: str
    model: str
    agreement: dict[str, float]
    rounds: list[dict[str, float]]
    cv: dict[str, float]
    costs: dict[str, Any]
    plot: Path | None = None
    features: list[str] = field(default_factory=list)

    def table(self) -> str:
        """Agreement and costs as aligned text for a terminal."""
        a, c = self.agreement, self.costs
        fit_score = "auroc" if "auroc" in a else "r2"
        low, high = a.get("spearman_ci", (float("nan"), float("nan")))
        lines = [f"proxy {self.column}_proxy  key {self.key}  (teacher {self.teacher_key}, model {self.model})",
                 f"  cross-validation     {', '.join(f'{k} {v:.3f}' for k, v in self.cv.items())}",
                 f"  held-out rows        {a['rows']}",
                 f"  spearman             {a['spearman']:.3f}  (95% interval {low:.2f} to {high:.2f})",
                 f"  {fit_score:<20} {a[fit_score]:.3f}",
                 "  top-k overlap        " + "  ".join(f"{k} {a[k]:.2f}" for k in ("top10", "top25", "top50"))]
        if a["rows"] < MIN_HELDOUT:
            lines.append(f"  warning: agreement rests on {a['rows']} held-out rows (fewer than {MIN_HELDOUT}): "
                         "it says little; give a larger sample")
        for r, ag in enumerate(self.rounds[:-1]):
            lines.append(f"  round {r} (before active sampling): spearman {ag['spearman']:.3f}, top25 {ag['top25']:.2f}")
        lines.append(f"  teacher rows         {c['teacher_rows']} of {c['all_rows']} ({100 * c['teacher_share']:.1f}%)")
        if c.get("gpu_hours_teacher_all") is not None:
            lines.append(f"  H100-hours (est.)    teacher on all {c['gpu_hours_teacher_all']:.3g}, on the sample "
                         f"{c['gpu_hours_teacher_sample']:.3g}, saved {c['gpu_hours_saved']:.3g}")
        lines.append("  seconds              " + ", ".join(f"{k} {v:.1f}" for k, v in c["seconds"].items()))
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()


def _feature_keys(cfg: ProxyConfig, pool: Pool, store: ScoreStore, device: str, progress: bool) -> list[str]:
    """Score each feature scorer on every row (only rows its key lacks); their keys. Heuristics are
    added when the sample is stratified by length (its buckets read the ``tokens`` column)."""
    stored = set(store.keys())
    keys: list[str] = []
    convs: Conversations | None = None

    def ensure(spec: str | dict[str, Any]) -> None:
        nonlocal convs
        if isinstance(spec, str) and spec in stored:  # a store key: features computed elsewhere
            keys.append(spec)
            return
        scorer = build(spec)
        _place(scorer, device)
        key = scorer_key(scorer)
        if key not in stored or len(store.scored_ids(key)) < len(pool.frame):
            convs = convs or pool.conversations()
            run_scorer(scorer, convs, store, progress=progress)
        keys.append(key)

    for spec in cfg.features:
        ensure(spec)
    if "length" in cfg.stratify and not any(store.meta(k).get("name") == "heuristics" for k in keys):
        ensure("heuristics")
    return keys


def _stored_teacher(store: ScoreStore, column: str) -> str:
    """The newest store key that holds ``column``; a clear error when none does."""
    keys = store.keys()
    having = [k for k in keys if column in store.meta(k).get("columns", [])]
    if not having:
        cols = sorted({c for k in keys for c in store.meta(k).get("columns", [])})
        raise UserError(f"teacher column {column!r} is not in the score store; stored columns: "
                        f"{', '.join(cols) or 'none'} (or give a teacher scorer to score the sample)")
    return max(having, key=lambda k: store.meta(k).get("updated", 0))


def _teacher_values(store: ScoreStore, key: str, column: str) -> pd.Series:
    t = store.read(key, ["id", column])
    if column not in t.column_names:
        raise UserError(f"teacher key {key!r} has no column {column!r}; columns: {store.meta(key).get('columns')}")
    s = t.to_pandas().set_index("id")[column]
    s = s[s.notna()]
    try:
        return s.astype(float)
    except (TypeError, ValueError):
        raise UserError(f"teacher column {column!r} holds values such as {str(s.iloc[0])[:40]!r}, not numbers: "
                        "distill a numeric or yes/no column") from None


def _check_varies(column: str, y: pd.Series, where: str) -> None:
    """A proxy learns how the teacher differs between rows: a constant teacher has nothing to teach
    (and would report a perfect but empty agreement)."""
    if y.nunique() < 2:
        raise UserError(f"teacher column {column!r} is constant on the {where} (every row is {y.iloc[0]:g}): "
                        "nothing to learn; distill a column that varies")


class _Teacher:
    """Scores rows with the teacher scorer (or reads a stored column) and times it."""

    def __init__(self, cfg: ProxyConfig, pool: Pool, store: ScoreStore, device: str, progress: bool):
        self.cfg, self.pool, self.store, self.progress = cfg, pool, store, progress
        self.seconds, self.scored = 0.0, 0
        self.scorer: Scorer | None = None
        if cfg.teacher is None:
            self.key = _stored_teacher(store, cfg.column)
            return
        if isinstance(cfg.teacher, str) and cfg.teacher in set(store.keys()):  # a stored key, no scoring
            self.key = cfg.teacher
            _teacher_values(store, self.key, cfg.column)  # fails now when the key lacks the column
            return
        self.scorer = build(cfg.teacher)
        if cfg.column not in self.scorer.columns:
            raise UserError(f"teacher {self.scorer.name!r} has no column {cfg.column!r}; "
                            f"its columns: {', '.join(self.scorer.columns)}")
        _place(self.scorer, device)
        self.key = scorer_key(self.scorer)

    def model_scorer(self) -> Any:
        """The teacher scorer, rebuilt from a stored key's settings when it was not given (for costs)."""
        if self.scorer is not None:
            return self.scorer
        meta = self.store.meta(self.key)
        try:
            allowed = allowed_settings(get_class(meta.get("name", "")))
            return build({"name": meta["name"], **{k: v for k, v in meta.get("settings", {}).items() if k in allowed}})
        except (UserError, KeyError):
            return None

    def values(self, ids: list[str]) -> pd.Series:
        """The teacher's values on ``ids`` (scoring those the store lacks); failed rows left out."""
        if self.scorer is not None:
            have = self.store.scored_ids(self.key) if self.key in set(self.store.keys()) else set()
            todo = [i for i in ids if i not in have]
            if todo:
                t0 = time.perf_counter()
                run_scorer(self.scorer, self.pool.conversations(todo), self.store, progress=self.progress)
                self.seconds += time.perf_counter() - t0
                self.scored += len(todo)
        vals = _teacher_values(self.store, self.key, self.cfg.column)
        return vals.reindex(ids).dropna()


def _split(ids: list[str], holdout: float, seed: int) -> tuple[list[str], list[str]]:
    """(train, held-out) ids, by a hash of the id: deterministic whatever the order."""
    order = hash_order(pd.Series(ids), seed + 1)
    cut = np.quantile(order.astype(float), holdout) if ids else 0
    held = order.astype(float) <= cut
    return [i for i, h in zip(ids, held, strict=True) if not h], [i for i, h in zip(ids, held, strict=True) if h]


def _fit_rounds(cfg: ProxyConfig, teacher: _Teacher, feats: Features, sample: list[str], pool_ids: list[str],
                progress: bool) -> tuple[Fitted, list[dict], list[str], pd.Series, tuple]:
    """Fit, measure on the held-out rows, then run the active-sampling rounds; refit on every row."""
    from curate.proxy.fit import agreement, fit, refit

    y = teacher.values(sample)
    if len(y) < 10:
        raise UserError(f"only {len(y)} sample rows have a teacher {cfg.column!r} value; need at least 10")
    _check_varies(cfg.column, y, "sample")
    train, held = _split(y.index.tolist(), cfg.holdout, cfg.seed)
    _check_varies(cfg.column, y.reindex(train), "training part of the sample")
    x_held, _ = feats.matrix(held)
    rounds, extra = [], cfg.active.rounds if cfg.active else 0
    for r in range(extra + 1):
        x_train, _ = feats.matrix(train)
        fitted = fit(x_train, y.reindex(train).to_numpy(), cfg.model, cfg.target, cfg.seed)
        pred_held = fitted.predict(x_held)
        rounds.append(agreement(y.reindex(held).to_numpy(), pred_held, cfg.better))
        if r == extra:
            break
        picked = _active_pick(cfg, fitted, feats, pool_ids, set(y.index), len(sample))
        new = teacher.values(picked)
        y = pd.concat([y, new])
        train = train + new.index.tolist()
        if progress:
            tqdm.write(f"[distill] round {r + 1}: +{len(new)} teacher rows, spearman before {rounds[-1]['spearman']:.3f}")
    x_all, _ = feats.matrix(y.index.tolist())
    final = refit(fitted, x_all, y.to_numpy(), cfg.target)
    return final, rounds, held, y, (y.reindex(held).to_numpy(), pred_held)


def _active_pick(cfg: ProxyConfig, fitted: Fitted, feats: Features, pool_ids: list[str], seen: set[str],
                 first: int) -> list[str]:
    """Rows not yet scored where the proxy is least certain, or nearest the selection cut."""
    assert cfg.active is not None
    rest = [i for i in pool_ids if i not in seen]
    n = min(len(rest), int(cfg.active.rows) if cfg.active.rows >= 1 else max(1, round(cfg.active.rows * first)))
    parts = []
    for start in range(0, len(rest), APPLY_CHUNK):
        x, _ = feats.matrix(rest[start:start + APPLY_CHUNK])
        parts.append(fitted.spread(x) if cfg.active.by == "uncertain" else fitted.predict(x))
    values = np.concatenate(parts) if parts else np.array([])
    if cfg.active.by == "cut":
        q = 1 - cfg.active.cut if cfg.better == "high" else cfg.active.cut
        need = -np.abs(values - np.quantile(values, q))
    else:
        need = values
    return [rest[i] for i in np.argsort(-need, kind="stable")[:n]]


def _model_fingerprint(fitted: Fitted) -> str:
    return hashlib.sha256(pickle.dumps(fitted.model)).hexdigest()[:16]


def _apply(store: ScoreStore, key: str, cfg: ProxyConfig, fitted: Fitted, feats: Features, pool_ids: list[str],
           teacher_y: pd.Series, progress: bool) -> None:
    """Predict every row a chunk at a time; rows the key already holds are skipped (resume)."""
    done = store.scored_ids(key) if key in set(store.keys()) else set()
    todo = [i for i in pool_ids if i not in done]
    name, err = f"{cfg.column}_proxy", f"{cfg.column}_proxy_error"
    for start in tqdm(range(0, len(todo), APPLY_CHUNK), desc=f"apply {name}", unit="chunk",
                      disable=not progress or len(todo) <= APPLY_CHUNK):
        ids = todo[start:start + APPLY_CHUNK]
        x, ok = feats.matrix(ids)
        pred = np.where(ok, fitted.predict(x), np.nan)
        best = teacher_y.reindex(ids).to_numpy()
        best = np.where(np.isnan(best), pred, best)
        store.append(key, pa.table({
            "id": pa.array(ids, pa.string()),
            name: pa.array(pred, pa.float64(), mask=~ok),
            f"{cfg.column}_best": pa.array(best, pa.float64(), mask=np.isnan(best)),
            f"{cfg.column}_teacher_scored": pa.array(teacher_y.reindex(ids).notna().to_numpy()),
            err: pa.array([None if o else "a feature vector is missing" for o in ok], pa.string()),
        }))


def distill(run_dir: str | os.PathLike, config: ProxyConfig | dict[str, Any], data: Any = None,
            progress: bool = True, device: str = "auto") -> ProxyResult:
    """Fit a proxy of ``config.column`` on a teacher-scored sample and store it for every row.

    Args:
        run_dir: the run directory whose score store holds the features, the teacher's values and the
            proxy.
        config: a ``ProxyConfig`` or its dict (a recipe's ``proxies:`` entry): the teacher and its
            column, the feature scorers, the sample and the model.
        data: the rows: a path, hub id, ``Loaded``, Arrow table or DataFrame with ``id`` and ``messages``
            (with ``id`` only: the run's rows with those ids); None: every row of the run's conversations.
        progress: show progress bars.
        device: ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:1"``, for scorers left on ``auto``.

    Returns:
        A :class:`ProxyResult`: the proxy's key, its held-out agreement with the teacher and its costs.

    Raises:
        UserError: a bad config; ``data`` of another type or without ``id``; a run without conversations
            (and no ``data``); a teacher without the column, or a teacher column that is not numeric, is
            constant or has fewer than 10 values in the sample; a sample larger than the pool; or a model
            that cannot fit the teacher's values.
    """
    from curate.proxy.report import calibration_plot

    cfg = parse_proxy(config)
    run_dir = Path(run_dir)
    t_start = time.perf_counter()
    pool, store = Pool(run_dir, data), RunDir(run_dir).score_store()
    teacher = _Teacher(cfg, pool, store, device, progress)  # a bad teacher fails before any scoring
    t0 = time.perf_counter()
    feature_keys = _feature_keys(cfg, pool, store, device, progress)
    t_features = time.perf_counter() - t0
    frame, tokens = _sampling_frame(cfg, pool, store, teacher, feature_keys)
    sample = draw(frame, sample_size(cfg.sample, len(frame)), cfg.stratify, cfg.length_buckets, cfg.seed)
    feats = load_features(run_dir, feature_keys)
    t0 = time.perf_counter()
    fitted, rounds, held, teacher_y, (y_held, p_held) = _fit_rounds(cfg, teacher, feats, sample, pool.ids, progress)
    t_fit = time.perf_counter() - t0 - teacher.seconds
    key, ids_digest = _proxy_key(cfg, teacher.key, teacher_y, feature_keys, fitted)
    t0 = time.perf_counter()
    _apply(store, key, cfg, fitted, feats, pool.ids, teacher_y, progress)
    t_apply = time.perf_counter() - t0
    seconds = {"teacher": teacher.seconds, "features": t_features, "fit": t_fit, "apply": t_apply,
               "total": time.perf_counter() - t_start}
    cost = costs(teacher.model_scorer(), len(pool.frame), len(teacher_y), tokens, seconds)
    cost["teacher_rows_scored_now"] = teacher.scored
    plot = calibration_plot(y_held, p_held, store.root / key / "calibration.png", cfg.column) if store.root else None
    result = ProxyResult(key, cfg.column, teacher.key, fitted.name, rounds[-1], rounds, fitted.cv, cost, plot,
                         feature_keys)
    store.write_meta(key, _proxy_meta(result, cfg, fitted, ids_digest, len(held)))
    return result


def _sampling_frame(cfg: ProxyConfig, pool: Pool, store: ScoreStore, teacher: _Teacher,
                    feature_keys: list[str]) -> tuple[pd.DataFrame, np.ndarray]:
    """The rows the sample is drawn from, with their ``tokens`` (the length strata), and the tokens of
    every pool row (for the cost estimate). A stored teacher limits them to the rows it scored."""
    heur = next((k for k in feature_keys if store.meta(k).get("name") == "heuristics"), None)
    tokens = store.read(heur, ["id", "tokens"]).to_pandas() if heur else pd.DataFrame(columns=["id", "tokens"])
    frame = pool.frame.merge(tokens, on="id", how="left")
    all_tokens = frame["tokens"].fillna(0).to_numpy()
    if teacher.scorer is None:  # a stored teacher: the sample comes from the rows it scored
        frame = frame[frame["id"].isin(_teacher_values(store, teacher.key, cfg.column).index)]
        if frame.empty:
            raise UserError(f"teacher column {cfg.column!r} ({teacher.key}) has no value on any row of the pool "
                            "(all null or failed): nothing to learn")
    return frame, all_tokens


def _proxy_key(cfg: ProxyConfig, teacher_key: str, teacher_y: pd.Series, feature_keys: list[str],
               fitted: Fitted) -> tuple[str, str]:
    """``(key, digest of the teacher rows)``: the key covers the teacher, its rows, the features and the
    fitted model, so a changed sample or model never overwrites an earlier proxy."""
    ids_digest = hashlib.sha256("\n".join(sorted(teacher_y.index)).encode()).hexdigest()[:16]
    key = f"{cfg.column}_proxy-" + fingerprint(teacher_key, cfg.column, ids_digest, feature_keys, cfg.target,
                                               _model_fingerprint(fitted))[:10]
    return key, ids_digest


def _proxy_meta(result: ProxyResult, cfg: ProxyConfig, fitted: Fitted, ids_digest: str,
                heldout_rows: int) -> dict[str, Any]:
    """The proxy key's ``meta.json``: the result, and what made the key (settings, sample, model)."""
    column = cfg.column
    return {
        "name": f"{column}_proxy", "key": result.key,
        "columns": [f"{column}_proxy", f"{column}_best", f"{column}_teacher_scored"],
        "settings": cfg.model_dump(), "teacher_key": result.teacher_key, "features": result.features,
        "sample_ids": ids_digest, "model": fitted.name, "model_fingerprint": _model_fingerprint(fitted),
        "cv": fitted.cv, "agreement": result.agreement, "rounds": result.rounds, "heldout_rows": heldout_rows,
        "costs": result.costs, "plot": result.plot.name if result.plot else None,
    }
