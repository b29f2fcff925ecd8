.PHONY: setup demo test test-quick lint app clean gpu-check
VENV := .venv
BIN := $(VENV)/bin

setup:
	@bash scripts/setup.sh

demo: setup
	$(BIN)/curate demo

test: setup
	@bash scripts/install-browser.sh
	$(BIN)/python -m pytest -q -n 2 --timeout=600

# the suite without the tests that load the shipped models (slow) or need chromium (browser; no browser install)
test-quick: setup
	$(BIN)/python -m pytest -q -n 2 --timeout=600 -m "not slow and not browser"

# ruff on the whole project, then the public API's docstrings (scripts/lint_docs.py: D and DOC rules)
lint: setup
	$(BIN)/ruff check .
	$(BIN)/python scripts/lint_docs.py

app: setup
	$(BIN)/curate app runs/demo

# On a CUDA machine: installs the gpu extra, checks Unsloth/TRL training, bf16 scoring and generation.
gpu-check: setup
	@bash scripts/gpu-check.sh $(ARGS)

clean:
	rm -rf runs .pytest_cache
