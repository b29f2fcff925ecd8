"""Bytes that are not UTF-8 text, and inputs with nothing readable in them (issue 22): every line of a JSONL
file becomes a row or a quarantine entry with its reason, the columnar and record paths agree on it, and
a run with no readable conversation stops at ingest with one line on stderr."""

from __future__ import annotations

import codecs
import json
import random

import pytest
import yaml
from helpers import recipe, sharegpt
from test_jsonl_reader import assert_same

import curate
import curate.jsonl_reader as reader
from curate.cli import main
from curate.loaders import iter_load
from curate.rundir import RunDir


def good(i: int) -> bytes:
    return json.dumps(sharegpt(f"Question {i}: how do I sort {i} items?", f"Use sorted() on the {i} items.")).encode()


def line(value: bytes) -> bytes:
    """A ShareGPT line whose first turn's value is these raw bytes (inside the JSON string)."""
    return b'{"conversations": [{"from": "human", "value": "' + value + b'"}, {"from": "gpt", "value": "ok."}]}'


# kind -> (line bytes, the reason it is quarantined with, or None where it is read as a row)
BAD = {
    "latin1": (line(b"caf\xe9 cr\xe8me"), "invalid_utf8"),
    "cp1252": (line(b"\x93smart quotes\x94 \x96 dash"), "invalid_utf8"),
    "ff_fe": (line(b"\xff\xfe"), "invalid_utf8"),
    "overlong": (line(b"\xc0\xaf slash"), "invalid_utf8"),
    "surrogate_bytes": (line(b"\xed\xa0\x80"), "invalid_utf8"),
    "past_u10ffff": (line(b"\xf4\x90\x80\x80"), "invalid_utf8"),
    "truncated_sequence": (line(b"\xe2\x82"), "invalid_utf8"),
    "lone_surrogate_escape": (line(b"x\\ud800y"), "invalid_unicode"),
    "lone_low_surrogate_escape": (line(b"\\udfff"), "invalid_unicode"),
    "raw_nul": (line(b"a\x00b"), "malformed_json"),
    "utf16_line": (json.dumps(sharegpt("q", "a")).encode("utf-16-le"), "malformed_json"),
    "surrogate_pair_escape": (line(b"emoji \\ud83d\\ude00"), None),
    "escaped_backslash_u": (line(b"\\\\ud800 is text"), None),
    "escaped_nul": (line(b"a\\u0000b"), None),
}


def write(path, lines: list[bytes], end: bytes = b"\n"):
    path.write_bytes(b"".join(x + end for x in lines))
    return path


@pytest.mark.parametrize("kind", sorted(BAD))
def test_each_kind_of_bad_bytes_is_a_row_or_quarantined_with_its_reason(tmp_path, kind):
    raw, reason = BAD[kind]
    path = write(tmp_path / "data.jsonl", [good(0), raw, good(2)])
    data = curate.load(path)
    data.table.validate(full=True)  # no invalid UTF-8 reaches the table
    assert [(q["row"], q["reason"]) for q in data.quarantine] == ([(1, reason)] if reason else [])
    assert data.table["row"].to_pylist() == ([0, 2] if reason else [0, 1, 2])
    assert_same(path, 2)


def test_latin1_lines_are_quarantined_and_the_rest_stays_columnar(tmp_path, monkeypatch):
    """A few Latin-1 lines in a big range do not send the whole range to the slow record path."""
    lines = [good(i) for i in range(200)]
    for at in (3, 77, 150):
        lines[at] = BAD["latin1"][0]
    path = write(tmp_path / "data.jsonl", lines)
    monkeypatch.setattr(reader, "_record_path", lambda *a: pytest.fail("range read record by record"))
    data = curate.load(path)
    assert [q["row"] for q in data.quarantine] == [3, 77, 150] and data.table.num_rows == 197
    assert {q["reason"] for q in data.quarantine} == {"invalid_utf8"}


def test_lone_surrogate_in_a_json_array_is_quarantined(tmp_path):
    path = tmp_path / "data.json"
    path.write_text('[{"conversations": [{"from": "human", "value": "\\ud800"}, {"from": "gpt", "value": "a"}]},'
                    + json.dumps(sharegpt("q", "a")) + "]")
    data = curate.load(path)
    assert [q["reason"] for q in data.quarantine] == ["invalid_unicode"] and data.table["row"].to_pylist() == [1]


