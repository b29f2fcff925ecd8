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
