"""``curate.dedup``: exact, near (MinHash LSH) and semantic duplicates, or decontamination against
another dataset, returning a :class:`DedupResult` that explains every removal."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from curate._deprecated import moved
from curate.duplicates import minhash, semantic
from curate.duplicates.config import METHOD_ORDER, DedupConfig, NearConfig, SemanticConfig
from curate.duplicates.result import DedupResult, Pairs
from curate.duplicates.shingles import text_lengths
from curate.errors import UserError
from curate.inputs import Embeddings, conversation_table, embedding_rows
from curate.rundir import RunDir


def keep_rank(table: pa.Table, keep: str, scores: pd.DataFrame | None = None,
              lengths: np.ndarray | None = None) -> np.ndarray:
    """Keep priority of every row (0 = survives first). Ties and missing scores fall back to row order.

    ``lengths`` (text characters per row, as ``text_lengths``) lets keep='longest' run without messages.

    Returns:
        The rank of every row (int64, aligned with ``table``).

    Raises:
        UserError: keep='longest' with neither messages nor ``lengths`` (or lengths of another size), or
            a ``keep`` column found neither in ``scores`` (which then needs ``id``) nor in ``table``.
    """
    n = table.num_rows
    rows = table["row"].to_numpy() if "row" in table.column_names else np.arange(n)
    if keep == "first":
        primary = np.zeros(n)
    elif keep == "longest":
        if lengths is None:
            if "messages" not in table.column_names:
                raise UserError("keep='longest' needs a messages column or lengths= (characters per row)")
            lengths = text_lengths(table["messages"])
        if len(lengths) != n:
            raise UserError(f"lengths: {len(lengths)} values for {n} rows")
        primary = -np.asarray(lengths).astype(np.float64)
    else:
        col, sign = (keep[1:], 1.0) if keep.startswith("-") else (keep, -1.0)
        if scores is not None and col in scores.columns:
            if "id" not in scores.columns:
                raise UserError("scores: the DataFrame needs an 'id' column (as curate.scores(run) returns)")
            by_id = scores.drop_duplicates("id").set_index("id")[col]
            values = by_id.reindex(table["id"].to_pylist()).to_numpy(dtype=np.float64, na_value=np.nan)
        elif col in table.column_names:
            values = np.asarray(table[col].to_numpy(zero_copy_only=False), dtype=np.float64)
        else:
            have = sorted(set(scores.columns) - {"id"}) if scores is not None else []
            raise UserError(
                f"keep={keep!r}: no score column {col!r} in scores or data (scores have {have[:12]}); "
                "use 'first', 'longest' or a score column name"
            )
        primary = np.where(np.isnan(values), np.inf, sign * values)
    order = np.lexsort((rows, primary))
    rank = np.empty(n, np.int64)
    rank[order] = np.arange(n)
    return rank


def _dump(given: Any) -> dict:
    return given.model_dump() if isinstance(given, NearConfig | SemanticConfig) else dict(given or {})


# The flat keywords of old (``dedup(threshold=...)``): each still sets the field it names, with a warning.
_FLAT = ("threshold", "floor", "num_perm", "ngram", "shingle", "seed", "verify", "semantic_threshold")


def _flat_target(key: str, methods: list[str]) -> tuple[str, str]:
    """``(section, field)`` a flat keyword sets: threshold/floor go to near, or to semantic when near
    is not run; semantic_threshold to semantic's threshold; the rest to near."""
    if key == "semantic_threshold":
        return "semantic", "threshold"
    if key in ("threshold", "floor") and "near" not in methods:
        return "semantic", key
    return "near", key


def _moved_inputs(deprecated: dict[str, Any]) -> tuple[np.ndarray | None, np.ndarray | None]:
    """``(signatures, lengths)`` popped from ``dedup``'s deprecated keywords, leaving the flat settings
    for ``_settings``; any other keyword is the TypeError Python raises for an unknown one."""
    unknown = sorted(set(deprecated) - set(_FLAT) - {"signatures", "lengths"})
    if unknown:
        raise TypeError(f"dedup() got an unexpected keyword argument {unknown[0]!r}")
    return deprecated.pop("signatures", None), deprecated.pop("lengths", None)


