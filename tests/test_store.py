"""Score store: atomic parts, newest copy of an id wins, joins with key suffixes, float16 embeddings."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from curate.errors import UserError
from curate.rundir import load_embeddings, scores
from curate.store import ScoreStore


def _part(ids, values, err=None, col="x"):
    return pa.table({"id": ids, col: values, "s_error": pa.array(err or [None] * len(ids), pa.string())})


def test_append_read_newest_wins(tmp_path):
    st = ScoreStore(tmp_path / "scores")
    st.write_meta("s-1", {"name": "s", "settings": {"a": 1}})
    st.append("s-1", _part(["a", "b"], [None, 2.0], ["boom", None]))
    st.append("s-1", _part(["a"], [1.5]))
    t = st.read("s-1").to_pandas().set_index("id")
    assert t.loc["a", "x"] == 1.5 and pd.isna(t.loc["a", "s_error"])
    assert st.scored_ids("s-1") == {"a", "b"}
    assert st.keys() == ["s-1"] and st.meta("s-1")["settings"] == {"a": 1}
    st.compact("s-1")
    assert len(list((tmp_path / "scores" / "s-1").glob("part-*.parquet"))) == 1
    assert st.read("s-1").num_rows == 2


def test_failed_rows_can_be_left_out_of_scored_ids(tmp_path):
    st = ScoreStore(tmp_path / "scores")
    st.write_meta("s-1", {"name": "s"})
    st.append("s-1", _part(["a", "b"], [None, 2.0], ["boom", None]))
    assert st.scored_ids("s-1", "s_error") == {"b"}


def test_scores_join_and_clash_suffix(tmp_path):
    st = ScoreStore(tmp_path / "scores")
    for key, vals in [("r-aaa", [1.0, 2.0]), ("r-bbb", [3.0, 4.0])]:
        st.write_meta(key, {"name": "r"})
        st.append(key, _part(["a", "b"], vals))
    st.write_meta("h-1", {"name": "h"})
    st.append("h-1", pa.table({"id": ["a"], "chars": [10]}))
    df = scores(tmp_path).set_index("id")
    assert {"x__r-aaa", "x__r-bbb", "chars"} <= set(df.columns)
    assert df.loc["b", "x__r-bbb"] == 4.0 and np.isnan(df.loc["b", "chars"])
    only = scores(tmp_path, keys=["h"])
    assert list(only.columns) == ["id", "chars"]
    with pytest.raises(UserError, match="no scores for 'nope'"):
        scores(tmp_path, keys=["nope"])


def test_load_embeddings_float16_mmap_cache(tmp_path):
    st = ScoreStore(tmp_path / "scores")
    st.write_meta("embedding-1", {"name": "embedding"})
    vecs = [np.arange(4, dtype=np.float16), None, np.ones(4, dtype=np.float16)]
    st.append("embedding-1", pa.table({
        "id": ["a", "b", "c"],
        "embedding": pa.array(vecs, type=pa.list_(pa.float16())),
    }))
    ids, m = load_embeddings(tmp_path)
    assert ids == ["a", "c"] and m.dtype == np.float16 and m.shape == (2, 4)
    assert isinstance(m, np.memmap)
    np.testing.assert_array_equal(m[0], np.arange(4))
    # a new part invalidates the cache
    st.append("embedding-1", pa.table({"id": ["b"], "embedding": pa.array([np.zeros(4, np.float16)],
                                                                         type=pa.list_(pa.float16()))}))
    ids2, m2 = load_embeddings(tmp_path, "embedding-1")
    assert sorted(ids2) == ["a", "b", "c"] and m2.shape == (3, 4)
    with pytest.raises(UserError, match="no column 'nope'"):
        load_embeddings(tmp_path, column="nope")


def test_memory_store():
    st = ScoreStore(None)
    st.write_meta("k", {"name": "s"})
    st.append("k", _part(["a"], [1.0]))
    st.append("k", _part(["a"], [2.0]))
    assert st.read("k").to_pylist()[0]["x"] == 2.0
