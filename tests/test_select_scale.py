"""Selection's compact per-row state: reasons as codes, rejected.parquet written in chunks, rule counts
over distinct reasons; the files say exactly what the per-row strings said."""

import json

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from curate import select
from curate.selection.output import write_rejected


@pytest.fixture
def df():
    rng = np.random.default_rng(0)
    n = 3_000
    return pd.DataFrame({
        "id": [f"id{i:05d}" for i in range(n)], "row": np.arange(n),
        "source": rng.choice(["a", "b", "c"], n),
        "reward": np.where(rng.random(n) < 0.1, np.nan, rng.random(n)),
        "turns": rng.integers(1, 12, n),
    })


def test_reasons_are_the_per_row_strings(df):
    sel = select(df, filter="turns <= 8 and reward > 0.2", rank={"reward": 1.0}, budget=100, progress=False)
    r = sel.rejected.set_index("id")["reason"].astype(str)
    assert len(sel.selected) == 100 and len(r) == len(df) - 100
    assert (r[df.loc[df["turns"] > 8, "id"]] == "filter: turns <= 8").all()
    bad = df[(df["turns"] <= 8) & ~(df["reward"] > 0.2)]["id"]
    assert (r[bad] == "filter: reward > 0.2").all()
    assert set(r) == {"filter: turns <= 8", "filter: reward > 0.2", "budget"}
    assert sel.rejected["row"].is_monotonic_increasing, "rejected rows stay in input order"
    expected = r.str.split(":", n=1).str[0].value_counts()
    assert sel.counts["rejected"] == {k: int(v) for k, v in sorted(expected.items())}


def test_rejected_written_in_chunks_equals_one_piece(df, tmp_path):
    sel = select(df, filter="turns <= 9", quotas={"column": "source", "max": {"a": 10}}, budget=300, progress=False)
    write_rejected(tmp_path / "one.parquet", sel.rejected)
    write_rejected(tmp_path / "chunks.parquet", sel.rejected, chunk=256)
    one, chunks = pq.read_table(tmp_path / "one.parquet"), pq.read_table(tmp_path / "chunks.parquet")
    assert pq.ParquetFile(tmp_path / "chunks.parquet").num_row_groups > 5
    assert chunks.equals(one) and chunks.schema.equals(one.schema, check_metadata=True)
    plain = sel.rejected.assign(reason=sel.rejected["reason"].astype(str))
    assert one.column("reason").to_pylist() == plain["reason"].tolist()
    assert "quota: source=a" in set(plain["reason"])


def test_the_report_shows_the_selections_own_rule_counts(tmp_path):
    """The report's "rejected by rule" is the selection's count (meta.json ``counts.rejected``), most
    first: it reads no rejected.parquet and counts nothing again."""
    from helpers import scored_run

    import curate
    from curate.rundir import write_json

    run = scored_run(tmp_path / "run")
    files = run.subset_files("quality")
    meta = json.loads(files.meta.read_text())
    write_json(files.meta, {**meta, "counts": {**meta["counts"], "rejected": {"budget": 7, "filter": 1234}}})
    files.rejected.unlink()
    html = curate.report(run.root).read_text()
    assert "filter 1,234, budget 7" in html