def _settings(config: DedupConfig | dict | None, near: NearConfig | dict | None,
              semantic_: SemanticConfig | dict | None, methods: Any, keep: str | None,
              flat: dict[str, Any] | None = None) -> DedupConfig:
    """One ``DedupConfig`` from ``config`` with ``near``/``semantic`` fields, ``methods`` and ``keep`` on
    top; ``flat`` (the deprecated flat keywords) on top of those, each with a DeprecationWarning."""
    if isinstance(methods, str):
        methods = [m.strip() for m in methods.split(",") if m.strip()]
    unknown = [m for m in methods or () if m not in METHOD_ORDER]
    if unknown:
        raise UserError(f"unknown dedup method(s) {unknown}; choose from {list(METHOD_ORDER)}")
    try:
        cfg = config if isinstance(config, DedupConfig) else DedupConfig.model_validate(config or {})
    except ValueError as e:
        raise UserError(f"dedup settings: {e}") from None
    methods = list(methods) if methods is not None else cfg.methods
    sections = {"near": cfg.near.model_dump() | _dump(near), "semantic": cfg.semantic.model_dump() | _dump(semantic_)}
    for key, value in (flat or {}).items():
        if value is not None:
            section, field = _flat_target(key, methods)
            cls = "NearConfig" if section == "near" else "SemanticConfig"
            moved("curate.dedup", key, f"{section}={cls}({field}=...)", stacklevel=4)
            sections[section][field] = value
    try:
        return DedupConfig(methods=methods, keep=keep or cfg.keep, **sections)
    except ValueError as e:
        raise UserError(f"dedup settings: {e}") from None


def _split_embeddings(emb: Any, what: str) -> Embeddings:
    if isinstance(emb, tuple) and len(emb) == 2:
        return emb
    raise UserError(f"{what}: expected (ids, matrix), e.g. curate.load_embeddings(run)")


def _aligned(emb: Embeddings, ids: np.ndarray, what: str) -> np.ndarray:
    """The matrix rows of ``ids`` in order; every row needs a vector."""
    pos = embedding_rows(emb, ids, what)
    if (pos < 0).any():
        raise UserError(f"{what}: {int((pos < 0).sum())} of {len(ids)} rows have no embedding; score them first "
                        "(scorer 'embedding') or pass embeddings=(ids, matrix) covering every row")
    matrix = emb[1]
    return matrix if np.array_equal(pos, np.arange(len(matrix))) else matrix[pos]


def dedup(data: Any, methods: tuple[str, ...] | list[str] | str | None = None, keep: str | None = None,
          scores: pd.DataFrame | None = None, embeddings: Embeddings | None = None, against: Any = None, *,
          config: DedupConfig | dict | None = None, near: NearConfig | dict | None = None,
          semantic: SemanticConfig | dict | None = None, against_embeddings: Embeddings | None = None,
          signatures_path: str | Path | None = None, progress: bool = True, **deprecated: Any) -> DedupResult:
    """Find duplicates of ``data`` (or of ``data`` in ``against``) and choose the survivors.

    Methods run exact -> near -> semantic, each on what the previous kept; within a cluster of
    duplicates the row ``keep`` ranks best survives. Rows without their text: :func:`dedup_signatures`.

    Args:
        data: the rows with ``id`` and ``messages``: a pyarrow Table or pandas DataFrame, a
            ``curate.load`` result, a run directory (its conversations) or an input path.
        methods: ``exact``, ``near`` and/or ``semantic`` (a list or a comma-separated string); None:
            ``config``'s (DedupConfig's default: exact and near).
        keep: the copy that survives: ``"first"``, ``"longest"`` or a score column (``"-col"`` keeps the
            lowest); None: ``config``'s (default ``"first"``).
        scores: a frame with ``id`` and the column ``keep`` names (``curate.scores(run)``); without it the
            column is read from ``data``.
        embeddings: ``(ids, matrix)`` for semantic dedup (``curate.load_embeddings(run)``); None reads the
            vectors ``semantic.embedding`` names from the run directory ``data``.
        against: a reference dataset (a table, load result or path; ``(ids, matrix)`` for semantic only):
            rows of ``data`` that duplicate any of its rows are removed; its own rows never are.
        config: a ``DedupConfig`` or its dict (a recipe's ``dedup:`` block).
        near: ``NearConfig`` or a dict of its fields, set on top of ``config.near``.
        semantic: ``SemanticConfig`` or a dict of its fields, set on top of ``config.semantic``.
        against_embeddings: ``(ids, matrix)`` of ``against``'s rows, for semantic dedup against a table.
        signatures_path: keep the near signatures in this ``.npy`` memmap rather than in memory.
        progress: show progress bars.
        **deprecated: the flat ``threshold=``, ``floor=``, ``num_perm=``, ``ngram=``, ``shingle=``,
            ``seed=``, ``verify=``, ``semantic_threshold=`` and ``signatures=``/``lengths=``; they still
            work, with a DeprecationWarning naming the new spelling.

    Returns:
        A :class:`DedupResult`: every removal with its method, kept row and similarity, re-thresholdable
        without recomputing.

    Raises:
        UserError: an unknown method, a bad setting (``config``, ``near``, ``semantic``), ``data`` without the columns a method needs, a
            ``keep`` column found nowhere, missing or misaligned embeddings, or near dedup against
            ``(ids, matrix)``.
        TypeError: an unknown keyword argument.
    """
    signatures, lengths = _moved_inputs(deprecated)
    cfg = _settings(config, near, semantic, methods, keep, deprecated)
    if signatures is not None or lengths is not None:
        old = "signatures" if signatures is not None else "lengths"
        moved("curate.dedup", old, "curate.duplicates.dedup_signatures(rows, signatures, lengths)")
    table = conversation_table(data, messages=False)
    if "semantic" in cfg.methods and embeddings is None:
        embeddings = _stored(data, cfg.semantic)
    return _dedup(table, cfg, scores, embeddings, against, against_embeddings, signatures, lengths,
                  signatures_path, progress)


