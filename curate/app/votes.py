"""Blind A/B votes in SQLite: one file per run (``RUN/votes.sqlite``), WAL mode and a busy timeout
so several browser tabs (threads) and processes can vote at once without losing a vote, and one
write transaction per vote so none of them can vote twice on one battle either.

A damaged file is refused when it opens, with one kind of message (``VoteStoreError``): SQLite itself
reads a file cut short or emptied as valid (a 0-byte file is a new empty database; a file missing its
last bytes reads zeros), so the store checks the size against the page size before trusting it."""

from __future__ import annotations

import csv
import io
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import datetime
from pathlib import Path
from typing import Any

from curate.errors import UserError

OUTCOMES = ("a", "b", "tie", "both_bad")
COLUMNS = ("id", "ts", "prompt", "variant_a", "variant_b", "answer_a", "answer_b", "outcome", "settings",
           "session", "battle", "history", "finish_a", "finish_b", "voter")
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
    history TEXT NOT NULL DEFAULT '[]',
    finish_a TEXT,
    finish_b TEXT,
    voter TEXT
)"""
# Columns added after the first release, added in place to older files.
_ADDED = {"battle": "TEXT", "history": "TEXT NOT NULL DEFAULT '[]'", "finish_a": "TEXT", "finish_b": "TEXT",
          "voter": "TEXT"}
# One vote per battle and voter (the named voter in shared mode, else the browser session): the check in
# ``add`` runs in the same write transaction as the insert; the index also guards other writers.
_ONE_PER_BATTLE = ("CREATE UNIQUE INDEX IF NOT EXISTS one_vote_per_battle ON votes (coalesce(voter, session), battle) "
                   "WHERE battle IS NOT NULL")
# A shared arena's limit per voter: a battle takes tens of seconds to read, so more than this is a script.
RATE_LIMIT = (10, 60.0)  # votes, seconds


class VoteStoreError(UserError):
    """The vote database cannot be used (locked, read-only, not a database)."""


class VoteStore:
    """Append-only vote log. A fresh connection per call keeps it safe across Streamlit's threads."""

    def __init__(self, path: str | Path, timeout: float = 10.0):
        self.path = Path(path)
        self.timeout = timeout
        if not self.path.exists():
            self._create()
        self._check_file()
        with self._connect() as con:
            con.execute(_SCHEMA)
            have = {r[1] for r in con.execute("PRAGMA table_info(votes)")}
            for name, decl in _ADDED.items():
                if name not in have:
                    con.execute(f"ALTER TABLE votes ADD COLUMN {name} {decl}")
            with suppress(sqlite3.IntegrityError):  # an older file holds a double vote: the transaction guards
                con.execute(_ONE_PER_BATTLE)

    def _create(self) -> None:
        """Make a new store under a temporary name and link it into place, so no reader ever sees the
        0-byte file SQLite starts from (which ``_check_file`` refuses); a store made meanwhile by another
        process wins."""
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            con = sqlite3.connect(tmp)
            try:
                con.execute(_SCHEMA)
                con.execute("PRAGMA journal_mode = WAL")
                con.commit()
            finally:
                con.close()
            with suppress(FileExistsError):
                os.link(tmp, self.path)
        except OSError as e:
            raise VoteStoreError(f"vote database {self.path}: cannot create it: {e}") from e
        except sqlite3.Error as e:
            raise VoteStoreError(f"vote database {self.path}: cannot create it: {e}") from e
        finally:
            with suppress(OSError):
                tmp.unlink(missing_ok=True)

    def _check_file(self) -> None:
        """Refuse a file SQLite would open without complaint although votes are lost: empty, or cut short."""
        try:
            size = self.path.stat().st_size
            with open(self.path, "rb") as f:
                header = f.read(100)
        except OSError as e:
            raise VoteStoreError(f"vote database {self.path}: cannot read it: {e}") from e
        if size == 0:
            raise VoteStoreError(f"vote database {self.path} is not a valid SQLite file: it is empty (0 bytes), "
                                 "so any votes it held are gone")
        if not header.startswith(b"SQLite format 3\x00") or len(header) < 100:
            raise VoteStoreError(f"vote database {self.path} is not a valid SQLite file: no SQLite header")
        page = int.from_bytes(header[16:18], "big")
        page = 65536 if page == 1 else page
        if page and size % page:
            raise VoteStoreError(f"vote database {self.path} is not a valid SQLite file: it is cut short "
                                 f"({size:,} bytes is not a whole number of {page:,}-byte pages)")

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
            history: list[dict[str, Any]] | None = None, finish: tuple[str | None, str | None] = (None, None),
            voter: str | None = None, rate_limit: tuple[int, float] | None = None) -> int:
        """Record one vote; ``outcome`` is "a", "b", "tie" or "both_bad". Returns the vote id.

        ``battle`` names the A/B pairing: a second vote on it from the same ``voter`` (or, without
        voters, the same browser ``session``) is refused: a double click, a reloaded page, or another
        process. ``history`` holds the earlier turns of a multi-turn battle (``[{prompt, answer_a,
        answer_b}]``); ``prompt`` and the answers are the last. ``finish`` is how each answer ended
        ("eos", "length" for one cut at the token limit, "stopped"), so a cut answer's vote can be left
        out. ``rate_limit`` = (votes, seconds) refuses a ``voter``'s vote past that many in the window.
        """
        if outcome not in OUTCOMES:
            raise UserError(f"vote outcome must be one of {', '.join(OUTCOMES)}, got {outcome!r}")
        if variant_a == variant_b:
            raise UserError(f"a vote needs two different variants, got {variant_a!r} twice")
        now = time.time()
        with self._connect() as con:
            con.execute("BEGIN IMMEDIATE")  # the checks and the insert in one write transaction
            self._refuse_repeat(con, session, battle, voter, rate_limit, now)
            try:
                cur = con.execute(
                    "INSERT INTO votes (ts, prompt, variant_a, variant_b, answer_a, answer_b, outcome, settings,"
                    " session, battle, history, finish_a, finish_b, voter)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (now, prompt, variant_a, variant_b, answer_a, answer_b, outcome,
                     json.dumps(settings or {}, sort_keys=True), session, battle,
                     json.dumps(history or [], ensure_ascii=False), finish[0], finish[1], voter),
                )
            except sqlite3.IntegrityError as e:
                raise UserError("this battle already has your vote; start the next battle to vote again") from e
            return int(cur.lastrowid)

    @staticmethod
    def _refuse_repeat(con: sqlite3.Connection, session: str | None, battle: str | None, voter: str | None,
                       rate_limit: tuple[int, float] | None, now: float) -> None:
        who, value = ("voter", voter) if voter is not None else ("session", session)
        if battle is not None and con.execute(f"SELECT 1 FROM votes WHERE {who} IS ? AND battle = ?",
                                              (value, battle)).fetchone():
            raise UserError("this battle already has your vote; start the next battle to vote again")
        if voter is not None and rate_limit is not None:
            n, seconds = rate_limit
            recent = con.execute("SELECT COUNT(*) FROM votes WHERE voter = ? AND ts > ?",
                                 (voter, now - seconds)).fetchone()[0]
            if recent >= n:
                raise UserError(f"too many votes: at most {n} per {seconds:g} s per voter; "
                                "read both answers before voting")

    def all(self) -> list[dict[str, Any]]:
        """Every vote, oldest first, with ``settings`` and ``history`` decoded."""
        with self._connect() as con:
            rows = con.execute(f"SELECT {', '.join(COLUMNS)} FROM votes ORDER BY id").fetchall()
        out = [dict(zip(COLUMNS, r, strict=True)) for r in rows]
        try:
            for r in out:
                r["settings"] = json.loads(r["settings"] or "{}")
                r["history"] = json.loads(r["history"] or "[]")
        except (json.JSONDecodeError, TypeError) as e:  # bytes SQLite read back without complaint
            raise VoteStoreError(f"vote database {self.path} is not a valid SQLite file: vote {r['id']} "
                                 f"cannot be read ({e})") from e
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
