"""Check the public API's docstrings: ``make lint`` runs this, and so does tests/test_docstrings.py.

The modules that define the names of ``curate.__all__`` (and ``curate.duplicates.dedup_signatures``)
are linted with ruff's pydocstyle ``D`` rules (google convention, pyproject.toml) and its pydoclint
``DOC`` rules (preview): public names have docstrings, an ``Args:`` section names every parameter, and
``Returns:``, ``Yields:`` and ``Raises:`` match the body. Ruff applies ``DOC`` to private helpers too
(astral-sh/ruff#20280); their findings are dropped, since a helper's docstring says why, not how to call
it. Ruff cannot ask for a section that is missing altogether, so each API name must also have ``Args:``
when it takes arguments and, as a class, ``Args:`` or ``Attributes:`` naming every public field.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODULES = (
    "curate/auditing/api.py",
    "curate/duplicates/api.py",
    "curate/duplicates/config.py",
    "curate/duplicates/result.py",
    "curate/errors.py",
    "curate/exporting/api.py",
    "curate/loaders.py",
    "curate/pipeline/runner.py",
    "curate/proxy/distill.py",
    "curate/recipe.py",
    "curate/records.py",
    "curate/reporting/build.py",
    "curate/rundir.py",
    "curate/scoring.py",
    "curate/selection/config.py",
    "curate/selection/core.py",
)
IGNORE = {
    "D105": "magic methods (__len__, __repr__) mean what Python says they mean",
    "D107": "a constructor's arguments are documented in its class docstring (Google style)",
    "D205": "a summary may wrap onto a second line (the project's concise style)",
    "D209": "a short multi-line docstring closes on its last line",
    "DOC502": "Raises names the errors of the helpers a function calls too, not only its own raise statements",
}
COMMAND = [sys.executable, "-m", "ruff", "check", "--preview", "--select", "D,DOC", "--ignore", ",".join(IGNORE),
           "--output-format", "json", *MODULES]


def _helper_docstrings(path: Path) -> set[int]:
    """First lines of the docstrings of private functions and classes, and of functions nested in one."""
    lines: set[int] = set()

    def walk(node: ast.AST, hidden: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if not isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                walk(child, hidden)
                continue
            private = hidden or (child.name.startswith("_") and not child.name.endswith("__"))
            if private and ast.get_docstring(child) is not None:
                lines.add(child.body[0].lineno)
            walk(child, private or not isinstance(child, ast.ClassDef))

    walk(ast.parse(path.read_text(encoding="utf-8")), False)
    return lines


def ruff_problems() -> list[str]:
    """Ruff's findings on :data:`MODULES`, less ``DOC`` findings on private helpers."""
    done = subprocess.run(COMMAND, cwd=ROOT, capture_output=True, text=True)
    if done.returncode not in (0, 1):
        return [f"ruff failed ({done.returncode}): {done.stderr.strip()}"]
    out, helpers = [], {}
    for d in json.loads(done.stdout):
        path = Path(d["filename"])
        if d["code"].startswith("DOC"):
            helpers.setdefault(path, _helper_docstrings(path))
            if d["location"]["row"] in helpers[path]:
                continue
        out.append(f"{path.relative_to(ROOT)}:{d['location']['row']}:{d['location']['column']}: "
                   f"{d['code']} {d['message']}")
    return out


def _section(doc: str, title: str) -> list[str] | None:
    """The names an ``Args:``/``Attributes:`` section documents, or None when the docstring has none."""
    match = re.search(rf"^{title}:\n((?:[ \t]+.*\n?|\n)*)", doc, re.MULTILINE)
    return None if match is None else re.findall(r"^ {4}\**(\w+)[^:\n]*:", match.group(1), re.MULTILINE)


def _class_problems(name: str, cls: type) -> list[str]:
    doc = inspect.cleandoc(cls.__doc__ or "")
    if dataclasses.is_dataclass(cls) or hasattr(cls, "model_fields"):
        fields = [f.name for f in dataclasses.fields(cls)] if dataclasses.is_dataclass(cls) else list(cls.model_fields)
        section = "Attributes"
    elif "__init__" in vars(cls):
        fields = [p for p in inspect.signature(cls).parameters]
        section = "Args"
    else:
        return []
    fields = [f for f in fields if not f.startswith("_")]
    listed = _section(doc, section)
    if fields and listed is None:
        return [f"{name}: the class docstring has no {section}: section ({', '.join(fields)})"]
    missing = [f for f in fields if f not in (listed or [])]
    return [f"{name}: {section}: does not name {', '.join(missing)}"] if missing else []


def api_problems() -> list[str]:
    """Each API name defined in :data:`MODULES`, with the sections ruff cannot ask for."""
    sys.path.insert(0, str(ROOT))
    import curate
    from curate.duplicates import dedup_signatures

    names = {f"curate.{n}": getattr(curate, n) for n in curate._API}
    names["curate.duplicates.dedup_signatures"] = dedup_signatures
    out = []
    for name, obj in names.items():
        where = Path(inspect.getsourcefile(obj)).resolve().relative_to(ROOT).as_posix()
        if where not in MODULES:
            out.append(f"{name} is defined in {where}, which scripts/lint_docs.py's MODULES does not list")
        if inspect.isclass(obj):
            out += _class_problems(name, obj)
        elif inspect.signature(obj).parameters and _section(inspect.cleandoc(obj.__doc__ or ""), "Args") is None:
            out.append(f"{name}: the docstring has no Args: section")
    return out


def main() -> int:
    problems = ruff_problems() + api_problems()
    for line in problems:
        print(line)
    print(f"docstrings: {len(problems)} problem(s) in the public API" if problems else "docstrings: ok")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
