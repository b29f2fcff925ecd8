"""Length-aware batching shared by the model scorers: sorted batches, prefix chains, padded tensors.

Padding is the waste in transformer batches: a batch costs ``rows x longest row``. Sorting the rows
of a window by token length before cutting batches keeps every batch's rows about equally long
(NeMo Curator: tokenize -> sort by length -> model -> unsort); results go back in input order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")


def length_batches(
    lengths: Sequence[int], batch_size: int, max_tokens: int | None = None
) -> list[list[int]]:
    """Indices into ``lengths`` cut into batches of similar length, longest first.

    A batch holds at most ``batch_size`` rows and, when ``max_tokens`` is set, at most
    ``max_tokens`` padded tokens (rows x longest), so long rows get small batches and short rows
    big ones. Longest first makes an out-of-memory error show up on the first batch.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    batches: list[list[int]] = []
    cur: list[int] = []
    for i in order:
        longest = lengths[cur[0]] if cur else lengths[i]
        if cur and (len(cur) >= batch_size or (max_tokens and longest * (len(cur) + 1) > max_tokens)):
            batches.append(cur)
            cur = []
        cur.append(i)
    if cur:
        batches.append(cur)
    return batches


def run_sorted(
    items: Sequence[T],
    lengths: Sequence[int],
    fn: Callable[[list[T]], Sequence[Any]],
    batch_size: int,
    max_tokens: int | None = None,
    stats: dict[str, int] | None = None,
) -> list[Any]:
    """Apply ``fn`` to length-sorted batches of ``items`` and return its outputs in input order.

    ``stats`` (if given) accumulates ``real_tokens`` and ``padded_tokens`` to report padding waste.
    """
    out: list[Any] = [None] * len(items)
    for batch in length_batches(lengths, batch_size, max_tokens):
        results = fn([items[i] for i in batch])
        if len(results) != len(batch):
            raise RuntimeError(f"batch function returned {len(results)} results for {len(batch)} items")
        for i, r in zip(batch, results, strict=True):
            out[i] = r
        if stats is not None:
            stats["real_tokens"] = stats.get("real_tokens", 0) + sum(lengths[i] for i in batch)
            stats["padded_tokens"] = stats.get("padded_tokens", 0) + max(lengths[i] for i in batch) * len(batch)
    return out


def prefix_chains(seqs: Sequence[Sequence[int]]) -> list[list[int]]:
    """Indices of ``seqs`` grouped so that each sequence is a token prefix of the next in its group.

    Under causal attention a position never sees what follows it, so one forward pass over a group's
    last sequence gives every member's outputs at the member's own positions: a conversation's turns
    (each scored with its context) cost one pass over the conversation instead of one per turn.
    Only consecutive sequences chain; one that is not an exact prefix (a template that rewrites
    earlier turns, a left-truncated context) starts a new group.
    """
    groups: list[list[int]] = []
    for i, s in enumerate(seqs):
        if groups:
            prev = seqs[groups[-1][-1]]
            if len(prev) <= len(s) and list(s[: len(prev)]) == list(prev):
                groups[-1].append(i)
                continue
        groups.append([i])
    return groups


def pad_batch(seqs: Sequence[Sequence[int]], pad_id: int | None, left: bool, device: str) -> tuple[Any, Any]:
    """(ids, attention mask) tensors for token sequences, padded on the left or right.

    The mask is None when every sequence has the same length: without one, transformers runs the
    fused causal attention kernel, which is faster than the masked path (and gives the same numbers).
    """
    import torch

    lens = [len(s) for s in seqs]
    width = max(lens)
    rows = [[pad_id or 0] * (width - n) + list(s) if left else list(s) + [pad_id or 0] * (width - n)
            for s, n in zip(seqs, lens, strict=True)]
    ids = torch.tensor(rows, device=device)
    if min(lens) == width:
        return ids, None
    n, pos = torch.tensor(lens, device=device)[:, None], torch.arange(width, device=device)[None, :]
    return ids, (pos >= width - n if left else pos < n).long()


def padding_waste(stats: dict[str, int]) -> float:
    """Padded tokens per real token minus one (0.0 = no padding at all)."""
    real = stats.get("real_tokens", 0)
    return stats.get("padded_tokens", 0) / real - 1.0 if real else 0.0
