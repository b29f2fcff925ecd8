"""Score store: atomic parts, newest copy of an id wins, joins with key suffixes, float16 embeddings."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from curate.errors import UserError
from curate.rundir import RunDir, load_embeddings, scores, write_parquet
from curate.store import ScoreStore, scalar_columns


def _part(ids, values, err=None, col="x"):
    return pa.table({"id": ids, col: values, "s_error": pa.array(err or [None] * len(ids), pa.string())})


def test_append_read_newest_wins(tmp_path):
    st = RunDir(tmp_path).score_store()
    st.write_meta("s-1", {"name": "s", "settings": {"a": 1}})
    st.append("s-1", _part(["a", "b"], [None, 2.0], ["boom", None]))
    st.append("s-1", _part(["a"], [1.5]))
    t = st.read("s-1").to_pandas().set_index("id")
    assert t.loc["a", "x"] == 1.5 and pd.isna(t.loc["a", "s_error"])
    assert st.scored_ids("s-1") == {"a", "b"}
    assert st.keys() == ["s-1"] and st.meta("s-1")["settings"] == {"a": 1}
    st.compact("s-1")
    assert len(st.parts("s-1")) == 1
    assert st.read("s-1").num_rows == 2


def test_failed_rows_can_be_left_out_of_scored_ids(tmp_path):
    st = RunDir(tmp_path).score_store()
    st.write_meta("s-1", {"name": "s"})
    st.append("s-1", _part(["a", "b"], [None, 2.0], ["boom", None]))
    assert st.scored_ids("s-1", "s_error") == {"b"}


def test_scores_join_and_clash_suffix(tmp_path):
    st = RunDir(tmp_path).score_store()
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
    st = RunDir(tmp_path).score_store()
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


def test_scores_and_load_embeddings_are_the_rundir_reads(tmp_path):
    """``curate.scores`` is ``RunDir.scores``: the detector's ``junk_prob`` is joined as for selection."""
    st = RunDir(tmp_path).score_store()
    st.write_meta("h-1", {"name": "h"})
    st.append("h-1", pa.table({"id": ["a", "b"], "chars": [10, 20]}))
    write_parquet(RunDir(tmp_path).detector_outputs[0], pa.table({"id": ["a"], "junk_prob": [0.9]}))
    pd.testing.assert_frame_equal(scores(tmp_path), RunDir(tmp_path).scores())
    assert scores(tmp_path).set_index("id").loc["a", "junk_prob"] == 0.9


def test_scalar_columns_by_kind():
    frame = pd.DataFrame({
        "id": ["a", "b"], "reward": [0.5, np.nan], "ok": [True, False], "maybe": [True, None], "lang": ["en", "de"],
        "vec": [np.zeros(2), np.ones(2)], "empty": [None, None], "reward_error": [None, "boom"], "row": [0, 1],
    })
    assert scalar_columns(frame) == ["reward", "ok", "maybe", "lang", "empty", "row"]
    assert scalar_columns(frame, "number_or_flag", skip={"row"}) == ["reward", "ok", "maybe"]
    assert scalar_columns(frame, "number", skip={"row"}) == ["reward"]
