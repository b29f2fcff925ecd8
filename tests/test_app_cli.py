"""`curate app RUN_DIR`: argument checks and the streamlit command it runs."""

from __future__ import annotations

import subprocess

import pytest

from curate.cli import main


def test_missing_run_dir_is_a_user_error(tmp_path, capsys):
    assert main(["app", str(tmp_path / "nope")]) == 2
    assert "run directory not found" in capsys.readouterr().err


def test_bad_port(tmp_path, capsys):
    assert main(["app", str(tmp_path), "--port", "70000"]) == 2
    assert "--port" in capsys.readouterr().err


def test_runs_streamlit_on_the_app_with_the_run(tmp_path, monkeypatch):
    seen = {}

    def fake_serve(cmd, env):
        seen.update(cmd=cmd, env=env)
        return 0

    monkeypatch.setattr("curate.cli.app._serve", fake_serve)
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


def test_app_config_keeps_generation_fast_and_the_terminal_quiet():
    """No gc.collect after every script run (it starved generation: 0.2 tokens/s per column) and no file
    watcher (a 'No module named torchvision' traceback per scan of transformers)."""
    from pathlib import Path

    import tomllib

    from curate.cli.app import APP_MAIN

    config = tomllib.loads((Path(APP_MAIN).parent / ".streamlit" / "config.toml").read_text())
    assert config["runner"]["postScriptGC"] is False
    assert config["server"]["fileWatcherType"] == "none"


def test_voters_file_is_checked_and_links_printed(tmp_path, monkeypatch, capsys):
    seen = {}
    monkeypatch.setattr("curate.cli.app._serve", lambda cmd, env: seen.update(env=env) or 0)
    bad = tmp_path / "voters.txt"
    bad.write_text("ann short\n")
    assert main(["app", str(tmp_path), "--voters", str(bad)]) == 2
    assert "shorter than" in capsys.readouterr().err and not seen
    good = tmp_path / "voters.txt"
    good.write_text("# name token\nann ann-secret-1\nbob bob-secret-2  # the second\n")
    assert main(["app", str(tmp_path), "--voters", str(good), "--port", "8600"]) == 0
    assert "ann: http://127.0.0.1:8600/arena?voter=ann-secret-1" in capsys.readouterr().err
    assert seen["env"]["CURATE_VOTERS"] == str(good.resolve())


def test_sigterm_stops_the_streamlit_child(tmp_path):
    """`curate app` stopped with SIGTERM takes its Streamlit server down with it (the port is free)."""
    import os
    import signal
    import socket
    import sys
    import time
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    curate = [sys.executable, "-c", "import sys; from curate.cli import main; sys.exit(main(sys.argv[1:]))"]
    proc = subprocess.Popen([*curate, "app", str(tmp_path), "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2):
                    break
            except OSError:
                assert time.monotonic() < deadline and proc.poll() is None, "the app did not start"
                time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)  # to `curate app` only, as a service manager would
        assert proc.wait(30) == 0
        with socket.socket() as s, pytest.raises(ConnectionRefusedError):
            s.connect(("127.0.0.1", port))  # nobody listens any more: the Streamlit child is gone too
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


def test_favicon_needs_no_network():
    """An emoji favicon is an inline SVG; a material icon is fetched from fonts.gstatic.com (fails offline)."""
    from streamlit.string_util import is_emoji

    from curate.app.state import PAGE_ICON

    assert is_emoji(PAGE_ICON)
