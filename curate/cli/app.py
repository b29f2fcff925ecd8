"""`curate app RUN_DIR`: open the Streamlit app (compare, arena, leaderboard, explorer) on a run."""

from __future__ import annotations

import argparse
import importlib.util
import os
import signal
import subprocess
import sys
from pathlib import Path
from types import FrameType

from curate.cli._args import add_existing_run_dir
from curate.errors import UserError

APP_MAIN = Path(importlib.util.find_spec("curate.app").origin).parent / "main.py"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("app", help="open the Streamlit app to compare, vote on and explore a run",
                              description=__doc__)
    add_existing_run_dir(p, "run directory (from `curate run`), with models in RUN_DIR/models/")
    p.add_argument("--port", type=int, default=8501, help="port to serve on (default 8501)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1, this machine only)")
    p.add_argument("--model", default=None,
                   help="base model (alias, folder or hub id); default: the one the adapters were trained on")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or mps (default auto)")
    p.add_argument("--voters", default=None, metavar="FILE",
                   help="shared arena: a file of 'NAME TOKEN' lines; each voter votes through their own link "
                        "(?voter=TOKEN), once per battle, with a rate limit; without it votes are anonymous")
    p.set_defaults(func=main)


def command(args: argparse.Namespace) -> list[str]:
    """The `streamlit run` command line for ``args`` (separate so it can be tested without serving)."""
    return [sys.executable, "-m", "streamlit", "run", str(APP_MAIN),
            "--server.port", str(args.port), "--server.address", args.host,
            "--server.headless", "true", "--browser.gatherUsageStats", "false",
            "--", str(Path(args.run_dir).resolve())]


def _serve(cmd: list[str], env: dict[str, str]) -> int:
    """Run Streamlit as a child and pass SIGTERM/SIGINT on to it, so stopping `curate app` (a service
    manager's SIGTERM, Ctrl+C) stops the server too instead of leaving it holding the port."""
    child = subprocess.Popen(cmd, env=env)

    def forward(signum: int, frame: FrameType | None) -> None:
        if child.poll() is None:
            child.send_signal(signum)

    old = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        while True:
            try:
                return child.wait(timeout=None)
            except KeyboardInterrupt:  # a second Ctrl+C while the child shuts down
                continue
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
        if child.poll() is None:
            child.kill()
            child.wait()


def main(args: argparse.Namespace) -> int:
    run = Path(args.run_dir)
    if not run.is_dir():
        raise UserError(f"run directory not found: {run}")
    if not 0 < args.port < 65536:
        raise UserError(f"--port must be between 1 and 65535, got {args.port}")
    env = dict(os.environ, CURATE_RUN_DIR=str(run.resolve()), CURATE_DEVICE=args.device)
    if args.model:
        env["CURATE_BASE_MODEL"] = args.model
    url = f"http://{args.host}:{args.port}"
    if args.voters:
        from curate.app import voters

        people = voters.load(args.voters)  # a bad file stops here, before the server starts
        env["CURATE_VOTERS"] = str(Path(args.voters).resolve())
        print("curate app: shared arena; each voter's link:\n  " + "\n  ".join(voters.links(people, url)),
              file=sys.stderr)
    print(f"curate app: serving {run} at {url} (Ctrl+C to stop)", file=sys.stderr)
    rc = _serve(command(args), env)
    return 0 if rc in (-signal.SIGTERM, -signal.SIGINT) else rc
