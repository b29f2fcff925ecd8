"""Repair before drop (issue 21 §2): malformed conversations that still hold a good exchange are repaired,
identically on the record path (curate.schema) and the columnar path (curate.arrow_normalize), with the
input's id kept as ``original_id`` and the repairs listed and counted."""

from __future__ import annotations

import json
import random
from itertools import islice

import pytest
from helpers import recipe

import curate
import curate.jsonl_reader as reader
from curate.errors import UserError
from curate.loaders import iter_load, iter_raw, normalize_records, to_table
from curate.recipe import parse
from curate.schema import REPAIRS, InvalidRecord, conversation_id, read_record, repair


def m(*turns: str) -> list[dict[str, str]]:
    """Messages from 'role:content' strings."""
    return [{"role": t.split(":", 1)[0], "content": t.split(":", 1)[1]} for t in turns]


@pytest.mark.parametrize("messages,fixed,done", [
    (m("user: q ", "assistant:a\n\n\nb\n"), m("user:q", "assistant:a\n\n\nb"), ["whitespace"]),
    (m("user:q", "assistant: ", "user:q2", "assistant:a"), m("user:q\n\nq2", "assistant:a"),
     ["whitespace", "empty_turns", "merge_same_role"]),
    (m("assistant:Hi!", "user:q", "assistant:a"), m("user:q", "assistant:a"), ["leading_assistant"]),
    (m("system:s", "assistant:Hi!", "assistant:Hello", "user:q", "assistant:a"), m("system:s", "user:q", "assistant:a"),
     ["merge_same_role", "leading_assistant"]),
    (m("user:q", "assistant:a", "user:thanks"), m("user:q", "assistant:a"), ["trailing_user"]),
    (m("user:q", "assistant:a", "assistant:b", "tool:t1", "tool:t2"), m("user:q", "assistant:a\n\nb", "tool:t1", "tool:t2"),
     ["merge_same_role"]),
    (m("user:q", "assistant:a"), m("user:q", "assistant:a"), []),
])
def test_each_repair(messages, fixed, done):
    assert repair(messages) == (fixed, done)
    assert repair(messages, [])[0] == messages


def test_repaired_id_is_the_clean_conversations_id_and_original_id_the_inputs():
    rec = {"conversations": [{"from": "gpt", "value": "Hello!"}, {"from": "human", "value": "q"},
                             {"from": "gpt", "value": "a"}, {"from": "human", "value": "bye"}]}
    rows, bad = normalize_records([rec], "t")
    assert bad == [] and rows[0]["repairs"] == ["leading_assistant", "trailing_user"]
    assert rows[0]["id"] == conversation_id(m("user:q", "assistant:a"))
    assert rows[0]["original_id"] == conversation_id(m("assistant:Hello!", "user:q", "assistant:a", "user:bye"))
    whitespace_only, _ = normalize_records([{"messages": m("user: q", "assistant:a ")}], "t")
    assert whitespace_only[0]["original_id"] == whitespace_only[0]["id"]  # ids strip each turn


def test_a_repair_that_leaves_no_exchange_is_undone():
    """Repairs never turn a readable row into a quarantined one, nor change a quarantine reason."""
    greeting_only = {"messages": m("assistant:Hi! How can I help?", "user:what is 2+2?")}
    r = read_record(greeting_only)
    assert r.repairs == [] and r.original is None and r.messages == greeting_only["messages"]
    with pytest.raises(InvalidRecord) as e:
        read_record({"messages": m("user:q", "assistant:  ")})
    assert e.value.reason == "empty_turn"


def test_repairs_off_keeps_the_old_judgement():
    with pytest.raises(InvalidRecord) as e:
        read_record({"messages": m("user:q", "assistant:", "assistant:a")}, repairs=())
    assert e.value.reason == "empty_turn"
    assert read_record({"messages": m("user:q", "assistant:", "assistant:a")}).messages == m("user:q", "assistant:a")


ROLE_NAMES = {"user": ["human", "user"], "assistant": ["gpt", "assistant", "chatgpt"], "system": ["system"],
              "tool": ["tool", "observation"], "alien": ["alien"]}
TEXTS = ["q", " padded ", "line\n\n\nbreaks\n", "", "  ", "\u3000wide\u3000", "x\u00a0", "ünï", "\t"]


def malformed(rng: random.Random, n: int) -> list[dict]:
    """ShareGPT records with random role sequences (greetings, repeats, trailing questions, systems, an
    unknown role) and contents (blank, padded, Unicode whitespace, a few nulls)."""
    rows = []
    for _ in range(n):
        roles = rng.choices(list(ROLE_NAMES), weights=[5, 5, 1, 1, 0.1], k=rng.randint(0, 6))
        values = [rng.choice(TEXTS) + rng.choice("abc") if rng.random() < 0.8 else rng.choice(TEXTS) for _ in roles]
        values = [None if rng.random() < 0.01 else v for v in values]
        rows.append({"conversations": [{"from": rng.choice(ROLE_NAMES[r]), "value": v} for r, v in zip(roles, values)]})
    return rows


