import subprocess
import sys

import pytest

from curate.cli import build_parser, main


def subcommands():
    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    return sorted(action.choices)


def test_core_subcommands_exist():
    assert {"run", "demo", "score", "dedup", "select", "report", "train", "evaluate", "app"} <= set(subcommands())


@pytest.mark.parametrize("cmd", subcommands())
def test_every_subcommand_has_help(cmd, capsys):
    with pytest.raises(SystemExit) as e:
        main([cmd, "--help"])
    assert e.value.code == 0
    assert len(capsys.readouterr().out) > 100


def test_missing_recipe_is_exit_2_one_line(tmp_path):
    out = subprocess.run([sys.executable, "-m", "curate", "run", str(tmp_path / "nope.yaml")],
                         capture_output=True, text=True)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [f"curate: error: recipe not found: {tmp_path / 'nope.yaml'}"]


def test_wrong_key_is_exit_2_before_work(tmp_path):
    p = tmp_path / "r.yaml"
    p.write_text(f"name: x\ninput: {{source: {tmp_path}/in.jsonl}}\nsubsetz: []\n")
    out = subprocess.run([sys.executable, "-m", "curate", "run", str(p)], capture_output=True, text=True)
    assert out.returncode == 2 and "subsetz: unknown key" in out.stderr
    assert not (tmp_path / "runs").exists()


def test_no_command_prints_help(capsys):
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().out
