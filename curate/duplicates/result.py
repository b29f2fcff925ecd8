"""The outcome of a dedup run: candidate pairs with their similarities (kept down to a floor), turned
into removals by thresholds that can change without recomputing signatures or neighbours.

Resolution runs the methods in order (exact, near, semantic); each sees only the rows the earlier
ones kept. Within a connected cluster of pairs at or above the threshold, the row with the best keep
rank survives and every other row records the kept row, the method and its similarity to it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from curate.rundir import DedupFiles, write_json, write_parquet

REMOVED_COLUMNS = ["id", "row", "method", "duplicate_of", "duplicate_of_row", "similarity"]
SimFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass
class Pairs:
    """Candidate pairs of one method. ``a`` indexes data rows; ``b`` indexes data rows too, or rows of
    the ``against`` table in cross mode. ``threshold=None`` (exact) means every pair counts."""

    a: np.ndarray
    b: np.ndarray
    sim: np.ndarray
    threshold: float | None
    floor: float | None
    settings: dict[str, Any] = field(default_factory=dict)
    sim_fn: SimFn | None = None  # direct similarity of any two rows (in memory only)

    def active(self) -> np.ndarray:
        """Which pairs are duplicates at the threshold (every pair when there is none)."""
        return np.ones(len(self.a), bool) if self.threshold is None else self.sim >= self.threshold


@dataclass
class DedupResult:
    """Removals with reasons, plus what is needed to re-threshold, explain and save them.

    Attributes:
        ids: the data rows' ids, in input order.
        rows: the data rows' input row numbers.
        rank: each row's keep priority: lower survives.
        pairs: each method's candidate pairs (:class:`Pairs`), in the order the methods ran.
        keep: the keep rule that gave ``rank``.
        against_ids: the reference rows' ids when dedup ran against another dataset; else None.
        against_rows: the reference rows' input row numbers, or None.
    """

    ids: np.ndarray
    rows: np.ndarray
    rank: np.ndarray  # keep priority: lower survives
    pairs: dict[str, Pairs]
    keep: str = "first"
    against_ids: np.ndarray | None = None
    against_rows: np.ndarray | None = None
    _removed: pd.DataFrame | None = field(default=None, repr=False)
    _mask: np.ndarray | None = field(default=None, repr=False)

    # --- resolution -----------------------------------------------------------------------
    @property
    def cross(self) -> bool:
        """Whether dedup ran against another dataset."""
        return self.against_ids is not None

    @property
    def methods(self) -> list[str]:
        """The methods that ran, in order."""
        return list(self.pairs)

    @property
    def removed(self) -> pd.DataFrame:
        """One row per removed data row: id, row, method, duplicate_of (kept id), duplicate_of_row, similarity."""
        if self._removed is None:
            self._removed, self._mask = self._resolve()
        return self._removed

    def _resolve(self) -> tuple[pd.DataFrame, np.ndarray]:
        n = len(self.ids)
        alive = np.ones(n, bool)
        frames = []
        for method, p in self.pairs.items():
            on = p.active()
            a, b, s = p.a[on], p.b[on], p.sim[on]
            if self.cross:
                rem, kept, sim = self._cross(a, b, s, alive)
                dup_ids, dup_rows = self.against_ids[kept], self.against_rows[kept]
            else:
                rem, kept, sim = self._clusters(p, a, b, s, alive)
                dup_ids, dup_rows = self.ids[kept], self.rows[kept]
            alive[rem] = False
            frames.append(pd.DataFrame({
                "id": self.ids[rem], "row": self.rows[rem], "method": method,
                "duplicate_of": dup_ids, "duplicate_of_row": dup_rows, "similarity": sim.astype(np.float64),
            }))
        out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=REMOVED_COLUMNS)
        return out.astype({"row": np.int64, "duplicate_of_row": np.int64}), alive

    @staticmethod
    def _cross(a, b, s, alive) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        ok = alive[a]
        a, b, s = a[ok], b[ok], s[ok]
        order = np.lexsort((-s, a))  # per data row, its most similar reference row first
        a, b, s = a[order], b[order], s[order]
        first = np.concatenate([[True], a[1:] != a[:-1]]) if len(a) else np.zeros(0, bool)
        return a[first], b[first], s[first]

    def _clusters(self, p: Pairs, a, b, s, alive) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        n = len(self.ids)
        ok = alive[a] & alive[b]
        a, b, s = a[ok], b[ok], s[ok]
        if not len(a):
            return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32)
        graph = sparse.coo_matrix((np.ones(len(a), np.int8), (a, b)), shape=(n, n))
        _, label = connected_components(graph, directed=False)
        nodes = np.unique(np.concatenate([a, b]))
        order = np.lexsort((self.rank[nodes], label[nodes]))
        sorted_nodes = nodes[order]
        lab = label[sorted_nodes]
        first = np.concatenate([[True], lab[1:] != lab[:-1]])
        keeper = np.full(label.max() + 1, -1, np.int64)
        keeper[lab[first]] = sorted_nodes[first]
        rem = sorted_nodes[~first]
        kept = keeper[label[rem]]
        return rem, kept, self._similarity(p, rem, kept, a, b, s)

    def _similarity(self, p: Pairs, rem, kept, a, b, s) -> np.ndarray:
        """Similarity of each removed row to the row it was kept in favour of: the stored pair if
        there is one, else computed directly, else (after load) its best link inside the cluster."""
        n = np.uint64(len(self.ids))
        codes = np.minimum(p.a, p.b).astype(np.uint64) * n + np.maximum(p.a, p.b).astype(np.uint64)
        order = np.argsort(codes)
        codes = codes[order]
        want = np.minimum(rem, kept).astype(np.uint64) * n + np.maximum(rem, kept).astype(np.uint64)
        pos = np.clip(np.searchsorted(codes, want), 0, max(len(codes) - 1, 0))
        found = codes[pos] == want if len(codes) else np.zeros(len(want), bool)
        out = np.full(len(rem), np.nan, np.float32)
        out[found] = p.sim[order][pos[found]]
        missing = ~found
        if missing.any() and p.sim_fn is not None:
            out[missing] = p.sim_fn(rem[missing], kept[missing])
            missing[:] = False
        if missing.any():
            best = pd.concat([pd.Series(s, index=a), pd.Series(s, index=b)]).groupby(level=0).max()
            out[missing] = best.reindex(rem[missing]).to_numpy()
        return out

    # --- views ----------------------------------------------------------------------------
    @property
    def keep_mask(self) -> np.ndarray:
        """True for data rows that survive, aligned with the input rows."""
        self.removed  # noqa: B018  (resolves on first use)
        return self._mask.copy()

    @property
    def kept_ids(self) -> list[str]:
        """The surviving rows' ids, in input order."""
        return self.ids[self.keep_mask].tolist()

    @property
    def counts(self) -> dict[str, int]:
        """Rows each method removed."""
        got = self.removed["method"].value_counts()
        return {m: int(got.get(m, 0)) for m in self.pairs}

    def summary(self) -> dict[str, Any]:
        """Rows, kept, removed per method, thresholds, keep rule and reference rows (None unless cross)."""
        return {"rows": len(self.ids), "kept": int(self.keep_mask.sum()), "removed": self.counts,
                "thresholds": {m: p.threshold for m, p in self.pairs.items()}, "keep": self.keep,
                "against": None if not self.cross else len(self.against_ids)}

    def __repr__(self) -> str:
        s = self.summary()
        return f"DedupResult(rows={s['rows']}, kept={s['kept']}, removed={s['removed']}, thresholds={s['thresholds']})"

    def _pairs(self, method: str) -> Pairs:
        if method not in self.pairs:
            raise KeyError(f"no {method!r} results here; methods run: {self.methods}")
        return self.pairs[method]

    def rethreshold(self, method: str, threshold: float) -> DedupResult:
        """The same dedup at another threshold for ``method``, from the stored pairs (no recompute).

        Args:
            method: ``near`` or ``semantic``.
            threshold: the new similarity threshold, at or above the floor the pairs were kept down to.

        Returns:
            A new DedupResult; this one is unchanged.

        Raises:
            KeyError: ``method`` did not run.
            ValueError: ``method`` has no threshold (exact), or ``threshold`` is below the pairs' floor.
        """
        p = self._pairs(method)
        if p.threshold is None:
            raise ValueError(f"{method!r} has no threshold (identical ids are duplicates)")
        if p.floor is not None and threshold < p.floor - 1e-9:
            raise ValueError(f"{method} pairs were kept down to {p.floor}; rerun with floor <= {threshold}")
        pairs = dict(self.pairs)
        pairs[method] = replace(p, threshold=float(threshold))
        return replace(self, pairs=pairs, _removed=None, _mask=None)

    def _other(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.cross:
            return self.against_ids[idx], self.against_rows[idx]
        return self.ids[idx], self.rows[idx]

    def clusters(self, method: str, top: int = 10) -> pd.DataFrame:
        """The largest clusters of ``method``: kept row, size, similarity range, removed ids."""
        self._pairs(method)
        r = self.removed[self.removed["method"] == method]
        if r.empty:
            return pd.DataFrame(columns=["kept_id", "kept_row", "size", "min_similarity", "max_similarity", "removed_ids"])
        g = r.groupby(["duplicate_of", "duplicate_of_row"], sort=False).agg(
            size=("id", "size"), min_similarity=("similarity", "min"), max_similarity=("similarity", "max"),
            removed_ids=("id", list), removed_rows=("row", list))
        g["size"] += 0 if self.cross else 1
        g = g.reset_index().rename(columns={"duplicate_of": "kept_id", "duplicate_of_row": "kept_row"})
        return g.sort_values(["size", "kept_row"], ascending=[False, True]).head(top).reset_index(drop=True)

    def borderline(self, method: str, k: int = 10) -> pd.DataFrame:
        """The ``k`` pairs just above and the ``k`` just below the threshold, to tune it by eye."""
        p = self._pairs(method)
        if p.threshold is None:
            raise ValueError(f"{method!r} has no threshold to tune")
        above = np.nonzero(p.sim >= p.threshold)[0]
        below = np.nonzero(p.sim < p.threshold)[0]
        above = above[np.argsort(p.sim[above], kind="stable")[:k]]
        below = below[np.argsort(-p.sim[below], kind="stable")[:k]]
        rows = []
        for side, idx in (("above", above), ("below", below)):
            bid, brow = self._other(p.b[idx])
            rows.append(pd.DataFrame({"side": side, "similarity": p.sim[idx].astype(np.float64),
                                      "id_a": self.ids[p.a[idx]], "row_a": self.rows[p.a[idx]],
                                      "id_b": bid, "row_b": brow}))
        return pd.concat(rows, ignore_index=True)

    def similarity_histogram(self, method: str, bins: int = 20) -> tuple[np.ndarray, np.ndarray]:
        """``np.histogram`` of candidate-pair similarities (from the floor up)."""
        p = self._pairs(method)
        lo = p.floor if p.floor is not None else 0.0
        return np.histogram(p.sim, bins=bins, range=(lo, 1.0))

    def plot_histogram(self, path: str | Path, methods: list[str] | None = None, bins: int = 20) -> Path:
        """PNG of each method's pair-similarity histogram with its threshold marked."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from curate.rundir import atomic_path

        methods = [m for m in (methods or self.methods) if self.pairs[m].threshold is not None]
        fig, axes = plt.subplots(1, max(1, len(methods)), figsize=(5 * max(1, len(methods)), 3.5), squeeze=False)
        for ax, m in zip(axes[0], methods, strict=False):
            counts, edges = self.similarity_histogram(m, bins)
            ax.bar(edges[:-1], counts, width=np.diff(edges), align="edge", color="#4c72b0")
            ax.axvline(self.pairs[m].threshold, color="#c44e52", linestyle="--", label=f"threshold {self.pairs[m].threshold}")
            ax.set(title=f"{m}: candidate pair similarity", xlabel="similarity", ylabel="pairs")
            ax.legend()
        fig.tight_layout()
        path = Path(path)
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=100)
        plt.close(fig)
        return path

    # --- persistence ----------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write ``RUN/dedup/`` (``DedupFiles``; ``path``: the run or the folder): ``<method>.parquet``
        removals, ``pairs/<method>.parquet``, rows, meta.

        Returns:
            The dedup folder written.
        """
        files = DedupFiles.of(path)
        removed = self.removed
        for m, p in self.pairs.items():
            write_parquet(files.removals(m), pa.Table.from_pandas(removed[removed["method"] == m], preserve_index=False))
            write_parquet(files.pairs(m), pa.table({"a": p.a, "b": p.b, "similarity": p.sim}))
        write_parquet(files.rows, pa.table({"id": self.ids.astype(str), "row": self.rows, "rank": self.rank}))
        if self.cross:
            write_parquet(files.against, pa.table({"id": self.against_ids.astype(str), "row": self.against_rows}))
        write_json(files.meta, {
            "keep": self.keep, "methods": self.methods, "counts": self.counts, "kept": int(self.keep_mask.sum()),
            "rows": len(self.ids), "cross": self.cross,
            "pairs": {m: {"threshold": p.threshold, "floor": p.floor, "settings": p.settings} for m, p in self.pairs.items()},
        })
        return files.folder

    @classmethod
    def load(cls, path: str | Path) -> DedupResult:
        """Read a saved result; it re-thresholds and explains like the original."""
        import pyarrow.parquet as pq

        files = DedupFiles.of(path)
        if not files.meta.exists():
            raise FileNotFoundError(f"no dedup result at {files.folder} (expected {files.meta.name})")
        meta = json.loads(files.meta.read_text())
        rows = pq.read_table(files.rows)
        pairs = {}
        for m in meta["methods"]:
            t = pq.read_table(files.pairs(m))
            info = meta["pairs"][m]
            pairs[m] = Pairs(t["a"].to_numpy(), t["b"].to_numpy(), t["similarity"].to_numpy(),
                             info["threshold"], info["floor"], info["settings"])
        against_ids = against_rows = None
        if meta["cross"]:
            at = pq.read_table(files.against)
            against_ids = np.asarray(at["id"].to_pylist(), dtype=object)
            against_rows = at["row"].to_numpy()
        return cls(np.asarray(rows["id"].to_pylist(), dtype=object), rows["row"].to_numpy(), rows["rank"].to_numpy(),
                   pairs, meta["keep"], against_ids, against_rows)
