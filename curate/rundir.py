"""A run directory: every output of one run, written atomically, with a manifest and per-step
completion markers so an interrupted run resumes without redoing finished work.

Layout (see docs/ARCHITECTURE.md)::

    RUN/manifest.json            recipe, versions, counts, timings
    RUN/quarantine.jsonl         records that could not be read, with line/row and reason
    RUN/data/conversations.parquet   normalized input (id, messages, source, extras, row)
    RUN/scores/<scorer-key>/     score store shards (curate.store)
    RUN/dedup/                   removal tables per method
    RUN/subsets/<name>/          data.parquet, data.jsonl, selection.parquet
    RUN/report/                  report.html and PNGs
    RUN/steps/<step>.json        done markers: a step whose marker matches its fingerprint is skipped
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temp path beside ``path``; it replaces ``path`` only if the block finishes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
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
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")


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


class RunDir:
    """Paths and bookkeeping of one run; cheap to construct, creates folders on demand."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def path(self, *parts: str) -> Path:
        p = self.root.joinpath(*parts)
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    @property
    def conversations(self) -> Path:
        return self.path("data", "conversations.parquet")

    @property
    def quarantine(self) -> Path:
        return self.path("quarantine.jsonl")

    @property
    def manifest_path(self) -> Path:
        return self.path("manifest.json")

    @property
    def scores_dir(self) -> Path:
        return self.root / "scores"

    def subset_dir(self, name: str) -> Path:
        d = self.root / "subsets" / name
        d.mkdir(parents=True, exist_ok=True)
        return d

    # --- resume markers -------------------------------------------------------------------
    def done(self, step: str, fp: str) -> dict | None:
        """The marker of ``step`` if it finished with fingerprint ``fp``, else None."""
        marker = self.root / "steps" / f"{step}.json"
        if not marker.exists():
            return None
        info = json.loads(marker.read_text())
        return info if info.get("fingerprint") == fp else None

    def mark_done(self, step: str, fp: str, **info: Any) -> None:
        write_json(self.path("steps", f"{step}.json"), {"fingerprint": fp, **info})

    # --- manifest -------------------------------------------------------------------------
    def manifest(self) -> dict:
        return json.loads(self.manifest_path.read_text()) if self.manifest_path.exists() else {}

    def update_manifest(self, **fields: Any) -> dict:
        m = self.manifest()
        m.update(fields)
        write_json(self.manifest_path, m)
        return m
