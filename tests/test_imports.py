"""Imports point down: the graph of imports among curate's modules (curate/train and curate/app included) has
no cycle, counting the imports inside functions as well as those at module level, and every module imports.

A lazy import keeps ``import curate`` fast; it does not make a cycle acceptable: two modules that need each
other are one module, or share a third one below both."""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("curate",)

# Import edges (importer, imported) still allowed to close a cycle; each must be a function-level import.
# Keep this empty: an entry names the issue that removes it.
ALLOWED_LAZY: set[tuple[str, str]] = set()


def _modules() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for p in sorted((ROOT / pkg).rglob("*.py")):
            parts = p.relative_to(ROOT).with_suffix("").parts
            out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = p
    return out


def _resolve(name: str, known: dict[str, Path]) -> str | None:
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def _edges() -> dict[tuple[str, str], bool]:
    """(importer, imported) -> whether some import of it is at module level; every import in the file
    counts (functions, methods, ``if`` blocks), not only the module body's."""
    known = _modules()
    edges: dict[tuple[str, str], bool] = {}
    for mod, path in known.items():
        package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        tree = ast.parse(path.read_text())
        top = {id(n) for n in tree.body}
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
                names = [f"{base}.{a.name}" for a in node.names] + [base]
            for n in names:
                target = _resolve(n, known)
                if target and target != mod and not mod.startswith(f"{target}."):  # a package's own parent is not a cycle
                    edges[(mod, target)] = edges.get((mod, target), False) or id(node) in top
    return edges


def _graph(allowed: set[tuple[str, str]] = frozenset()) -> dict[str, set[str]]:
    """Module -> the modules it imports anywhere in its file, less the ``allowed`` edges."""
    graph: dict[str, set[str]] = {m: set() for m in _modules()}
    for (mod, target) in _edges():
        if (mod, target) not in allowed:
            graph[mod].add(target)
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                return stack[stack.index(n):] + [n]
            if n not in state and (found := visit(n)):
                return found
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state and (found := visit(m)):
            return found
    return None


def test_imports_have_no_cycle_lazy_ones_included():
    cycle = _cycle(_graph(ALLOWED_LAZY))
    assert cycle is None, "import cycle (function-level imports count): " + " -> ".join(cycle)


def test_allowed_cycle_edges_are_lazy_and_still_needed():
    edges = _edges()
    for edge in sorted(ALLOWED_LAZY):
        assert edge in edges, f"{edge} is no longer imported: drop it from ALLOWED_LAZY"
        assert not edges[edge], f"{edge} is imported at module level: it may not close a cycle"
        assert _cycle(_graph(ALLOWED_LAZY - {edge})) is not None, f"{edge} closes no cycle: drop it from ALLOWED_LAZY"


def test_lazy_imports_are_seen():
    edges = _edges()
    assert edges[("curate.rundir", "curate.store")] is True  # module level
    assert ("curate.scorers.heuristics", "curate.scorers.heuristic_columns") in edges  # inside a method
    assert not edges[("curate.scorers.heuristics", "curate.scorers.heuristic_columns")]
    assert any(m.startswith("curate.train.") for m, _ in edges) and any(m.startswith("curate.app.") for m, _ in edges)


def test_cycle_finder_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_executor_base_does_not_import_its_executors():
    assert not {"curate.executors.local", "curate.executors.ray_executor"} & _graph()["curate.executors.base"]


def test_every_module_imports():
    # the app's page scripts run Streamlit code at import: AppTest (tests/test_app_pages.py) runs them
    pages = ("curate.app.main", "curate.app.views.")
    mods = [m for m in _modules() if not m.endswith("__main__") and not m.startswith(pages)]
    code = "import importlib, sys\nfor m in sys.argv[1:]:\n    importlib.import_module(m)\n"
    r = subprocess.run([sys.executable, "-c", code, *mods], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-800:]


def test_import_curate_makes_openmp_threads_wait_passively_unless_the_user_chose():
    code = "import os, curate; print(os.environ['OMP_WAIT_POLICY'])"
    env = {k: v for k, v in __import__("os").environ.items() if k != "OMP_WAIT_POLICY"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT)
    assert out.stdout.strip() == "PASSIVE", out.stderr
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**env, "OMP_WAIT_POLICY": "ACTIVE"}, cwd=ROOT)
    assert out.stdout.strip() == "ACTIVE", out.stderr
