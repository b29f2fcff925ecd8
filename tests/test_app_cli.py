"""`curate app RUN_DIR`: argument checks and the streamlit command it runs."""

from __future__ import annotations

import subprocess

from curate.cli import main


def test_missing_run_dir_is_a_user_error(tmp_path, capsys):
    assert main(["app", str(tmp_path / "nope")]) == 2
    assert "run directory not found" in capsys.readouterr().err


def test_bad_port(tmp_path, capsys):
    assert main(["app", str(tmp_path), "--port", "70000"]) == 2
    assert "--port" in capsys.readouterr().err


def test_runs_streamlit_on_the_app_with_the_run(tmp_path, monkeypatch):
    seen = {}

    def fake_call(cmd, env):
        seen.update(cmd=cmd, env=env)
        return 0

    monkeypatch.setattr(subprocess, "call", fake_call)
    assert main(["app", str(tmp_path), "--port", "8600", "--model", "smollm2", "--device", "cpu"]) == 0
    cmd = seen["cmd"]
    assert cmd[1:4] == ["-m", "streamlit", "run"] and cmd[4].endswith("app/main.py")
    assert cmd[cmd.index("--server.port") + 1] == "8600"
    assert cmd[cmd.index("--server.address") + 1] == "127.0.0.1"
    assert seen["env"]["CURATE_RUN_DIR"] == str(tmp_path.resolve())
    assert seen["env"]["CURATE_BASE_MODEL"] == "smollm2" and seen["env"]["CURATE_DEVICE"] == "cpu"


def test_app_config_hides_the_deploy_button():
    from pathlib import Path

    import tomllib

    from curate.cli.app import APP_MAIN

    config = tomllib.loads((Path(APP_MAIN).parent / ".streamlit" / "config.toml").read_text())
    assert config["client"]["toolbarMode"] == "minimal"
