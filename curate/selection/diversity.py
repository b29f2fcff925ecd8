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
    n_rows = 0
    n_tokens = 0
    used_rows: dict[str, int] = {}
    used_tokens: dict[str, int] = {}
    diverse = vectors is not None and threshold is not None
    cap = min(len(order), limits.rows or len(order))
    sel_mat = np.empty((cap, vectors.shape[1]), dtype=np.float32) if diverse else None
    sel_pos = np.empty(cap, dtype=np.int64)
    bar = tqdm(total=len(order), desc="select", unit="row", disable=not progress or len(order) < 20000)
    done = False
    for start in range(0, len(order), BLOCK):
        if done:
            out.tail = start
            bar.update(len(order) - start)
            break
        block = order[start : start + BLOCK]
        bar.update(len(block))
        if diverse:
            bv = vectors[block]
            has_vec = ~np.isnan(bv).any(axis=1)
            bv = np.nan_to_num(bv)
            best, best_at = _max_sim(bv, sel_mat[:n_rows])
            inner = bv @ bv.T
        accepted_in_block: list[int] = []  # offsets within block
        for j, p in enumerate(block):
            p = int(p)
            if done:
                out.rejected[p] = "budget"
                continue
            g = groups[p] if groups is not None else None
            t = int(tokens[p]) if tokens is not None else 0
            if g is not None and _over_quota(g, t, used_rows, used_tokens, limits):
                out.rejected[p] = f"quota: {group_label}={g}"
                continue
            if diverse:
                if not has_vec[j]:
                    out.rejected[p] = "diversity: no embedding"
                    continue
                if best[j] >= threshold:
                    out.rejected[p] = f"diversity: cos {best[j]:.2f} to {_name(ids, sel_pos[best_at[j]])}"
                    continue
                if accepted_in_block:
                    sims = inner[j, accepted_in_block]
                    k = int(np.argmax(sims))
                    if sims[k] >= threshold:
                        other = block[accepted_in_block[k]]
                        out.rejected[p] = f"diversity: cos {sims[k]:.2f} to {_name(ids, other)}"
                        continue
                    mx = max(float(best[j]), float(sims[k]))
                else:
                    mx = float(best[j])
            if limits.tokens is not None and n_tokens + t > limits.tokens:
                out.rejected[p] = "budget"
                done = n_tokens >= limits.tokens
                continue
            out.selected.append(p)
            if diverse:
                out.max_cos[p] = mx
                accepted_in_block.append(j)
            n_tokens += t
            if g is not None:
                used_rows[g] = used_rows.get(g, 0) + 1
                used_tokens[g] = used_tokens.get(g, 0) + t
            n_rows += 1
            if diverse:
                sel_mat[n_rows - 1] = bv[j]
            sel_pos[n_rows - 1] = p
            if limits.rows is not None and n_rows >= limits.rows:
                done = True
    bar.close()
    return out


def _over_quota(g: str, t: int, used_rows: dict, used_tokens: dict, limits: Limits) -> bool:
    if limits.group_rows is not None:
        cap = limits.group_rows.get(g, 0 if limits.strict_groups else None)
        if cap is not None and used_rows.get(g, 0) >= cap:
            return True
    if limits.group_tokens is not None:
        cap = limits.group_tokens.get(g, 0 if limits.strict_groups else None)
        if cap is not None and used_tokens.get(g, 0) + t > cap:
            return True
    return False


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