def test_crlf_endings_and_a_bom_read_like_plain_lines(tmp_path):
    lines = [good(i) for i in range(5)]
    plain = curate.load(write(tmp_path / "plain.jsonl", lines)).table
    crlf = write(tmp_path / "crlf.jsonl", lines, end=b"\r\n")
    bom = write(tmp_path / "bom.jsonl", [codecs.BOM_UTF8 + lines[0], *lines[1:]])
    for path in (crlf, bom):
        data = curate.load(path)
        assert data.quarantine == [] and data.table.drop_columns("source").equals(plain.drop_columns("source"))
        assert_same(path, 2)


def corpus(seed: int, n: int = 120) -> list[bytes]:
    """Good lines with every kind of bad bytes planted at random positions (some kinds twice), a blank
    line and a CRLF line among them."""
    rng = random.Random(seed)
    lines = [good(i) for i in range(n)]
    kinds = sorted(BAD) + rng.sample(sorted(BAD), 5)
    for kind, at in zip(kinds, rng.sample(range(n), len(kinds)), strict=True):
        lines[at] = BAD[kind][0]
    lines[rng.randrange(n)] = b""
    lines[rng.randrange(n)] += b"\r"
    return lines


@pytest.mark.parametrize("seed", range(4))
def test_generated_broken_encodings_columnar_and_record_paths_agree(tmp_path, seed):
    path = write(tmp_path / "data.jsonl", corpus(seed))
    for chunk_rows in (7, 50, 1000):
        assert_same(path, chunk_rows)
    chunks = list(iter_load(path, chunk_rows=50))
    rows = [r for c in chunks for r in c.table["row"].to_pylist()]
    quarantined = [q["row"] for c in chunks for q in c.quarantine]
    assert sorted(rows + quarantined) == list(range(120))  # every line: a row or a quarantine entry
    for c in chunks:
        c.table.validate(full=True)


def _run(tmp_path, capsys, content: bytes):
    src = tmp_path / "in.jsonl"
    src.write_bytes(content)
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe(src, tmp_path / "run")))
    code = main(["run", str(path), "--no-progress"])
    return code, capsys.readouterr().err.strip().splitlines(), RunDir(tmp_path / "run")


@pytest.mark.parametrize("content,quarantined,reasons", [
    (b"", 0, ""),
    (b"{broken\n" + BAD["latin1"][0] + b"\n\n", 3, "malformed_json: 1, invalid_utf8: 1, blank_line: 1"),
    ("\n".join(json.dumps(sharegpt(f"q{i}", "a")) for i in range(3)).encode("utf-16"), 3,  # a UTF-16 file
     "malformed_json: 2, invalid_utf8: 1"),
])
def test_nothing_readable_is_one_line_exit_2_and_a_failed_manifest(tmp_path, capsys, content, quarantined, reasons):
    code, err, run = _run(tmp_path, capsys, content)
    says = f"{quarantined} of {quarantined} lines quarantined ({reasons}), see {run.quarantine}" if quarantined \
        else "the input is empty"
    assert code == 2 and err == [f"curate: error: no readable conversations in {tmp_path / 'in.jsonl'}: {says}"]
    assert run.manifest()["status"] == "failed"
    quarantine = [json.loads(x) for x in run.quarantine.read_text().splitlines()]
    assert len(quarantine) == quarantined
    if content.startswith(codecs.BOM_UTF16_LE):
        assert "UTF-16 byte order mark: convert it to UTF-8" in quarantine[0]["detail"]


def test_a_run_over_latin1_and_surrogate_lines_finishes_and_quarantines_them(tmp_path):
    """The reported failure: such lines used to reach the shards and fail scoring or near dedup later."""
    lines = [good(i) for i in range(30)]
    lines[4], lines[11], lines[20] = BAD["latin1"][0], BAD["cp1252"][0], BAD["lone_surrogate_escape"][0]
    path = write(tmp_path / "in.jsonl", lines)
    summary = curate.run(recipe(path, tmp_path / "run"), progress=False)
    assert summary.counts["quarantined"] == 3 and summary.counts["read"] == 30
    reasons = [json.loads(x)["reason"] for x in RunDir(tmp_path / "run").quarantine.read_text().splitlines()]
    assert reasons == ["invalid_utf8", "invalid_utf8", "invalid_unicode"]
