"""Atomic writes and fingerprints: the bottom of the import graph, below ``curate.store`` and
``curate.rundir`` (both import it; it imports nothing of curate). Named ``files`` rather than ``io`` so a
script run from inside ``curate/`` cannot shadow the standard library's ``io``.

Every file curate writes goes through here: a temp file beside the target, ``os.replace`` when the
block finishes, mode 0666 less the umask. ``curate.rundir`` re-exports these names.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

TMP_SUFFIX = ".tmp"  # atomic_path's temp files: ``.<name>.<random>.tmp``; a killed run may leave some


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temp path beside ``path``; it replaces ``path`` only if the block finishes. The temp file is
    created with mode 0666 less the umask, like any file a program writes (mkstemp's 0600 would stay)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = str(path.parent / f".{path.name}.{secrets.token_hex(4)}{TMP_SUFFIX}")
    os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | os.PathLike, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n")


def write_parquet(path: str | os.PathLike, table: pa.Table) -> None:
    """Atomic zstd Parquet. Ids and message texts are unique per row: writing them without trying a
    dictionary first costs ~15% less CPU and the same bytes."""
    names = [c for c in table.column_names if c not in ("id", "messages")]
    if "messages" in table.column_names:
        names.append("messages.list.element.role")
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd", use_dictionary=names)


def write_jsonl(path: str | os.PathLike, rows: Any) -> int:
    n = 0
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
            n += 1
    return n


def fingerprint(*parts: Any) -> str:
    """A short stable hash of JSON-able parts (settings, input paths and sizes)."""
    blob = json.dumps(parts, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]
