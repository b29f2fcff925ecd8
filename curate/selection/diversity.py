"""Greedy selection in rank order under quotas, budgets and a diversity threshold.

Diversity follows Deita's repr filter: walk candidates best-first and skip one whose cosine
similarity to anything already selected is >= ``threshold``. The nearest-neighbour check is
vectorized: candidates come in blocks, each block is matmul'ed against the selected matrix (in
chunks, keeping a running max), and only the conflicts *inside* the block are resolved one
candidate at a time against a precomputed block x block similarity matrix. Python never loops
over the selected rows, so the cost is O(N*k*d) BLAS flops plus O(N*block) numpy work.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from tqdm.auto import tqdm

BLOCK = 512
SEL_CHUNK = 16384


def unit_rows(matrix: np.ndarray) -> np.ndarray:
    """float32 rows scaled to unit length (zero rows stay zero)."""
    m = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    return m / np.where(norms > 0, norms, 1.0)


@dataclass
class Limits:
    """What the walk may take: row/token budgets and per-group caps (``None`` = unlimited)."""

    rows: int | None = None
    tokens: int | None = None
    group_rows: dict[str, int] | None = None  # a group missing here is capped at 0 when strict
    group_tokens: dict[str, int] | None = None
    strict_groups: bool = False  # mix quotas: unnamed groups get nothing


@dataclass
class WalkResult:
    selected: list[int] = field(default_factory=list)  # candidate positions, in selection order
    max_cos: dict[int, float] = field(default_factory=dict)  # selected position -> max cos before it
    rejected: dict[int, str] = field(default_factory=dict)  # position -> reason
    # order[tail:] were never reached: the budget was spent (kept out of ``rejected``, which would
    # otherwise hold a Python int and a dict slot for nearly every row of a large table)
    tail: int | None = None


@dataclass
class _Taken:
    """What the walk has taken: rows and tokens in all and per group, and the chosen rows' positions
    and vectors (the matrix new candidates are compared with)."""

    limits: Limits
    positions: np.ndarray
    vectors: np.ndarray | None
    rows: int = 0
    tokens: int = 0
    group_rows: dict[str, int] = field(default_factory=dict)
    group_tokens: dict[str, int] = field(default_factory=dict)
    done: bool = False  # a budget is spent: every later row is rejected for it

    def over_quota(self, g: str, t: int) -> bool:
        limits = self.limits
        if limits.group_rows is not None:
            cap = limits.group_rows.get(g, 0 if limits.strict_groups else None)
            if cap is not None and self.group_rows.get(g, 0) >= cap:
                return True
        if limits.group_tokens is not None:
            cap = limits.group_tokens.get(g, 0 if limits.strict_groups else None)
            if cap is not None and self.group_tokens.get(g, 0) + t > cap:
                return True
        return False

    def over_budget(self, t: int) -> bool:
        if self.limits.tokens is not None and self.tokens + t > self.limits.tokens:
            self.done = self.tokens >= self.limits.tokens
            return True
        return False

    def add(self, p: int, t: int, g: str | None, vector: np.ndarray | None) -> None:
        self.tokens += t
        if g is not None:
            self.group_rows[g] = self.group_rows.get(g, 0) + 1
            self.group_tokens[g] = self.group_tokens.get(g, 0) + t
        if self.vectors is not None:
            self.vectors[self.rows] = vector
        self.positions[self.rows] = p
        self.rows += 1
        self.done = self.limits.rows is not None and self.rows >= self.limits.rows


class _BlockSims:
    """A block of candidates' cosines: the highest to any row taken before the block (and which), and
    among themselves, for the conflicts with rows accepted earlier in the same block."""

    def __init__(self, vectors: np.ndarray, taken: np.ndarray):
        self.has_vector = ~np.isnan(vectors).any(axis=1)
        self.vectors = np.nan_to_num(vectors)
        self.best, self.best_at = _max_sim(self.vectors, taken)
        self.inner = self.vectors @ self.vectors.T
        self.accepted: list[int] = []  # offsets within the block

    def conflict(self, j: int, threshold: float, block: np.ndarray, taken: np.ndarray,
                 ids: Sequence[str] | None) -> tuple[str | None, float]:
        """``(why candidate j is too similar, or None; its highest cosine to what was taken)``."""
        if not self.has_vector[j]:  # cannot be checked: select() walks these rows last
            return None, float("nan")
        if self.best[j] >= threshold:
            return f"diversity: cos {self.best[j]:.2f} to {_name(ids, taken[self.best_at[j]])}", 0.0
        if not self.accepted:
            return None, float(self.best[j])
        sims = self.inner[j, self.accepted]
        k = int(np.argmax(sims))
        if sims[k] >= threshold:
            return f"diversity: cos {sims[k]:.2f} to {_name(ids, block[self.accepted[k]])}", 0.0
        return None, max(float(self.best[j]), float(sims[k]))


def greedy(
    order: np.ndarray,
    tokens: np.ndarray | None,
    groups: Sequence[str] | None,
    limits: Limits,
    group_label: str = "source",
    vectors: np.ndarray | None = None,
    threshold: float | None = None,
    ids: Sequence[str] | None = None,
    progress: bool = True,
) -> WalkResult:
    """Walk row positions in ``order``; ``vectors`` (unit rows, aligned with positions; NaN rows mean
    no embedding) enable the diversity check. Returns the chosen positions and per-row reasons (rows
    from ``tail`` on in ``order`` are rejected for the budget)."""
    out = WalkResult()
    diverse = vectors is not None and threshold is not None
    cap = min(len(order), limits.rows or len(order))
    taken = _Taken(limits, np.empty(cap, np.int64), np.empty((cap, vectors.shape[1]), np.float32) if diverse else None)
    bar = tqdm(total=len(order), desc="select", unit="row", disable=not progress or len(order) < 20000)
    for start in range(0, len(order), BLOCK):
        if taken.done:
            out.tail = start
            bar.update(len(order) - start)
            break
        block = order[start : start + BLOCK]
        bar.update(len(block))
        sims = _BlockSims(vectors[block], taken.vectors[:taken.rows]) if diverse else None
        for j, p in enumerate(block.tolist()):
            g = groups[p] if groups is not None else None
            t = int(tokens[p]) if tokens is not None else 0
            reason, cos = ("budget" if taken.done else None), 0.0
            if reason is None and g is not None and taken.over_quota(g, t):
                reason = f"quota: {group_label}={g}"
            if reason is None and sims is not None:
                reason, cos = sims.conflict(j, threshold, block, taken.positions, ids)
            if reason is None and taken.over_budget(t):
                reason = "budget"
            if reason is not None:
                out.rejected[p] = reason
                continue
            out.selected.append(p)
            if sims is not None:
                out.max_cos[p] = cos
                sims.accepted.append(j)
            taken.add(p, t, g, sims.vectors[j] if sims is not None else None)
    bar.close()
    return out


def _max_sim(block: np.ndarray, selected: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per block row: the highest cosine to any selected row and where (selected row index)."""
    best = np.full(len(block), -np.inf, dtype=np.float32)
    best_at = np.zeros(len(block), dtype=np.int64)
    for s in range(0, len(selected), SEL_CHUNK):
        sims = block @ selected[s : s + SEL_CHUNK].T
        arg = sims.argmax(axis=1)
        val = sims[np.arange(len(block)), arg]
        better = val > best
        best[better] = val[better]
        best_at[better] = arg[better] + s
    return best, best_at


def _name(ids: Sequence[str] | None, pos: int) -> str:
    return str(ids[int(pos)]) if ids is not None else f"row {int(pos)}"


def naive_greedy(order: np.ndarray, vectors: np.ndarray, threshold: float, rows: int | None = None) -> list[int]:
    """Reference implementation (benchmarks and tests only): a Python loop over selected rows."""
    chosen: list[int] = []
    for p in order:
        v = vectors[p]
        if all(float(np.dot(v, vectors[q])) < threshold for q in chosen):
            chosen.append(int(p))
            if rows is not None and len(chosen) >= rows:
                break
    return chosen
