"""MinHash signatures and text lengths of chosen rows of conversation shards, built a shard at a time
so the whole text never sits in memory (``curate.run`` at The Tome's size); the per-shard work is
``minhash.signatures``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from curate.duplicates import minhash
from curate.duplicates.config import DedupConfig
from curate.duplicates.shingles import text_lengths
from curate.rundir import DedupFiles


def shard_signatures(shards: list[Path], positions: np.ndarray, cfg: DedupConfig, folder: Path,
                     progress: bool = True) -> tuple[np.ndarray | None, np.ndarray | None]:
    """MinHash signatures (a .npy memmap in the dedup folder ``folder``) and text lengths of the rows at
    ``positions`` (indices into the concatenated shards, ascending); None for what ``cfg`` needs not."""
    near = "near" in cfg.methods and cfg.near.verify != "exact"
    lengths = np.zeros(len(positions), np.int64) if cfg.keep == "longest" else None
    if not near and lengths is None:
        return None, None
    sig = None
    if near and not len(positions):
        sig = np.zeros((0, cfg.near.num_perm), np.uint32)
    elif near:
        folder.mkdir(parents=True, exist_ok=True)
        sig = np.lib.format.open_memmap(DedupFiles(folder).signatures, mode="w+", dtype=np.uint32,
                                        shape=(len(positions), cfg.near.num_perm))
    start = 0
    for path in tqdm(shards, desc="signatures", unit="shard", disable=not progress or len(shards) < 2):
        n = pq.read_metadata(path).num_rows
        lo, hi = np.searchsorted(positions, [start, start + n])
        start += n
        if hi == lo:
            continue
        msgs = pq.read_table(path, columns=["messages"]).column("messages").take(pa.array(positions[lo:hi] - (start - n)))
        msgs = msgs.combine_chunks()
        if lengths is not None:
            lengths[lo:hi] = text_lengths(msgs)
        if sig is not None:
            c = cfg.near
            sig[lo:hi] = minhash.signatures(msgs, c.num_perm, c.ngram, c.shingle, c.seed, c.chunk_rows, progress=False,
                                            method=c.method)
        del msgs
    if sig is not None:
        sig.flush()
    return sig, lengths
