"""Blind A/B votes in SQLite: one file per run (``RUN/votes.sqlite``), WAL mode and a busy timeout
so several browser tabs (threads) and processes can vote at once without losing a vote."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from curate.errors import UserError

OUTCOMES = ("a", "b", "tie", "both_bad")
COLUMNS = ("id", "ts", "prompt", "variant_a", "variant_b", "answer_a", "answer_b", "outcome", "settings",
           "session", "battle", "history")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS votes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts REAL NOT NULL,
    prompt TEXT NOT NULL,
    variant_a TEXT NOT NULL,
    variant_b TEXT NOT NULL,
    answer_a TEXT NOT NULL,
    answer_b TEXT NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('a', 'b', 'tie', 'both_bad')),
    settings TEXT NOT NULL DEFAULT '{}',
    session TEXT,
    battle TEXT,
    history TEXT NOT NULL DEFAULT '[]'
)"""
# Columns added after the first release, added in place to older files.
_ADDED = {"battle": "TEXT", "history": "TEXT NOT NULL DEFAULT '[]'"}


class VoteStoreError(UserError):
    """The vote database cannot be used (locked, read-only, not a database)."""


class VoteStore:
    """Append-only vote log. A fresh connection per call keeps it safe across Streamlit's threads."""

    def __init__(self, path: str | Path, timeout: float = 10.0):
        self.path = Path(path)
        self.timeout = timeout
        with self._connect() as con:
            con.execute(_SCHEMA)
            have = {r[1] for r in con.execute("PRAGMA table_info(votes)")}
            for name, decl in _ADDED.items():
                if name not in have:
                    con.execute(f"ALTER TABLE votes ADD COLUMN {name} {decl}")

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        con = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            con = sqlite3.connect(self.path, timeout=self.timeout)
            con.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
            if con.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                con.execute("PRAGMA journal_mode = WAL")
            with con:  # one transaction: commit on success, roll back on error
                yield con
        except sqlite3.OperationalError as e:
            msg = str(e)
            if "locked" in msg or "busy" in msg:
                hint = "another program holds a lock on it; close it and try again"
            elif "readonly" in msg or "unable to open" in msg or "read-only" in msg:
                hint = "it is read-only or its folder cannot be written; check the permissions"
            else:
                hint = msg
            raise VoteStoreError(f"vote database {self.path}: {hint} ({msg})") from e
        except sqlite3.DatabaseError as e:
            raise VoteStoreError(f"vote database {self.path} is not a valid SQLite file: {e}") from e
        except OSError as e:
            raise VoteStoreError(f"vote database {self.path}: cannot create it: {e}") from e
        finally:
            if con is not None:
                con.close()

    def add(self, prompt: str, variant_a: str, variant_b: str, answer_a: str, answer_b: str, outcome: str,
            settings: dict[str, Any] | None = None, session: str | None = None, battle: str | None = None,
            history: list[dict[str, Any]] | None = None) -> int:
        """Record one vote; ``outcome`` is "a", "b", "tie" or "both_bad". Returns the vote id.

        ``battle`` names the A/B pairing: a second vote from the same ``session`` on it is refused
        (an accidental double click or a reloaded page). ``history`` holds the earlier turns of a
        multi-turn battle (``[{prompt, answer_a, answer_b}]``); ``prompt`` and the answers are the last.
        """
        if outcome not in OUTCOMES:
            raise UserError(f"vote outcome must be one of {', '.join(OUTCOMES)}, got {outcome!r}")
        if variant_a == variant_b:
            raise UserError(f"a vote needs two different variants, got {variant_a!r} twice")
        with self._connect() as con:
            if battle is not None and con.execute("SELECT 1 FROM votes WHERE session IS ? AND battle = ?",
                                                  (session, battle)).fetchone():
                raise UserError("this battle already has your vote; start the next battle to vote again")
            cur = con.execute(
                "INSERT INTO votes (ts, prompt, variant_a, variant_b, answer_a, answer_b, outcome, settings,"
                " session, battle, history) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (time.time(), prompt, variant_a, variant_b, answer_a, answer_b, outcome,
                 json.dumps(settings or {}, sort_keys=True), session, battle,
                 json.dumps(history or [], ensure_ascii=False)),
            )
            return int(cur.lastrowid)

    def all(self) -> list[dict[str, Any]]:
        """Every vote, oldest first, with ``settings`` decoded."""
        with self._connect() as con:
            rows = con.execute(f"SELECT {', '.join(COLUMNS)} FROM votes ORDER BY id").fetchall()
        out = [dict(zip(COLUMNS, r, strict=True)) for r in rows]
        for r in out:
            r["settings"] = json.loads(r["settings"] or "{}")
            r["history"] = json.loads(r["history"] or "[]")
        return out

    def count(self) -> int:
        with self._connect() as con:
            return int(con.execute("SELECT COUNT(*) FROM votes").fetchone()[0])

    def to_csv(self) -> str:
        """All votes as CSV text (settings as a JSON string)."""
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=COLUMNS)
        writer.writeheader()
        for r in self.all():
            writer.writerow({**r, "settings": json.dumps(r["settings"], sort_keys=True),
                             "history": json.dumps(r["history"], ensure_ascii=False)})
        return buf.getvalue()

    def to_jsonl(self) -> str:
        """All votes as JSON lines."""
        return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in self.all())


def set_aside(path: str | Path) -> Path:
    """Rename an unusable vote file (and its WAL/SHM companions) to ``votes.unreadable-<time>.sqlite``
    beside it, so a fresh store can start while the old file stays for recovery. Returns the new path."""
    path = Path(path)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    target = path.with_name(f"{path.stem}.unreadable-{stamp}{path.suffix}")
    for suffix in ("-wal", "-shm"):
        side = path.with_name(path.name + suffix)
        if side.exists():
            side.rename(target.with_name(target.name + suffix))
    path.rename(target)
    return target
