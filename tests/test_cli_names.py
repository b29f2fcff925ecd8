"""One name per concept on the command line: every old spelling still parses to the same settings as
the new one and prints one deprecation line naming it; bad values are one line and exit 2; the
run / demo options are recipe overrides, validated with the recipe."""

from __future__ import annotations

import json

import pytest
import yaml
from helpers import conv, recipe, sharegpt, write_jsonl

from curate.cli import build_parser, main
from curate.cli._args import resolve
from curate.errors import UserError
from curate.recipe import parse, recipes_dir

OLD_AND_NEW = [
    (["run", "r.yaml", "--out", "d"], ["run", "r.yaml", "--run-dir", "d"], "--run-dir"),
    (["run", "r.yaml", "--quiet"], ["run", "r.yaml", "--no-progress"], "--no-progress"),
    (["run", "r.yaml", "-n", "5"], ["run", "r.yaml", "--limit", "5"], "--limit"),
    (["demo", "--out", "d"], ["demo", "--run-dir", "d"], "--run-dir"),
    (["demo", "--steps", "3"], ["demo", "--max-steps", "3"], "--max-steps"),
    (["demo", "--prompts", "3"], ["demo", "--n-prompts", "3"], "--n-prompts"),
    (["score", "x", "--run", "d"], ["score", "x", "--run-dir", "d"], "--run-dir"),
    (["score", "x", "--run-dir", "d", "-n", "5"], ["score", "x", "--run-dir", "d", "--limit", "5"], "--limit"),
    (["score", "x", "--run-dir", "d", "--quiet"], ["score", "x", "--run-dir", "d", "--no-progress"], "--no-progress"),
    (["dedup", "x", "--n", "5"], ["dedup", "x", "--limit", "5"], "--limit"),
    (["dedup", "x", "--threshold", "0.7"], ["dedup", "x", "--near-threshold", "0.7"], "--near-threshold"),
    (["dedup", "x", "--save", "d"], ["dedup", "x", "--run-dir", "d"], "--run-dir"),
    (["train", "--run", "d"], ["train", "d"], "RUN_DIR"),
    (["train", "d", "--lr", "1e-3"], ["train", "d", "--learning-rate", "1e-3"], "--learning-rate"),
    (["train", "d", "--alpha", "8"], ["train", "d", "--lora-alpha", "8"], "--lora-alpha"),
    (["train", "--subset", "s", "--out", "o"], ["train", "--subset", "s", "--out-dir", "o"], "--out-dir"),
    (["grid", "--subset", "s", "--lrs", "1e-4", "2e-4"], ["grid", "--subset", "s", "--learning-rates", "1e-4", "2e-4"],
     "--learning-rates"),
    (["grid", "--subset", "s", "--out", "o"], ["grid", "--subset", "s", "--out-dir", "o"], "--out-dir"),
    (["evaluate", "--run", "d"], ["evaluate", "d"], "RUN_DIR"),
]


def parsed(argv: list[str]) -> dict:
    args = build_parser().parse_args(argv)
    resolve(args)
    return {k: v for k, v in vars(args).items() if k != "func"}


@pytest.mark.parametrize("old,new,name", OLD_AND_NEW, ids=[" ".join(o) for o, _, _ in OLD_AND_NEW])
def test_old_spelling_works_and_names_the_new_one(old, new, name, capsys):
    assert parsed(old) == parsed(new)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "deprecated" in err[0] and name in err[0], err


def test_new_spellings_print_nothing(capsys):
    for _, new, _ in OLD_AND_NEW:
        parsed(new)
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("argv,says", [
    (["score", "x", "--run-dir", "d", "--limit", "0"], "--limit: must be >= 1"),
    (["dedup", "x", "--limit", "abc"], "--limit: expected a whole number"),
    (["dedup", "x", "-n", "-3"], "must be >= 1"),
    (["evaluate", "d", "--n-prompts", "0"], "--n-prompts: must be >= 1"),
    (["report", "d", "--bogus"], "unrecognized arguments: --bogus"),
    (["evaluate"], "RUN_DIR is required"),
    (["evaluate", "a", "--run", "b"], "give RUN_DIR once"),
    (["score", "x"], "--run-dir is required"),
    (["train"], "give a RUN_DIR"),
    (["train", "d", "--subset", "s"], "not both"),
    (["dedup", "x", "--semantic-threshold", "0.9"], "--semantic-threshold applies to the semantic method"),
    (["demo", "--limit", "-5"], "input.limit"),
    (["demo", "--max-steps", "0"], "train.max_steps"),
])
def test_bad_value_is_one_line_and_exit_2(argv, says, capsys):
    try:
        rc = main(argv)
    except SystemExit as e:
        rc = e.code
    err = [line for line in capsys.readouterr().err.splitlines() if "deprecated" not in line]
    assert rc == 2 and len(err) == 1 and err[0].startswith("curate: error: ") and says in err[0], err


