"""`make gpu-check` refuses cleanly without CUDA and runs every step on the CPU in its dry-run mode;
the CUDA defaults of the model scorers (attention kernel, batch token budget) follow the machine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from benchmarks import gpu_check
from curate.scorers import model

ROOT = Path(__file__).resolve().parents[1]
needs_no_gpu = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")


@needs_no_gpu
def test_refuses_without_cuda_in_one_line(tmp_path, capsys):
    assert gpu_check.main(["--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("gpu-check: error: ") and "--dry-run" in err[0]
    assert not (tmp_path / "gpu-check.json").exists()


@needs_no_gpu
def test_script_refuses_before_installing_anything(tmp_path):
    env = {**os.environ, "PY": sys.executable, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(["bash", str(ROOT / "scripts" / "gpu-check.sh"), "--out", str(tmp_path)],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("gpu-check: error: torch") and len(proc.stderr.strip().splitlines()) == 1


def test_markdown_table_lists_every_step_and_error():
    rows = [{"step": "train-trl", "s_per_step": 0.5, "loss_first": 2.0, "loss_last": 1.5},
            {"step": "reward", "error": "boom"}]
    md = gpu_check.markdown(rows, {"date": "d", "device": "H100", "dry_run": False})
    assert "| train-trl | 0.5 |" in md and "boom" in md and md.count("\n|") == 4


def test_cuda_defaults_follow_the_machine(monkeypatch):
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None if name == "flash_attn" else object())
    assert model.fastest_attention() == "sdpa"
    monkeypatch.setattr("importlib.util.find_spec", lambda name: object())
    assert model.fastest_attention() == "flash_attention_2"
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda d: SimpleNamespace(total_memory=141e9))
    assert model.gpu_batch_tokens(32768, "cuda") == 57600  # an H200 gets 141/80 of the 80 GB budget
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda d: SimpleNamespace(total_memory=16e9))
    assert model.gpu_batch_tokens(32768, "cuda") == 6400


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_dry_run_runs_every_step_on_cpu(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "benchmarks.gpu_check", "--dry-run", "--out", str(tmp_path)],
                          capture_output=True, text=True, cwd=ROOT, timeout=1800,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr[-2000:]
    table = json.loads((tmp_path / "gpu-check.json").read_text())
    steps = {r["step"]: r for r in table["steps"]}
    assert list(steps) == ["train-trl", "reward", "ifd", "generate"] and table["dry_run"]
    assert steps["train-trl"]["loss_last"] > 0 and steps["generate"]["new_tokens"] > 0
    assert steps["ifd"]["spearman_vs_fp32"] > 0.5 and steps["reward"]["tokens_per_s"] > 0
    assert (tmp_path / "gpu-check.md").read_text().count("| ") > 4
