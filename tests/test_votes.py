"""curate/app/votes.py: the SQLite vote store under concurrent writers, exports, and its user errors."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import threading

import pytest

from curate.app.votes import VoteStore, VoteStoreError
from curate.errors import UserError


def _vote(store: VoteStore, i: int, outcome: str = "a") -> int:
    return store.add(f"prompt {i}", "base", "quality", f"answer a {i}", f"answer b {i}", outcome,
                     settings={"temperature": 0.7}, session=f"s{i % 3}")


def test_add_read_export(tmp_path):
    store = VoteStore(tmp_path / "votes.sqlite")
    for i, outcome in enumerate(["a", "b", "tie", "both_bad"]):
        _vote(store, i, outcome)
    votes = store.all()
    assert [v["outcome"] for v in votes] == ["a", "b", "tie", "both_bad"]
    assert votes[0]["settings"] == {"temperature": 0.7} and votes[0]["prompt"] == "prompt 0"
    assert votes[0]["ts"] > 1.7e9
    rows = list(csv.DictReader(io.StringIO(store.to_csv())))
    assert len(rows) == 4 and rows[1]["outcome"] == "b" and json.loads(rows[1]["settings"])["temperature"] == 0.7
    lines = [json.loads(x) for x in store.to_jsonl().splitlines()]
    assert [x["id"] for x in lines] == [1, 2, 3, 4]
    # the file is in WAL mode and a second store on it sees the same votes
    con = sqlite3.connect(tmp_path / "votes.sqlite")
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    con.close()
    assert VoteStore(tmp_path / "votes.sqlite").count() == 4


def test_concurrent_writers_lose_nothing(tmp_path):
    path = tmp_path / "votes.sqlite"
    stores = [VoteStore(path) for _ in range(2)]  # like two processes/tabs with their own store
    errors: list[BaseException] = []

    def writer(t: int) -> None:
        try:
            for i in range(40):
                _vote(stores[t % 2], t * 1000 + i, "tie" if i % 2 else "a")
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    votes = stores[0].all()
    assert len(votes) == 8 * 40
    assert len({v["prompt"] for v in votes}) == 8 * 40


def test_bad_votes_rejected(tmp_path):
    store = VoteStore(tmp_path / "votes.sqlite")
    with pytest.raises(UserError, match="outcome"):
        store.add("p", "a", "b", "x", "y", "maybe")
    with pytest.raises(UserError, match="two different variants"):
        store.add("p", "a", "a", "x", "y", "a")
    assert store.count() == 0


def test_locked_database_is_a_clear_error(tmp_path):
    path = tmp_path / "votes.sqlite"
    store = VoteStore(path, timeout=0.2)
    holder = sqlite3.connect(path)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(VoteStoreError, match="lock"):
            _vote(store, 1)
    finally:
        holder.rollback()
        holder.close()
    _vote(store, 2)
    assert store.count() == 1


def test_unwritable_or_corrupt_database(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(VoteStoreError, match="vote database"):
        VoteStore(blocker / "votes.sqlite")
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(VoteStoreError, match="not a valid SQLite"):
        VoteStore(bad)


def test_read_only_database(tmp_path, monkeypatch):
    path = tmp_path / "ro.sqlite"
    _vote(VoteStore(path), 1)
    store = VoteStore(path)
    real = sqlite3.connect  # running as root ignores file modes, so open it the read-only SQLite way
    monkeypatch.setattr("curate.app.votes.sqlite3.connect",
                        lambda p, timeout: real(f"file:{p}?mode=ro", uri=True, timeout=timeout))
    with pytest.raises(VoteStoreError, match="read-only"):
        _vote(store, 2)
    monkeypatch.undo()
    assert store.count() == 1


def _vote_on_battles(path: str, session: str, battles: int, out) -> None:
    """One process voting on every battle (the same session in every process)."""
    store = VoteStore(path)
    saved = 0
    for b in range(battles):
        try:
            store.add("p", "base", "quality", "x", "y", "a", session=session, battle=f"battle-{b}")
            saved += 1
        except UserError as e:
            assert "already has your vote" in str(e)
    out.put(saved)


def test_one_vote_per_battle_across_processes(tmp_path):
    """Four processes voting on the same session and battles: each battle keeps exactly one vote
    (the duplicate check and the insert share one write transaction)."""
    import multiprocessing as mp

    ctx = mp.get_context("fork")
    out = ctx.Queue()
    path = str(tmp_path / "votes.sqlite")
    procs = [ctx.Process(target=_vote_on_battles, args=(path, "same-session", 200, out)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    assert sum(out.get() for _ in procs) == 200
    votes = VoteStore(path).all()
    assert len(votes) == 200 and len({v["battle"] for v in votes}) == 200


def test_truncated_or_empty_file_is_refused(tmp_path):
    path = tmp_path / "votes.sqlite"
    store = VoteStore(path)
    for i in range(30):
        store.add("p" * 50, "base", "quality", "x" * 300, "y" * 300, "a", settings={"t": 0.7}, battle=str(i))
    con = sqlite3.connect(path)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    data = path.read_bytes()
    path.write_bytes(data[:-1])  # one byte short: SQLite alone would count the votes, then read garbage
    with pytest.raises(VoteStoreError, match="not a valid SQLite file: it is cut short"):
        VoteStore(path)
    path.write_bytes(b"")  # 0 bytes: SQLite alone would open it as a new empty store
    with pytest.raises(VoteStoreError, match="not a valid SQLite file: it is empty"):
        VoteStore(path)


def test_voters_finish_and_rate_limit(tmp_path):
    store = VoteStore(tmp_path / "votes.sqlite")
    store.add("p", "base", "quality", "x", "y", "a", session="tab1", battle="b1", voter="ann",
              finish=("eos", "length"))
    with pytest.raises(UserError, match="already has your vote"):  # another tab, the same voter
        store.add("p", "base", "quality", "x", "y", "b", session="tab2", battle="b1", voter="ann")
    store.add("p", "base", "quality", "x", "y", "b", session="tab3", battle="b1", voter="bob")
    vote = store.all()[0]
    assert (vote["voter"], vote["finish_a"], vote["finish_b"]) == ("ann", "eos", "length")
    for i in range(2):
        store.add("p", "base", "quality", "x", "y", "a", battle=f"r{i}", voter="eve", rate_limit=(2, 60))
    with pytest.raises(UserError, match="too many votes"):
        store.add("p", "base", "quality", "x", "y", "a", battle="r9", voter="eve", rate_limit=(2, 60))
    assert store.count() == 4


def test_old_file_gains_the_new_columns(tmp_path):
    path = tmp_path / "votes.sqlite"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE votes (id INTEGER PRIMARY KEY AUTOINCREMENT, ts REAL NOT NULL, prompt TEXT NOT NULL,"
                " variant_a TEXT NOT NULL, variant_b TEXT NOT NULL, answer_a TEXT NOT NULL, answer_b TEXT NOT NULL,"
                " outcome TEXT NOT NULL, settings TEXT NOT NULL DEFAULT '{}', session TEXT)")
    con.execute("INSERT INTO votes (ts, prompt, variant_a, variant_b, answer_a, answer_b, outcome) "
                "VALUES (1, 'p', 'base', 'quality', 'x', 'y', 'a')")
    con.commit()
    con.close()
    votes = VoteStore(path).all()
    assert votes[0]["finish_a"] is None and votes[0]["voter"] is None and votes[0]["history"] == []