def dedup_signatures(
    rows: Any,
    signatures: np.ndarray | None,
    lengths: np.ndarray | None = None,
    methods: tuple[str, ...] | list[str] | str | None = None,
    keep: str | None = None,
    scores: pd.DataFrame | None = None,
    embeddings: Embeddings | None = None,
    against: Any = None,
    *,
    config: DedupConfig | dict | None = None,
    near: NearConfig | dict | None = None,
    semantic: SemanticConfig | dict | None = None,
    against_embeddings: Embeddings | None = None,
    progress: bool = True,
) -> DedupResult:
    """:func:`dedup` from precomputed signatures, so the text never has to be in memory at once
    (``curate.run`` at The Tome's size). The same result as ``dedup`` on the rows' text.

    Args:
        rows: a table of ids (with ``row`` and score columns as ``keep`` needs; no messages needed), as
            :func:`dedup`'s ``data``. Near with ``verify='exact'`` needs the rows' messages.
        signatures: uint32 ``(rows, num_perm)`` MinHash signatures aligned with ``rows``, as
            ``minhash.signatures`` makes them with the near settings (a memmap will do); None when near
            is not run.
        lengths: text characters per row, aligned with ``rows``, for keep='longest'.
        methods: as in :func:`dedup`.
        keep: as in :func:`dedup`.
        scores: as in :func:`dedup`.
        embeddings: ``(ids, matrix)`` for semantic dedup.
        against: as in :func:`dedup`.
        config: as in :func:`dedup`.
        near: as in :func:`dedup`.
        semantic: as in :func:`dedup`.
        against_embeddings: as in :func:`dedup`.
        progress: show progress bars.

    Returns:
        A :class:`DedupResult`, as :func:`dedup` gives.

    Raises:
        UserError: as :func:`dedup`, and signatures whose shape is not ``(rows, near.num_perm)``.
    """
    cfg = _settings(config, near, semantic, methods, keep)
    return _dedup(conversation_table(rows, "rows", messages=False), cfg, scores, embeddings, against, against_embeddings,
                  signatures, lengths, None, progress)


