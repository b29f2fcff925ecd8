import gzip
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import curate
from curate.errors import UserError
from curate.loaders import iter_load


def test_jsonl_bad_lines_are_quarantined_with_row_and_reason(write_jsonl, sharegpt_rows):
    lines = [json.dumps(sharegpt_rows[0]), "{broken json", json.dumps(sharegpt_rows[1]),
             json.dumps({"conversations": [{"from": "alien", "value": "x"}, {"from": "gpt", "value": "y"}]}),
             json.dumps({"conversations": []}), json.dumps({"text": "no column"}), "",
             json.dumps({"conversations": [{"from": "human", "value": "q"}]})]
    path = write_jsonl(lines)
    with open(path, "ab") as f:  # invalid UTF-8 in the middle of a line
        f.write(b'{"conversations": [{"from": "human", "value": "\xff\xfe"}]}\n')
        f.write(json.dumps(sharegpt_rows[2]).encode() + b"\n")
    data = curate.load(path)
    assert len(data) == 3
    reasons = {q["row"]: q["reason"] for q in data.quarantine}
    assert reasons == {1: "malformed_json", 3: "unknown_role", 4: "empty_conversation", 5: "missing_column",
                       6: "blank_line", 7: "no_assistant_turn", 8: "invalid_utf8"}
    assert data.read == len(data) + len(data.quarantine)  # nothing lost
    assert data.table.column("row").to_pylist() == [0, 2, 9]


def test_extra_columns_and_source_are_kept(write_jsonl, sharegpt_rows):
    data = curate.load(write_jsonl(sharegpt_rows[:4]))
    t = data.table
    assert t.column_names[:4] == ["id", "messages", "source", "row"]
    assert t.column("source").to_pylist() == ["b", "a", "b", "a"]
    assert t.column("score").to_pylist() == [0.0, 1.0, 2.0, 3.0]


def test_source_defaults_to_input_name(write_jsonl):
    rows = [{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}]
    assert curate.load(write_jsonl(rows, "mydata.jsonl")).table.column("source").to_pylist() == ["mydata"]


def test_formats_parquet_json_gz_folder_give_same_ids(tmp_path, sharegpt_rows, write_jsonl):
    jl = write_jsonl(sharegpt_rows)
    (tmp_path / "arr.json").write_text(json.dumps(sharegpt_rows))
    with gzip.open(tmp_path / "z.jsonl.gz", "wt") as f:
        f.writelines(json.dumps(r) + "\n" for r in sharegpt_rows)
    pq.write_table(pa.Table.from_pylist(sharegpt_rows), tmp_path / "p.parquet")
    ids = curate.load(jl).table.column("id").to_pylist()
    for p in ("arr.json", "z.jsonl.gz", "p.parquet"):
        assert curate.load(tmp_path / p).table.column("id").to_pylist() == ids
    folder = tmp_path / "folder"
    folder.mkdir()
    pq.write_table(pa.Table.from_pylist(sharegpt_rows[:5]), folder / "a.parquet")
    pq.write_table(pa.Table.from_pylist(sharegpt_rows[5:]), folder / "b.parquet")
    assert curate.load(folder).table.column("id").to_pylist() == ids


def test_hf_dataset_saved_to_disk_loads_through_datasets(tmp_path, sharegpt_rows):
    import datasets

    datasets.Dataset.from_list(sharegpt_rows).save_to_disk(str(tmp_path / "ds"))
    assert len(curate.load(tmp_path / "ds")) == len(sharegpt_rows)


def test_truncated_json_array_yields_complete_records(tmp_path, sharegpt_rows):
    text = json.dumps(sharegpt_rows[:3], indent=2)
    (tmp_path / "t.json").write_text(text[: len(text) - 40])  # cut inside the last record
    data = curate.load(tmp_path / "t.json")
    assert len(data) == 2
    assert [q["reason"] for q in data.quarantine] == ["truncated_json"]


def test_alpaca_and_messages_files(write_jsonl):
    alp = curate.load(write_jsonl([{"instruction": "hi", "input": "", "output": "yo"}], "a.jsonl"))
    assert alp.table.column("messages").to_pylist()[0][1] == {"role": "assistant", "content": "yo"}


@pytest.mark.parametrize("source,msg", [("/nope/missing.jsonl", "input not found"),
                                        ("./rel/missing.json", "input not found")])
def test_missing_input_is_a_clear_error(source, msg):
    with pytest.raises(UserError, match=msg):
        curate.load(source)


def test_unsupported_file_type(tmp_path):
    (tmp_path / "x.csv").write_text("a,b\n")
    with pytest.raises(UserError, match="unsupported file type"):
        curate.load(tmp_path / "x.csv")


def test_sample_is_bundled_and_tolerant():
    data = curate.load("sharegpt-sample", limit=300)
    assert data.read == 300
    assert len(data) + len(data.quarantine) == 300
    assert set(data.table.column("source").to_pylist()) == {"sharegpt-sample"}


def test_chunks_cover_everything_and_resume_at_start(write_jsonl, sharegpt_rows):
    path = write_jsonl(sharegpt_rows)
    chunks = list(iter_load(path, chunk_rows=5))
    assert [c.read for c in chunks] == [5, 5, 3]
    tail = list(iter_load(path, chunk_rows=5, start=10))
    assert tail[0].table.column("row").to_pylist() == [10, 11, 12]


_MEASURE = """
import resource, sys
from curate.loaders import iter_load
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
n = sum(c.read for c in iter_load(sys.argv[1], chunk_rows=500))
print(n, (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024)
"""


def _peak_growth_mb(path) -> tuple[int, float]:
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", _MEASURE, str(path)], capture_output=True, text=True, check=True)
    n, grew = out.stdout.split()
    return int(n), float(grew)


def test_large_jsonl_streams_in_bounded_memory(tmp_path):
    """Peak RSS is flat in the file size: 4x the rows (~170 MB) costs no more than 1x (~43 MB)."""
    row = json.dumps({"conversations": [{"from": "human", "value": "q " * 300},
                                        {"from": "gpt", "value": "answer " * 1500}]}) + "\n"
    small, large = tmp_path / "small.jsonl", tmp_path / "large.jsonl"
    small.write_text(row * 4_000)
    large.write_text(row * 16_000)
    n_small, grew_small = _peak_growth_mb(small)
    n_large, grew_large = _peak_growth_mb(large)
    assert (n_small, n_large) == (4_000, 16_000)
    size_mb = large.stat().st_size / 2**20
    assert grew_large < grew_small * 1.3 + 10, (grew_small, grew_large)
    assert grew_large < size_mb, f"peak RSS grew {grew_large:.0f} MB for a {size_mb:.0f} MB file"
