#!/usr/bin/env bash
# `make gpu-check`: install the `gpu` extra (Unsloth) into .venv, then check training, bf16 scoring and
# generation on the CUDA GPU in one table (runs/gpu-check/gpu-check.md and .json). Under 10 minutes on
# one H100. Without CUDA it refuses in one line (exit 2). `--dry-run` runs the steps on the CPU at toy
# size and installs nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
if [[ " $* " != *" --dry-run "* ]]; then
  "$PY" - <<'PYCHECK' || exit 2
import sys, torch
if torch.version.cuda is None or not torch.cuda.is_available():
    why = "is a CPU-only build" if torch.version.cuda is None else "sees no CUDA GPU"
    print(f"gpu-check: error: torch {torch.__version__} {why}; run on a CUDA machine (or add --dry-run)", file=sys.stderr)
    sys.exit(2)
PYCHECK
  # Pin the installed torch: unsloth's own requirement would otherwise replace it.
  TORCH=$("$PY" -c 'import torch; print(torch.__version__.split("+")[0])')
  "$PY" -m pip install -q -e ".[gpu]" -c <(echo "torch==$TORCH")
fi
exec "$PY" -m benchmarks.gpu_check "$@"