def record_chunks(path, chunk_rows, repairs):
    name, records = iter_raw(path)
    out, row = [], 0
    while chunk := list(islice(records, chunk_rows)):
        rows, bad = normalize_records(chunk, name, start_row=row, repairs=repairs)
        row += len(chunk)
        out.append((to_table(rows), bad))
    return out


@pytest.mark.parametrize("repairs", [REPAIRS, (), *[(r,) for r in REPAIRS], REPAIRS[1:], ("whitespace", "trailing_user"),
                                     ("whitespace", "merge_same_role"), ("whitespace", "empty_turns")])
@pytest.mark.parametrize("seed", [0, 1])
def test_columnar_and_record_paths_repair_alike(write_jsonl, monkeypatch, seed, repairs):
    """The same tables and quarantine on a generated corpus, and the columnar path is the one that ran."""
    path = write_jsonl(malformed(random.Random(seed), 300))
    monkeypatch.setattr(reader, "_record_path", lambda *a: pytest.fail("a range was read record by record"))
    for chunk_rows in (40, 1000):
        got = list(iter_load(path, chunk_rows=chunk_rows, repairs=repairs))
        for chunk, (table, bad) in zip(got, record_chunks(path, chunk_rows, repairs), strict=True):
            assert chunk.quarantine == bad
            assert chunk.table.schema == table.schema and chunk.table.equals(table)


def test_alpaca_and_messages_repair_alike(write_jsonl):
    rows = [{"instruction": " Add 2+2. ", "input": "", "output": "4\n"}, {"instruction": "x", "output": "  "},
            {"instruction": "  ", "output": "y", "system": "s"},
            {"messages": m("assistant:Hi", "user:q", "user:more", "assistant:a", "user:thanks")}]
    path = write_jsonl(rows)
    for chunk_rows in (1, 2, 10):
        got = list(iter_load(path, chunk_rows=chunk_rows))
        for chunk, (table, bad) in zip(got, record_chunks(path, chunk_rows, REPAIRS), strict=True):
            assert chunk.quarantine == bad and chunk.table.equals(table)


def test_load_counts_and_unknown_names(write_jsonl):
    path = write_jsonl([{"messages": m("assistant:Hi", "user:q", "assistant:a")}, {"messages": m("user:q ", "assistant:a")}])
    data = curate.load(path)
    assert data.repaired == {"whitespace": 1, "leading_assistant": 1}
    assert curate.load(path, repairs=[]).repaired == {}
    with pytest.raises(UserError, match="allowed: whitespace, empty_turns"):
        curate.load(path, repairs=["typo"])


def test_recipe_key_names_the_allowed_repairs(tmp_path):
    base = recipe("in.jsonl", tmp_path / "run")
    assert parse(base).input.repairs == list(REPAIRS)
    assert parse(base, overrides={"input.repairs": []}).input.repairs == []
    with pytest.raises(UserError, match="input.repairs.0: got 'greeting'.*'leading_assistant'"):
        parse(base, overrides={"input.repairs": ["greeting"]})


def test_run_counts_repairs_in_the_manifest_and_reconciles(write_jsonl, tmp_path):
    rows = [{"messages": m(f"user:question {i}?", f"assistant:answer {i} in words.")} for i in range(12)]
    rows += [{"messages": m("assistant:Hi!", "user:a greeting first?", "assistant:yes.")},
             {"messages": m("user:two", "user:parts?", "assistant:merged.", "user:thanks")},
             {"messages": m("assistant:Hi! How can I help?", "user:unanswered")}]  # no exchange: not repaired
    summary = curate.run(recipe(write_jsonl(rows + ["{broken"]), tmp_path / "run"), progress=False)
    c = summary.counts
    assert c["repaired"] == {"merge_same_role": 1, "leading_assistant": 1, "trailing_user": 1}
    assert c["read"] == 16 and c["quarantined"] == 1 and c["removed"].get("invalid:role_order") == 1
    assert c["read"] == c["kept"] + sum(c["removed"].values()) + c["quarantined"]
    assert curate.RunDir(tmp_path / "run").manifest()["counts"]["repaired"] == c["repaired"]
    table = curate.RunDir(tmp_path / "run").conversations_table(["row", "original_id", "repairs"]).to_pylist()
    assert [r["repairs"] for r in table if r["original_id"]] == [["leading_assistant"],
                                                                 ["merge_same_role", "trailing_user"]]


def test_json_lines_are_written_as_text(write_jsonl):
    """The repairs of a JSONL written with ensure_ascii (surrogate-pair escapes) are still columnar."""
    path = write_jsonl([json.dumps({"messages": m("user:emoji \U0001f600 ", "assistant:a")})])
    assert curate.load(path).table["messages"].to_pylist()[0][0]["content"] == "emoji \U0001f600"
