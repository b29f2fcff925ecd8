"""Refactors keep behaviour: a fixed small run (tests/behaviour_run.py) must reproduce, row for row, the
outputs recorded before the pipeline became steps (tests/fixtures/behaviour_run.json)."""

import json
from pathlib import Path

from behaviour_run import RECIPE, digests

import curate

FIXTURE = Path(__file__).parent / "fixtures" / "behaviour_run.json"


def test_fixed_run_reproduces_recorded_outputs(tmp_path):
    expected = json.loads(FIXTURE.read_text())
    summary = curate.run(dict(RECIPE, run_dir=str(tmp_path / "run")), progress=False)
    assert summary.counts == expected["counts"] and summary.subsets == expected["subsets"]
    got = digests(tmp_path / "run")
    assert sorted(got) == sorted(expected["digests"])
    changed = [name for name, d in expected["digests"].items() if got[name]["rows"] != d["rows"]]
    assert not changed, f"outputs changed: {changed}"
