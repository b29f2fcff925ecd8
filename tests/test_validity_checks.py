"""One table of validity checks (curate/validity.py): every check has one entry, and the recipe, the
pipeline's Validity step, the audit and the glossary all read it."""

import ast
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from curate import glossary
from curate.errors import UserError
from curate.pipeline.steps import validity
from curate.recipe import parse
from curate.scorers.heuristics import COLUMNS
from curate.validity import BY_NAME, CHECKS, NAMES

ROOT = Path(__file__).resolve().parents[1]


def test_every_check_has_one_entry():
    assert len(NAMES) == len(set(NAMES)) == len(CHECKS) == len(BY_NAME)
    for c in CHECKS:
        assert c.column in COLUMNS, f"{c.name}: no heuristics column {c.column!r}"
        assert isinstance(c.fails, bool) and c.meaning.strip()


@pytest.mark.parametrize("check", NAMES)
def test_the_recipe_accepts_each_check(check):
    assert parse({"name": "t", "input": {"source": "x.jsonl"}, "validity": [check]}).validity == [check]


def test_the_recipe_refuses_a_check_not_in_the_table():
    with pytest.raises(UserError, match="validity.0"):
        parse({"name": "t", "input": {"source": "x.jsonl"}, "validity": ["spelling"]})


def test_the_pipeline_removes_by_the_table():
    ids = [f"r{i}" for i in range(len(CHECKS) + 1)]  # row i fails check i only; the last row passes all
    passing = {c.column: not c.fails for c in CHECKS}
    rows = [{"id": rid, **passing} for rid in ids]
    for i, c in enumerate(CHECKS):
        rows[i][c.column] = c.fails
    reasons = validity(pa.table({"id": ids}), pd.DataFrame(rows), list(NAMES))
    assert reasons.tolist() == [f"invalid:{c.name}" for c in CHECKS] + [""]


def test_the_glossary_reads_the_table():
    assert {c.name: c.meaning for c in CHECKS} == glossary.VALIDITY
    for c in CHECKS:
        assert glossary.validity(f"invalid:{c.name}") == f"removed because {c.meaning}"


def test_no_other_module_spells_the_checks():
    """The table is the one place: no dict, tuple, list or set elsewhere in curate/ is made of check names."""
    names = set(NAMES)
    for path in (ROOT / "curate").rglob("*.py"):
        if path.name == "validity.py" and path.parent.name == "curate":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.Dict, ast.Tuple, ast.List, ast.Set)):
                elts = node.keys if isinstance(node, ast.Dict) else node.elts
                strings = {e.value for e in elts if isinstance(e, ast.Constant) and isinstance(e.value, str)}
                found = strings & names
                assert len(found) < 2 or strings - names, f"{path.relative_to(ROOT)}:{node.lineno} lists validity checks {sorted(found)}"