def _dedup(table: pa.Table, cfg: DedupConfig, scores: pd.DataFrame | None, embeddings: Embeddings | None,
           against: Any, against_embeddings: Embeddings | None, signatures: np.ndarray | None,
           lengths: np.ndarray | None, signatures_path: str | Path | None, progress: bool) -> DedupResult:
    """The one core of both entry points: exact -> near -> semantic on the survivors of the last."""
    methods = cfg.ordered_methods()
    _check_inputs(table, cfg, signatures, lengths)
    n = table.num_rows
    ids = np.asarray(table["id"].to_pylist(), dtype=object)
    rows = _rows(table, n)
    rank = keep_rank(table, cfg.keep, scores, lengths)
    against_table, against_emb, against_ids = _against(against, against_embeddings, methods)
    cross = against_ids is not None
    against_rows = _rows(against_table, len(against_ids)) if cross else None
    if "semantic" in methods:
        embeddings = _split_embeddings(embeddings, "embeddings")
        if cross and against_emb is None:
            raise UserError("semantic dedup against a table needs against_embeddings=(ids, matrix)")

    pairs: dict[str, Pairs] = {}
    survivors = np.arange(n)
    if "exact" in methods:
        pairs["exact"], survivors = _exact(ids, rank, against_ids)
    if "near" in methods:
        pairs["near"] = _near(table, survivors, cfg.near, against_table, signatures_path, progress, signatures)
    if "semantic" in methods:
        pairs["semantic"] = _semantic(embeddings, ids, survivors, cfg.semantic, against_emb, progress)
    return DedupResult(ids, rows, rank, pairs, cfg.keep, against_ids, against_rows)


def _check_inputs(table: pa.Table, cfg: DedupConfig, signatures: np.ndarray | None,
                  lengths: np.ndarray | None) -> None:
    """What a table of ids without messages must come with, said before any work starts."""
    near = "near" in cfg.methods
    if "messages" not in table.column_names:
        why = ("near dedup with verify='exact' needs the messages column" if near and cfg.near.verify == "exact"
               else "near dedup needs the messages column or signatures=" if near and signatures is None
               else "keep='longest' needs the messages column or lengths=" if cfg.keep == "longest" and lengths is None
               else None)
        if why:
            raise UserError(f"data: {why}; the table has only {table.column_names[:8]}")
    n = table.num_rows
    if signatures is not None and near and signatures.shape != (n, cfg.near.num_perm):
        raise UserError(f"signatures: shape {signatures.shape}, expected ({n}, {cfg.near.num_perm}) "
                        "(one row per data row, near num_perm columns)")


def _rows(table: pa.Table | None, n: int) -> np.ndarray:
    """Input row numbers: the ``row`` column when there is one, else positions."""
    if table is not None and "row" in table.column_names:
        return table["row"].to_numpy().astype(np.int64)
    return np.arange(n, dtype=np.int64)


def _against(against: Any, against_embeddings: Embeddings | None, methods: list[str]):
    """``(table, embeddings, ids)`` of the reference dataset (all None without one): a table, or
    ``(ids, matrix)`` for semantic dedup only."""
    if against is None:
        return None, against_embeddings, None
    if isinstance(against, tuple):
        if "near" in methods:
            raise UserError("near dedup against another dataset needs its table, not (ids, matrix)")
        emb = _split_embeddings(against, "against")
        return None, emb, np.asarray(emb[0], dtype=object)
    table = conversation_table(against, "against")
    return table, against_embeddings, np.asarray(table["id"].to_pylist(), dtype=object)


def _stored(data: Any, cfg: SemanticConfig) -> Embeddings:
    """The vectors ``cfg.embedding`` / ``cfg.column`` names, from the run directory ``data`` is."""
    if isinstance(data, str | Path) and RunDir(data).scores_dir.is_dir():
        return RunDir(data).embeddings(cfg.embedding, cfg.column)
    raise UserError("semantic dedup needs embeddings=(ids, matrix), e.g. curate.load_embeddings(run), "
                    "or a run directory as data (its scorer named by semantic.embedding)")


def _exact(ids: np.ndarray, rank: np.ndarray, against_ids: np.ndarray | None) -> tuple[Pairs, np.ndarray]:
    """Identical ids are duplicates (the id hashes the normalized messages). Also returns the rows that
    go on to the next methods: one per id (the best-ranked), minus those found in ``against``."""
    codes, _ = pd.factorize(ids)
    order = np.lexsort((rank, codes))
    first = np.concatenate([[True], codes[order][1:] != codes[order][:-1]]) if len(ids) else np.zeros(0, bool)
    best = np.empty(codes.max() + 1 if len(ids) else 0, np.int64)
    best[codes[order][first]] = order[first]
    if against_ids is not None:
        pos = pd.Index(against_ids).get_indexer(ids)
        a = np.nonzero(pos >= 0)[0]
        p = Pairs(a, pos[a].astype(np.int64), np.ones(len(a), np.float32), None, None)
        return p, np.setdiff1d(np.arange(len(ids)), a)
    others = np.setdiff1d(np.arange(len(ids)), best[codes])
    p = Pairs(best[codes[others]], others, np.ones(len(others), np.float32), None, None)
    return p, np.sort(best)


