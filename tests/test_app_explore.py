import pyarrow as pa
from helpers import write_conversations

from curate.app.explore import load_rows
from curate.rundir import write_parquet


def test_removal_reasons_are_per_row_not_per_id(tmp_path):
    msgs = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]
    write_conversations(tmp_path, [msgs] * 3, source="s", ids=["x", "x", "y"])  # row 1: exact copy of row 0
    write_parquet(tmp_path / "dedup" / "exact.parquet", pa.Table.from_pylist(
        [{"id": "x", "row": 1, "method": "exact", "duplicate_of": "x", "similarity": 1.0}]))
    write_parquet(tmp_path / "validity.parquet", pa.Table.from_pylist(
        [{"id": "y", "row": 2, "reason": "invalid:role_order"}]))
    df, _ = load_rows(tmp_path)
    assert df["status"].tolist() == ["kept", "removed", "removed"]
    assert df["why"].tolist()[1].startswith("removed as an exact copy")
    assert df["why"].tolist()[2].startswith("removed because the roles are out of order: the first message is not")


def test_export_round_trips_the_filtered_rows(tmp_path):
    import io

    import pandas as pd

    from curate.app.inspect import conversation_diff, export_rows, to_jsonl, to_parquet_bytes

    msgs = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]
    view = pd.DataFrame({"id": ["x", "y"], "messages": [msgs, msgs], "text": ["q a", "q a"], "preview": ["q", "q"],
                         "status": ["kept", "removed"], "ifd": [0.5, None]})
    out = export_rows(view)
    assert list(out.columns) == ["id", "messages", "status", "ifd"]
    back = pd.read_json(io.StringIO(to_jsonl(out)), lines=True)
    assert back["messages"][0] == msgs and back["status"].tolist() == ["kept", "removed"]
    table = pd.read_parquet(io.BytesIO(to_parquet_bytes(out)))
    assert table["id"].tolist() == ["x", "y"] and list(table["messages"][0][1].values()) == ["assistant", "a"]
    changed = [{"role": "user", "content": "q!"}, msgs[1]]
    assert "-user: q\n+user: q!" in conversation_diff(msgs, changed)


def test_semantic_duplicate_reason_reads_as_a_sentence():
    from curate import glossary

    why = glossary.duplicate("semantic", "id004", 0.93)
    assert why.startswith("removed as a semantic copy (says the same thing in other words")  # not "removed as says"
    assert why.endswith("of row id004, similarity 0.93")