def test_run_limit_and_run_dir_go_through_the_recipe(tmp_path, capsys):
    src = write_jsonl(tmp_path / "in.jsonl", [sharegpt(f"question {i}?", f"answer {i}.") for i in range(12)])
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(recipe(src, tmp_path / "from-recipe", subsets=[])))
    assert main(["run", str(path), "--limit", "-5"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "input.limit" in err[0] and "set by --limit" in err[0]
    assert main(["run", str(path), "--limit", "5", "--run-dir", str(tmp_path / "cli"), "--no-progress"]) == 0
    assert json.loads((tmp_path / "cli" / "manifest.json").read_text())["counts"]["read"] == 5
    assert not (tmp_path / "from-recipe").exists()


def test_dedup_near_threshold_acts(tmp_path, capsys):
    text = [" ".join(f"w{i}_{k}" for k in range(60)) for i in range(6)]
    rows = [{"messages": conv(f"question {i}", t)} for i, t in enumerate(text)]
    copy = [w if k % 20 != 10 else "changed" for k, w in enumerate(text[2].split())]
    rows.append({"messages": conv("question 2", " ".join(copy))})  # 3 of 60 words: 3-gram Jaccard ~0.8
    src = write_jsonl(tmp_path / "in.jsonl", rows)
    removed = {}
    for t in ("0.6", "0.99"):
        assert main(["dedup", str(src), "--near-threshold", t, "--show", "none"]) == 0
        removed[t] = capsys.readouterr().out.splitlines()[0]
    assert "near=1" in removed["0.6"] and "near=0" in removed["0.99"], removed


def test_demo_options_are_recipe_overrides():
    from curate.cli.demo import recipe_overrides

    args = build_parser().parse_args(["demo", "--limit", "7", "--max-steps", "3", "--n-prompts", "2",
                                      "--prompts", "p.jsonl", "--run-dir", "d"])
    r = parse(recipes_dir() / "demo.yaml", overrides=recipe_overrides(args)).model_dump()
    assert (r["input"]["limit"], r["input"]["source"], r["train"]["max_steps"]) == (7, "sharegpt-sample", 3)
    assert "d" in (r.get("output"), r.get("run_dir"))
    assert r["train"]["evaluate"]["n_prompts"] == 2 and r["train"]["evaluate"]["prompts"] == "p.jsonl"
    assert r["train"]["evaluate"]["max_new_tokens"] == 48, "sibling keys are kept"


def test_parse_overrides_set_dotted_keys_and_keep_the_rest():
    base = {"name": "t", "input": {"source": "x.jsonl", "limit": 3}}
    assert parse(base, overrides={"input.limit": 5}).input.limit == 5
    r = parse(base, overrides={"input.chunk_rows": 8, "executor_settings.workers": 2})
    assert (r.input.source, r.input.limit, r.input.chunk_rows, r.executor_settings.workers) == ("x.jsonl", 3, 8, 2)
    with pytest.raises(UserError, match="input.limit"):
        parse(base, overrides={"input.limit": 0})
    with pytest.raises(UserError, match="limt"):
        parse(base, overrides={"input.limt": 5})


@pytest.fixture
def captured(monkeypatch, tmp_path):
    """The library calls of train / grid / evaluate, recorded instead of run."""
    import pandas as pd

    import curate.train.evaluate
    import curate.train.grid
    import curate.train.matrix

    calls = {}
    (tmp_path / "results.md").write_text("table")
    monkeypatch.setattr(curate.train.matrix, "train_run", lambda run_dir, **kw: calls.update(train=(run_dir, kw)) or pd.DataFrame())
    monkeypatch.setattr(curate.train.grid, "rank_grid", lambda subset, **kw: calls.update(grid=(subset, kw)) or pd.DataFrame())
    monkeypatch.setattr(curate.train.evaluate, "evaluate_run",
                        lambda run_dir, **kw: calls.update(evaluate=(run_dir, kw)) or {"dir": str(tmp_path)})
    return calls


def test_training_and_prompt_flags_reach_the_library(captured):
    assert main(["train", "d", "--r", "4", "--lora-alpha", "8", "--learning-rate", "1e-3", "--max-steps", "3"]) == 0
    run_dir, kw = captured["train"]
    cfg = kw["config"]
    assert run_dir == "d" and (cfg.r, cfg.lora_alpha, cfg.learning_rate, cfg.max_steps) == (4, 8, 1e-3, 3)
    assert main(["grid", "--subset", "s", "--learning-rates", "1e-4", "2e-4", "--out-dir", "o",
                 "--val-fraction", "0.3"]) == 0
    subset, kw = captured["grid"]
    assert (subset, kw["learning_rates"], kw["out_dir"], kw["val_fraction"]) == ("s", [1e-4, 2e-4], "o", 0.3)
    assert main(["evaluate", "runs/demo", "--prompts", "p.jsonl", "--n-prompts", "5"]) == 0
    run_dir, kw = captured["evaluate"]
    assert (run_dir, kw["prompts"], kw["n_prompts"]) == ("runs/demo", "p.jsonl", 5)


@pytest.mark.parametrize("argv,says", [
    (["train", "d", "--lora-alpha", "0"], "--lora-alpha: Input should be greater than 0"),
    (["train", "d", "--learning-rate", "-1"], "--learning-rate: Input should be greater than 0"),
    (["grid", "--subset", "s", "--val-fraction", "1.5"], "--val-fraction: Input should be less than 1"),
])
def test_bad_training_value_names_its_flag(argv, says, captured, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and says in err[0] and not captured, err
