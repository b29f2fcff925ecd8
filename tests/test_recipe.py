import pytest
import yaml

from curate.errors import UserError
from curate.recipe import parse, recipes_dir


def write(tmp_path, data) -> str:
    p = tmp_path / "r.yaml"
    p.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return str(p)


BASE = {"name": "t", "input": {"source": "x.jsonl"}}


def test_minimal_recipe_gets_defaults(tmp_path):
    r = parse(write(tmp_path, BASE))
    assert r.scorers == ["heuristics"] and r.validity == ["role_order", "template_leak"]
    assert str(r.run_path()) == "runs/t" and r.run_dir is None


@pytest.mark.parametrize("patch,needle", [
    ({"inptu": {}}, "inptu: unknown key"),
    ({"input": {"source": "x", "limt": 3}}, "input.limt: unknown key"),
    ({"input": {"source": "x", "format": "csv"}}, "input.format"),
    ({"validity": ["role_order", "spelling"]}, "validity.1"),
    ({"scorers": ["heuristics", "magic"]}, "scorers.1"),
    ({"scorers": [{"name": "heuristics", "colour": 1}]}, "colour"),
    ({"dedup": {"methods": ["exact"], "treshold": 0.8}}, "dedup.treshold"),
    ({"subsets": [{"name": "a", "baseline": "random"}]}, "subsets.0"),
    ({"subsets": [{"name": "a", "budgett": 3}]}, "subsets.0.budgett"),
    ({"subsets": [{"name": "a", "budget": 3, "rank": "x"}, {"name": "a", "budget": 3, "rank": "x"}]}, "unique"),
    ({"subsets": [{"name": "a", "filter": "__import__('os')"}]}, "subsets.0"),
    ({"subsets": [{"name": "a", "budget": 3, "rank": "x"}], "train": {"subsets": ["b"]}}, "train.subsets"),
    ({"train": {"max_stepz": 3}}, "train.max_stepz"),
])
def test_wrong_keys_name_the_key(tmp_path, patch, needle):
    with pytest.raises(UserError) as e:
        parse(write(tmp_path, BASE | patch))
    assert needle in str(e.value)
    assert str(tmp_path) in str(e.value)  # the file is named too


def test_missing_recipe_and_bad_yaml(tmp_path):
    with pytest.raises(UserError, match="recipe not found"):
        parse(tmp_path / "nope.yaml")
    with pytest.raises(UserError, match="not valid YAML"):
        parse(write(tmp_path, "name: [unclosed"))
    with pytest.raises(UserError, match="YAML mapping"):
        parse(write(tmp_path, "- a list"))


@pytest.mark.parametrize("name", ["demo.yaml", "finetome-100k.yaml", "the-tome.yaml"])
def test_shipped_recipes_validate(name):
    from curate.selection.config import make_spec

    r = parse(recipes_dir() / name)
    assert r.subsets, "a shipped recipe declares subsets"
    sizes = {make_spec(s).budget.rows for s in r.subsets if s.budget}
    assert len(sizes) == 1, "baselines and curated subsets are compared at equal size"


def test_dedup_has_one_default():
    from curate.duplicates import DedupConfig

    absent, empty, keep = (parse(BASE | extra).dedup for extra in ({}, {"dedup": {}}, {"dedup": {"keep": "first"}}))
    assert absent == empty == keep == DedupConfig() and DedupConfig().methods == ["exact", "near"]


def test_overrides_are_validated_by_the_same_model(tmp_path):
    r = parse(write(tmp_path, BASE), overrides={"input.limit": 5, "dedup.near.threshold": 0.6})
    assert r.input.limit == 5 and r.dedup.near.threshold == 0.6
    with pytest.raises(UserError, match="input.limit"):
        parse(write(tmp_path, BASE), overrides={"input.limit": -5})
    with pytest.raises(UserError, match="dedup.near.treshold: unknown key"):
        parse(BASE, overrides={"dedup.near.treshold": 0.6})
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        r.input.limit = -5  # assignment is validated too


def test_output_key_is_a_deprecated_run_dir(tmp_path):
    with pytest.warns(DeprecationWarning, match="run_dir"):
        r = parse(BASE | {"output": "runs/x"})
    assert r.run_dir == "runs/x" and str(r.run_path()) == "runs/x"


def test_train_evaluate_is_validated_before_training():
    with pytest.raises(UserError, match="train.evaluate.max_new_tokenz: unknown key"):
        parse(BASE | {"train": {"evaluate": {"max_new_tokenz": 8}}})
    assert parse(BASE | {"train": {"evaluate": {"max_new_tokens": 8}}}).train.evaluate.max_new_tokens == 8
