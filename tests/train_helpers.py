"""Builders shared by the train/evaluate tests: a run directory with subset folders."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from curate.schema import conversation_id


def conv(i: int, topic: str = "sorting") -> list[dict]:
    return [
        {"role": "user", "content": f"Question {i} about {topic}: how do I do it well?"},
        {"role": "assistant", "content": f"Answer {i}: for {topic}, start simple and test it. Done."},
    ]


def write_subset(run: Path, name: str, convs: list[list[dict]], source: str = "t") -> Path:
    d = run / "subsets" / name
    d.mkdir(parents=True, exist_ok=True)
    table = pa.table({
        "id": [conversation_id(m) for m in convs],
        "messages": convs,
        "source": [source] * len(convs),
    })
    pq.write_table(table, d / "data.parquet")
    return d


def make_run(root: Path, subsets: dict[str, int], pool: int = 0) -> Path:
    """A run with ``subsets`` {name: rows} and ``pool`` extra conversations only in data/ (held out)."""
    run = root / "run"
    allconvs = []
    start = 0
    for name, n in subsets.items():
        convs = [conv(i) for i in range(start, start + n)]
        write_subset(run, name, convs)
        allconvs += convs
        start += n
    allconvs += [conv(i, "cooking") for i in range(1000, 1000 + pool)]
    (run / "data").mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"id": [conversation_id(m) for m in allconvs], "messages": allconvs,
                             "source": ["t"] * len(allconvs)}), run / "data" / "conversations.parquet")
    return run
