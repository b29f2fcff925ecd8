"""The fixed small run whose outputs must not change across refactors (tests/test_behaviour_kept.py).

``python tests/behaviour_run.py OUT`` runs it and prints the digests as JSON (how the fixture was made)."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from curate.rundir import RunDir

RECIPE = {
    "name": "behaviour",
    "input": {"source": "sharegpt-sample", "limit": 600, "chunk_rows": 256},
    "scorers": ["heuristics"],
    "validity": ["role_order", "template_leak", "ends_with_assistant"],
    # keep: first. The code before steps ignored a recipe's dedup.keep (and methods) and always kept the
    # first copy; with keep: first both versions do the same thing, so the recorded digests stand. ngram 5
    # and method minhash pin the near-dup shingling and signatures of that code (the defaults are now
    # 3-grams and one-permutation hashing, issue 16).
    "dedup": {"methods": ["exact", "near"], "keep": "first", "near": {"threshold": 0.7, "ngram": 5, "method": "minhash"}},
    "subsets": [
        {"name": "quality", "filter": "not truncated and not refusal and turns <= 6",
         "rank": {"assistant_chars": 1.0, "dup_ngram_frac": -0.5}, "budget": 40},
        {"name": "random", "baseline": "random", "budget": 40},
        {"name": "longest", "baseline": "longest", "budget": {"tokens": 20000}},
        {"name": "mixed", "rank": "assistant_chars", "budget": 30, "format": "messages",
         "quotas": {"column": "turns", "max": {"2": 10}}},
    ],
}
COMPARED = (".parquet", ".jsonl")


def digests(root: Path) -> dict[str, dict[str, str]]:
    """Per output file: the file's sha256 and a sha256 of its rows (robust to Parquet metadata)."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if not p.is_file() or p.suffix not in COMPARED or rel.startswith(("steps/", "data/shards/", "data/quarantine/")):
            continue
        if rel.startswith("scores/"):  # part names carry a timestamp: digest each key's rows as one table
            continue
        if p.suffix == ".parquet":
            rows = json.dumps(pq.read_table(p).to_pylist(), sort_keys=True, default=str)
        else:
            rows = p.read_text(encoding="utf-8")
        out[rel] = {"file": hashlib.sha256(p.read_bytes()).hexdigest(),
                    "rows": hashlib.sha256(rows.encode()).hexdigest()}
    conversations = RunDir(root).conversations_table().to_pylist()  # the shards, through the run's index
    out["data/conversations"] = {"rows": hashlib.sha256(json.dumps(conversations, sort_keys=True, default=str).encode()).hexdigest()}
    for key in sorted(p.name for p in (root / "scores").iterdir()):
        table = pa.concat_tables(pq.read_table(p) for p in sorted((root / "scores" / key).glob("part-*.parquet"))).sort_by("id")
        rows = json.dumps(table.to_pylist(), sort_keys=True, default=str)
        out[f"scores/{key}"] = {"rows": hashlib.sha256(rows.encode()).hexdigest()}
    return out


if __name__ == "__main__":
    import curate

    out = Path(sys.argv[1])
    curate.run(dict(RECIPE, run_dir=str(out)), progress=False)
    print(json.dumps(digests(out), indent=1, sort_keys=True))
