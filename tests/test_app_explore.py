import pyarrow as pa
from helpers import write_conversations

from app.explore import load_rows
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
    assert df["why"].tolist()[1].startswith("exact duplicate of x")
    assert df["why"].tolist()[2] == "failed validity check: invalid:role_order"
