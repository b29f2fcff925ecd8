"""Distill on teachers with nothing to teach: each is one line naming the column and why; a tiny
held-out sample is flagged with its interval rather than passed off as perfect agreement."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from curate.cli import main
from curate.proxy import distill
from curate.proxy.fit import spearman_interval
from curate.rundir import RunDir

N = 200


@pytest.fixture
def run(tmp_path):
    """Conversations, a stored embedding feature and teacher columns of every degenerate kind."""
    rng = np.random.default_rng(0)
    ids = [f"id{i:04d}" for i in range(N)]
    RunDir(tmp_path).write_conversations(pa.table({
        "id": ids, "messages": [[{"role": "user", "content": f"q{i}?"}, {"role": "assistant", "content": f"a{i}."}]
                                for i in range(N)],
        "source": ["a"] * N}))
    emb = rng.normal(size=(N, 8)).astype(np.float16)
    store = RunDir(tmp_path).score_store()
    store.append("emb", pa.table({"id": ids, "embedding": pa.array(list(emb), pa.list_(pa.float16()))}))
    store.write_meta("emb", {"name": "emb", "columns": ["embedding"]})
    store.append("teach", pa.table({
        "id": ids, "always": [True] * N, "seven": [7.0] * N, "nothing": pa.array([None] * N, pa.float64()),
        "label": [f"kind{i % 3}" for i in range(N)], "good": emb.astype(float) @ np.arange(8.0)}))
    store.write_meta("teach", {"name": "teach", "columns": ["always", "seven", "nothing", "label", "good"]})
    return tmp_path


@pytest.mark.parametrize(("column", "why"), [
    ("always", "is constant"), ("seven", "is constant"), ("nothing", "has no value on any row"),
    ("label", "not numbers"),
])
def test_degenerate_teacher_is_one_line_naming_the_column(run, capsys, column, why):
    assert main(["distill", str(run), "--column", column, "--features", "[emb]", "--sample", "100",
                 "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("curate: error:") and "\n" not in err and repr(column) in err and why in err


def test_a_tiny_held_out_sample_is_flagged_with_its_interval(run):
    small = distill(run, {"column": "good", "features": ["emb"], "sample": 10, "model": "ridge"}, progress=False)
    table = small.table()
    assert small.agreement["rows"] < 30 and "warning: agreement rests on" in table and "95% interval" in table
    low, high = small.agreement["spearman_ci"]
    assert low < 0 < high
    big = distill(run, {"column": "good", "features": ["emb"], "sample": 200, "model": "ridge"}, progress=False)
    assert big.agreement["rows"] >= 30 and "warning" not in big.table()


def test_spearman_interval_narrows_with_rows():
    assert spearman_interval(1.0, 2) == (-1.0, 1.0)
    low, high = spearman_interval(0.8, 1000)
    assert 0.77 < low < 0.8 < high < 0.83
