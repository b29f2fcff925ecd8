"""Recipes and filters written to hurt: each fails in validation, with one short line, before any work."""

from __future__ import annotations

import time

import pandas as pd
import pytest
from helpers import recipe, sharegpt, write_jsonl

from curate.cli import main
from curate.errors import UserError
from curate.pipeline import run
from curate.recipe import parse
from curate.rundir import RunDir
from curate.selection.expr import parse_filter


def _subset_recipe(tmp_path, **subset) -> dict:
    return recipe(tmp_path / "in.jsonl", tmp_path / "run", subsets=[{"name": "s", "budget": 5, **subset}])


@pytest.mark.parametrize("text", ["chars > 9 ** 9 ** 9", "chars > 10 ** 400", "chars > 1 / 0", "chars > 1e308 * 10"])
def test_constant_arithmetic_that_blows_up_is_refused_at_validation(text):
    t0 = time.perf_counter()
    with pytest.raises(UserError, match="constant arithmetic|too large"):
        parse_filter(text)
    assert time.perf_counter() - t0 < 1


def test_constant_arithmetic_that_fits_still_works():
    df = pd.DataFrame({"chars": [100.0, 5000.0]})
    assert parse_filter("chars > 2 ** 10 and chars < 10 ** 4").mask(df).tolist() == [False, True]


@pytest.mark.parametrize("text", ["not " * 400 + "x", "not " * 5000 + "x", "-" * 5000 + "x > 0",
                                  "x > 1" + " + 1" * 3000])
def test_deep_nesting_of_any_kind_is_one_short_error(text):
    with pytest.raises(UserError) as e:
        parse_filter(text)
    msg = str(e.value)
    assert "nested more than" in msg and "\n" not in msg and len(msg) < 300


def test_a_long_filter_is_not_echoed_back_whole():
    with pytest.raises(UserError) as e:
        parse_filter("x > 1 and " * 1000 + "y ==")
    assert len(str(e.value)) < 300


@pytest.mark.parametrize(("where", "value", "message"), [
    ("name", "../../escape7", "names a folder"),
    ("name", "a" * 300, "at most 100 characters"),
    ("subset", "s" * 300, "at most 100 characters"),
    ("limit", True, "whole number"),
])
def test_names_and_limits_are_checked(tmp_path, where, value, message):
    r = recipe(tmp_path / "in.jsonl", tmp_path / "run")
    if where == "name":
        r["name"] = value
    elif where == "subset":
        r["subsets"][0]["name"] = value
    else:
        r["input"]["limit"] = value
    with pytest.raises(UserError, match=message):
        parse(r)


def test_deprecated_output_beside_a_different_run_dir_is_refused(tmp_path):
    r = recipe(tmp_path / "in.jsonl", tmp_path / "run") | {"output": str(tmp_path / "other")}
    with pytest.warns(DeprecationWarning), pytest.raises(UserError, match="deprecated name of 'run_dir'"):
        parse(r)


@pytest.mark.parametrize("content", [b"name: caf\xe9\n", None, b"name: [\n"])
def test_unreadable_recipe_files_are_one_line_exit_2(tmp_path, capsys, content):
    path = tmp_path / "r.yaml"
    if content is None:
        path.mkdir()
    else:
        path.write_bytes(content)
    assert main(["run", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("curate: error:") and "\n" not in err


def test_unknown_filter_or_rank_column_fails_before_scoring(tmp_path, monkeypatch):
    write_jsonl(tmp_path / "in.jsonl", [sharegpt(f"q{i}", f"a{i}") for i in range(5)])
    scored = []
    from curate.pipeline.steps import Score

    monkeypatch.setattr(Score, "run", lambda self, ctx: scored.append(1))
    r = _subset_recipe(tmp_path, filter="chrs > 3", rank={"-ppl": 1})
    with pytest.raises(UserError, match=r"subsets.0.filter: 'chrs'.*subsets.0.rank: 'ppl'"):
        run(r, progress=False)
    assert not scored
    assert RunDir(tmp_path / "run").manifest()["status"] == "failed"


def test_input_columns_and_proxy_columns_are_known(tmp_path):
    rows = [sharegpt(f"q{i}", f"a{i}") | {"score": i} for i in range(5)]
    write_jsonl(tmp_path / "in.jsonl", rows)
    r = _subset_recipe(tmp_path, filter="score >= 0 and source != 'x' and turns > 0", rank={"assistant_chars": 1})
    assert run(r, progress=False).subsets == {"s": 5}
    rec = parse(r | {"proxies": [{"column": "ppl", "teacher": "lm"}]})
    assert not rec.unknown_columns(["score"]) and {"ppl_proxy", "ppl_best"} <= rec.score_columns()
    clash = parse(_subset_recipe(tmp_path, filter="turns_score > 0"))  # an input `turns` beside the scorer's
    assert clash.unknown_columns(["turns"]) == [] and clash.unknown_columns([]) == ["subsets.0.filter: 'turns_score'"]


def test_distill_bad_yaml_options_are_one_line(tmp_path, capsys):
    for flag, value in (("--features", "[heuristics"), ("--teacher", "{name: lm")):
        assert main(["distill", str(tmp_path), "--column", "ifd", flag, value]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("curate: error:") and "\n" not in err and flag in err

