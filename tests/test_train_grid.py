"""Rank grid and experiment matrix on the tiny model, and the `curate train` command."""

from __future__ import annotations

import json

import pytest
from helpers import make_run

from curate.errors import UserError


def test_rank_grid_picks_lowest_final_eval_loss(tmp_path, tiny_lm_dir):
    from curate.train.grid import rank_grid

    run = make_run(tmp_path, {"top": 10})
    df = rank_grid(run / "subsets" / "top", ranks=[2, 8], model=str(tiny_lm_dir), max_steps=3, eval_steps=1,
                   max_length=96, grad_accum=1, learning_rate=5e-3)
    out = run / "grid" / "top"
    assert list(df["r"]) == [2, 8] and list(df["alpha"]) == [2, 8]  # alpha follows r
    assert df["best"].sum() == 1
    assert df.loc[df["best"], "final_eval_loss"].item() == df["final_eval_loss"].min()
    best = json.loads((out / "best.json").read_text())
    assert best["r"] == int(df.loc[df["best"], "r"].item())
    for f in ("grid.png", "grid.csv", "grid.md", "r2/adapter/adapter_config.json"):
        assert (out / f).exists(), f
    hist = json.loads((out / "r8" / "log_history.json").read_text())
    assert [h["step"] for h in hist if "eval_loss" in h] == [0, 1, 2, 3]
    m = json.loads((out / "r8" / "metrics.json").read_text())
    assert m["val_rows"] == 2  # the 80/20 split
    with pytest.raises(UserError, match="ranks"):
        rank_grid(run / "subsets" / "top", ranks=[0], model=str(tiny_lm_dir))


def test_matrix_trains_every_subset_via_cli(tmp_path, tiny_lm_dir):
    from curate.cli import main

    run = make_run(tmp_path, {"quality": 6, "random": 6})
    rc = main(["train", str(run), "--model", str(tiny_lm_dir), "--max-steps", "2", "--max-length", "96"])
    assert rc == 0
    import pandas as pd

    df = pd.read_csv(run / "models" / "results.csv")
    assert sorted(df["variant"]) == ["quality", "random"]
    assert set(df["steps"]) == {2} and set(df["seed"]) == {3407}
    assert "| quality |" in (run / "models" / "results.md").read_text()
    assert main(["train", str(run), "--subsets", "nope", "--model", str(tiny_lm_dir)]) == 2
    assert main(["train", "--subset", str(run / "subsets" / "quality"), "--model", "/no/such/dir"]) == 2
