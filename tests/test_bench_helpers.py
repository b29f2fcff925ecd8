"""The benchmarks' recipe and damage helpers: a model-free bench run must still parse and rank (a rank term on
a column nothing scores is an error), and each unseen-damage edit must change a typical answer."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))


def _demo() -> dict:
    return yaml.safe_load((ROOT / "recipes" / "demo.yaml").read_text())


def test_without_models_drops_the_model_rank_terms_and_still_parses():
    from bench_audit import without_models

    from curate.recipe import parse

    demo = _demo()
    assert "-ppl" in demo["subsets"][0]["rank"]  # the shipped quality rank reads the LM
    out = without_models(demo)
    assert [s if isinstance(s, str) else s["name"] for s in out["scorers"]] == ["heuristics", "consistency"]
    assert out["subsets"][0]["rank"] == {"-junk_prob": 1.0, "-atypical": 0.5}
    assert "semantic" not in out["dedup"]["methods"]
    parse(out)


def test_without_scorers_drops_subsets_that_only_read_the_model():
    from bench_audit import without_scorers

    recipe = {**_demo(), "subsets": [
        {"name": "lm-only", "rank": {"-ppl": 1.0}, "budget": 5},
        {"name": "lm-filter", "filter": "ifd < 1", "rank": {"-junk_prob": 1.0}, "budget": 5},
        {"name": "kept", "filter": "junk_prob < 0.5", "rank": {"-junk_prob": 1.0, "ifd": 0.3}, "budget": 5},
    ]}
    out = without_scorers(recipe, {"lm"})
    assert [s["name"] for s in out["subsets"]] == ["kept"]
    assert out["subsets"][0]["rank"] == {"-junk_prob": 1.0}
    assert all((s if isinstance(s, str) else s["name"]) != "lm" for s in out["scorers"])


def test_every_unseen_edit_changes_an_answer_and_damage_labels_what_changed():
    from bench_unseen_damage import EDIT_SETS, RATE, damage

    answer = ("Sure. Here is how it works: first you open the file, then you read each line.\n\n"
              "- It's simple.\n- It is fast (usually).\nThat's all!")
    long = " ".join([answer] * 4)  # random edits (typos at 12% of words) need words to hit
    for edits in EDIT_SETS.values():
        for kind, edit in edits.items():
            assert edit(long, random.Random(0), "How does it work?", "Another reply. It differs.") != long, kind
    convs = [[{"role": "user", "content": f"q{i}?"}, {"role": "assistant", "content": f"{answer} {i}"}]
             for i in range(40)]
    rows, kinds = damage(convs, 0, EDIT_SETS["validation"])
    changed = [r != c for r, c in zip(rows, convs, strict=True)]
    assert changed == [k != "" for k in kinds]  # an edit that changed nothing (no word doubled) labels nothing
    assert int(RATE * len(convs)) - 2 <= sum(changed) <= int(RATE * len(convs))
    assert set(kinds) - {""} == set(EDIT_SETS["validation"])


def test_without_models_leaves_the_tome_runnable_offline():
    """The Tome's recipe distils its 8B reward teacher into a proxy learning from MiniLM, keeps the
    best reward per duplicate cluster and ranks subsets on the proxy: without models all of that goes
    and what is left parses (the quality subset then ranks as the demo's does without an LM)."""
    from bench_audit import without_models

    from curate.recipe import parse

    tome = yaml.safe_load((ROOT / "recipes" / "the-tome.yaml").read_text())
    out = without_models(tome)
    assert tome["proxies"] and out["proxies"] == [] and out["dedup"]["keep"] == "longest"
    assert "reward-8b-top" in {s["name"] for s in tome["subsets"]}
    assert {s["name"] for s in out["subsets"]} == {"quality", "random", "longest"}
    assert out["subsets"][0]["rank"] == {"-junk_prob": 1.0, "-atypical": 0.5}
    fine = without_models(yaml.safe_load((ROOT / "recipes" / "finetome-100k.yaml").read_text()))
    assert fine["train"]["subsets"] == ["quality", "random", "longest"]
    parse(out), parse(fine)
