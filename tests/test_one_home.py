"""One way to do each job (issue 23): each of these functions is defined in one module of curate/, and
stale names (removed helpers, a ``runner.STEPS`` that does not exist, ``load(n=...)``) stay gone."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FILES = {p: ast.parse(p.read_text()) for p in sorted((ROOT / "curate").rglob("*.py"))}

ONE_HOME = {  # name -> the one module that defines it (others import it)
    "resolve_model": "curate/models.py",
    "default_workers": "curate/jsonl_reader.py",  # the executor's is shard_workers (sized by shards, not bytes)
    "fingerprint": "curate/files.py",
    "atomic_path": "curate/files.py",
    "write_json": "curate/files.py",
    "write_parquet": "curate/files.py",
    "conversation_table": "curate/inputs.py",  # "the data" as a table: score, dedup and distill
    "embedding_rows": "curate/inputs.py",  # (ids, matrix) lined up with rows: dedup and diversity
    "parse": "curate/recipe.py",  # a recipe; a filter expression is parse_filter
    "score_columns": "curate/recipe.py",  # a run's columns; the heuristics' values are heuristic_values
}
GONE = ("load_audit", "ExecutorName", "as_table", "_align")


def _defined() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for path, tree in FILES.items():
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                out.setdefault(node.name, []).append(str(path.relative_to(ROOT)))
            elif isinstance(node, ast.Assign):
                for t in node.targets:
                    if isinstance(t, ast.Name):
                        out.setdefault(t.id, []).append(str(path.relative_to(ROOT)))
    return out


def test_each_job_has_one_home():
    defined = _defined()
    for name, home in ONE_HOME.items():
        assert defined.get(name) == [home], f"{name} is defined in {defined.get(name)}; only {home} should"


def test_removed_names_stay_gone():
    defined = _defined()
    assert not {n: defined[n] for n in GONE if n in defined}


def test_no_stale_words():
    for path in FILES:
        assert "runner.STEPS" not in path.read_text() and ":data:`STEPS`" not in path.read_text(), path


def test_curate_calls_load_with_limit_not_n():
    for path, tree in FILES.items():
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) in ("load", "iter_load"):
                assert "n" not in {k.arg for k in node.keywords}, f"{path.relative_to(ROOT)}:{node.lineno} uses n="


def test_the_step_context_calls_its_run_directory_rundir():
    """``Step.run()`` and ``curate.run()`` are verbs; the context's run directory is ``ctx.rundir``."""
    from curate.pipeline.context import Context

    assert "rundir" in Context.__dataclass_fields__ and "run" not in Context.__dataclass_fields__