def _near(table, sub, cfg: NearConfig, against_table, signatures_path, progress, pre=None) -> Pairs:
    def sign(m):
        return minhash.signatures(m, cfg.num_perm, cfg.ngram, cfg.shingle, cfg.seed, cfg.chunk_rows,
                                  out=signatures_path, progress=progress, method=cfg.method)

    split = None if against_table is None else len(sub)
    msgs = None
    if pre is None or cfg.verify == "exact":  # every row in order (no exact duplicates): no copy of the text
        everyone = len(sub) == table.num_rows and bool((np.diff(sub) == 1).all())
        msgs = table["messages"] if everyone else table["messages"].take(pa.array(sub))
        if against_table is not None:
            msgs = pa.chunked_array(msgs.chunks + against_table["messages"].chunks, type=msgs.type)
    floor = cfg.candidate_floor()
    if pre is None:
        sig = sign(msgs)
    else:  # precomputed for every data row: the survivors' rows, then against's own
        sig = np.asarray(pre[sub], dtype=np.uint32)
        if against_table is not None:
            sig = np.concatenate([sig, sign(against_table["messages"].combine_chunks())])
    cand = minhash.candidate_pairs(sig, floor, cfg.false_positive_weight, split)
    a, b = cand[:, 0], cand[:, 1]
    if cfg.verify == "exact":
        mat = minhash.shingle_matrix(msgs, cfg.ngram, cfg.shingle)

        def local_sim(x, y):
            return minhash.exact_jaccard(mat, x, y)
    else:
        def local_sim(x, y):
            return minhash.estimated_jaccard(sig, x, y)
    sims = local_sim(a, b)
    ok = sims >= floor
    a, b, sims = a[ok], b[ok], sims[ok]
    n = table.num_rows
    local = np.full(n, -1, np.int64)
    local[sub] = np.arange(len(sub))
    bands, rows = minhash.optimal_param(floor, cfg.num_perm, cfg.false_positive_weight, 1 - cfg.false_positive_weight)
    settings = cfg.model_dump() | {"floor": floor, "bands": bands, "rows_per_band": rows, "candidates": len(cand)}
    if split is None:
        return Pairs(sub[a], sub[b], sims, cfg.threshold, floor, settings, lambda x, y: local_sim(local[x], local[y]))
    return Pairs(sub[a], b - split, sims, cfg.threshold, floor, settings,
                 lambda x, y: local_sim(local[x], y + split))


def _semantic(emb, ids, sub, cfg: SemanticConfig, against_emb, progress) -> Pairs:
    x_all = _aligned(emb, ids, "embeddings")
    x = x_all if len(sub) == len(ids) else x_all[sub]
    y = None
    if against_emb is not None:
        y = np.asarray(against_emb[1])
        if len(against_emb[0]) != len(y):
            raise UserError(f"against embeddings: {len(against_emb[0])} ids but {len(y)} vectors")
    if y is not None and y.shape[1] != x.shape[1]:
        raise UserError(f"against embeddings have {y.shape[1]} dims, data has {x.shape[1]}")
    floor = cfg.candidate_floor()
    backend = cfg.backend
    if backend == "auto":
        backend = "exact" if len(x) <= cfg.exact_max_rows and (y is None or len(y) <= cfg.exact_max_rows) else "kmeans"
    if backend == "exact":
        a, b, s = semantic.exact_pairs(x, floor, y, progress=progress)
    elif backend == "kmeans":
        a, b, s = semantic.cluster_pairs(x, floor, y, cfg.clusters, cfg.probes, cfg.seed, progress=progress)
    else:
        a, b, s = semantic.ann_pairs(x, floor, cfg.k, y, progress=progress)
    local = np.full(len(ids), -1, np.int64)
    local[sub] = np.arange(len(sub))
    settings = cfg.model_dump() | {"floor": floor, "backend_used": backend, "dim": int(x.shape[1])}
    if y is None:
        return Pairs(sub[a], sub[b], s, cfg.threshold, floor, settings,
                     lambda p, q: semantic.cosine(x, local[p], local[q]))
    return Pairs(sub[a], b, s, cfg.threshold, floor, settings, lambda p, q: semantic.cosine(x, local[p], q, y))
