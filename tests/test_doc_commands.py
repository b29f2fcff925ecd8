"""Every `curate ...` line in a code block of README.md and docs/*.md parses with the real CLI parser
(argparse only: nothing runs) and uses no deprecated spelling, so a doc command cannot rot."""

from __future__ import annotations

import argparse
import re
import shlex
from pathlib import Path

import pytest

from curate.cli import build_parser
from curate.cli._args import resolve

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)


def doc_commands() -> list[tuple[str, str]]:
    """(where, command) for each `curate` command line in a fenced code block; `\\` continues a line."""
    found = []
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        for block in FENCE.finditer(text):
            line_no = text[: block.start()].count("\n") + 2
            for i, line in enumerate(block.group(1).replace("\\\n", " ").splitlines()):
                line = line.strip().removeprefix("$ ")
                if line.startswith("curate ") or line == "curate":
                    found.append((f"{doc.relative_to(ROOT)}:{line_no + i}", line))
    return found


COMMANDS = doc_commands()


def test_docs_hold_commands():
    assert len(COMMANDS) >= 15, COMMANDS


@pytest.mark.parametrize("where,command", COMMANDS, ids=[w for w, _ in COMMANDS])
def test_doc_command_parses(where, command, capsys):
    argv = shlex.split(command, comments=True)[1:]
    try:
        args = build_parser().parse_args(argv)
        resolve(args)
    except SystemExit as e:  # --help / --version exit 0; a parse error exits 2
        assert e.code == 0, f"{where}: `{command}` does not parse: {capsys.readouterr().err.strip()}"
    err = capsys.readouterr().err
    assert "deprecated" not in err, f"{where}: `{command}` uses an old spelling: {err.strip()}"


def inline_commands() -> list[tuple[str, str]]:
    """(where, text) for each inline `curate SUBCOMMAND ...` span in prose (often partial: `curate train RUN`)."""
    return [(f"{doc.relative_to(ROOT)}:{text[: m.start()].count(chr(10)) + 1}", m.group(1))
            for doc in DOCS for text in [doc.read_text(encoding="utf-8")]
            for m in re.finditer(r"`(curate [a-z][^`]*)`", text)]


def test_inline_doc_commands_name_current_options():
    """Inline spans may hold placeholders, so they are not parsed; each --flag must still be a current
    option of its subcommand, never an unknown or deprecated one."""
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    spans = inline_commands()
    assert len(spans) >= 10
    for where, text in spans:
        words = text.split()
        assert words[1] in sub.choices, f"{where}: `{text}`: no subcommand {words[1]!r}"
        options = {s: a for a in sub.choices[words[1]]._actions for s in a.option_strings}
        for flag in (w.split("=")[0] for w in words[2:] if w.startswith("-")):
            assert flag in options, f"{where}: `{text}`: {flag} is not an option of curate {words[1]}"
            assert options[flag].help != argparse.SUPPRESS, f"{where}: `{text}`: {flag} is deprecated"
