"""One reading of "the data" (issue 23): ``curate.score``, ``curate.dedup`` and ``curate.distill`` turn what
the user passed into a conversation table through ``curate.inputs.conversation_table``, so each accepts the
same inputs with the same errors; ``embedding_rows`` lines up ``(ids, matrix)`` for dedup and diversity."""

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from helpers import numbered_conv, sharegpt, write_conversations, write_jsonl

import curate
from curate.errors import UserError
from curate.inputs import conversation_table, embedding_rows
from curate.proxy.distill import Pool

ROWS = 6


@pytest.fixture
def inputs(tmp_path):
    """The same six conversations as every kind of input the API takes."""
    path = write_jsonl(tmp_path / "in.jsonl", [sharegpt(f"Question {i}?", f"Answer {i}.") for i in range(ROWS)])
    loaded = curate.load(path)
    run = tmp_path / "run"
    write_conversations(run, loaded.table["messages"].to_pylist(), ids=loaded.table["id"].to_pylist())
    frame = loaded.table.to_pandas()
    frame["table"] = "a column that happens to be called table"
    return {"table": loaded.table, "loaded": loaded, "frame": frame, "path": path, "run": run}


@pytest.mark.parametrize("kind", ["table", "loaded", "frame", "path", "run"])
def test_score_dedup_and_distill_read_every_input_alike(inputs, kind, tmp_path):
    data, ids = inputs[kind], inputs["table"]["id"].to_pylist()
    assert conversation_table(data)["id"].to_pylist() == ids
    assert curate.score(data, ["heuristics"], progress=False)["id"].tolist() == ids
    assert curate.dedup(data, progress=False).ids.tolist() == ids
    assert Pool(tmp_path, data).ids == ids


def test_the_same_errors_from_each_caller(tmp_path):
    wrong_type = r"data: expected a pyarrow Table, pandas DataFrame, curate.load\(...\) result, run directory or input path, got int"
    no_columns = r"data needs columns? 'id'.*; the table lacks column\(s\) \['id'.*\] \(it has \['x'\]\)"
    for call in (lambda d: curate.score(d, ["heuristics"], progress=False), lambda d: curate.dedup(d, progress=False)):
        with pytest.raises(UserError, match=wrong_type):
            call(7)
        with pytest.raises(UserError, match=no_columns):
            call(pd.DataFrame({"x": [1]}))
    with pytest.raises(UserError, match=r"data needs column 'id'; the table lacks column\(s\) \['id'\]"):
        Pool(tmp_path, pa.table({"x": [1]}))
    with pytest.raises(UserError, match="does not convert to Arrow"):
        conversation_table(pd.DataFrame({"id": ["a", "b"], "messages": [[], []], "mixed": [1, "one"]}))


def test_ids_without_messages_where_a_caller_allows_them():
    ids_only = pa.table({"id": ["a", "b"]})
    assert conversation_table(ids_only, messages=False) is ids_only
    with pytest.raises(UserError, match="rows needs columns 'id' and 'messages'"):
        conversation_table(ids_only, "rows")


def test_message_lists_stay_a_scoring_input():
    convs = [numbered_conv(i) for i in range(3)]
    assert len(curate.score(convs, ["heuristics"], progress=False)) == 3
    with pytest.raises(UserError, match="got list"):
        conversation_table(convs)


def test_embedding_rows_first_copy_serves_missing_is_minus_one():
    matrix = np.arange(8, dtype=np.float32).reshape(4, 2)
    assert embedding_rows((["a", "b", "a", "c"], matrix), ["c", "a", "z", "b"]).tolist() == [3, 0, -1, 1]
    assert embedding_rows((np.array([1, 2], dtype=object), matrix[:2]), ["2", "1"]).tolist() == [1, 0]
    with pytest.raises(UserError, match=r"embeddings: 3 ids but vectors of shape \(4, 2\)"):
        embedding_rows((["a", "b", "c"], matrix), ["a"])
    with pytest.raises(UserError, match=r"vectors of shape \(4,\)"):
        embedding_rows((["a", "b", "c", "d"], matrix[:, 0]), ["a"])


def test_dedup_and_diversity_align_embeddings_alike():
    """Both consumers read the same rows of the matrix for the same ids (copies share the first vector)."""
    ids = ["p", "q", "p", "r"]
    frame = pd.DataFrame({"id": ids, "messages": [numbered_conv(i) for i in range(4)], "turns": 2})
    vectors = np.array([[1, 0], [0, 1], [0.99, 0.14], [-1, 0]], np.float32)
    emb = (["r", "p", "q"], vectors[[3, 0, 1]])
    found = curate.dedup(frame, methods="semantic", embeddings=emb, semantic={"threshold": 0.9}, progress=False)
    assert not found.keep_mask[2]  # row 2 is an exact copy of row 0: the same vector
    picked = curate.select(frame, budget=4, diversity=0.9, embeddings=emb, progress=False)
    assert sorted(picked.selected["id"]) == ["p", "q", "r"]
