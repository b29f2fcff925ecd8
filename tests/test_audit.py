"""curate audit: corruptions are deterministic and really applied, the metrics agree with sklearn,
planted rows stay in the audit's own folder, and CLI mistakes are one-line exit-2 errors."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import yaml

from curate.auditing.corruptions import FAMILIES, KINDS, LEAKS, corrupt
from curate.auditing.metrics import auroc, precision_at_k, separation, survives
from curate.auditing.plant import FOREIGN, plant
from curate.scorers.consistency import consistency, language

Q = "How do I sort a list of numbers in Python? I want the largest number first, please."
A = ("You can use the built-in sorted function with reverse=True. For example, sorted(numbers, reverse=True) "
     "returns a new list, and numbers.sort(reverse=True) sorts the list in place. Both are stable.")
CONV = [{"role": "user", "content": Q}, {"role": "assistant", "content": A},
        {"role": "user", "content": "Thanks! And for strings?"}, {"role": "assistant", "content": "The same works."}]
DONOR = [{"role": "user", "content": "Bonjour"},
         {"role": "assistant", "content": "Bien sûr, je peux vous aider avec cela. Il faut d'abord vérifier les "
                                          "données et ensuite choisir la méthode qui convient le mieux."}]


def conversations(n: int) -> list[list[dict]]:
    topics = ["sorting", "gardening", "taxes", "chess", "baking", "hiking", "jazz", "compilers"]
    out = []
    for i in range(n):
        t = topics[i % len(topics)]
        q = f"Question {i}: can you explain the basics of {t} and how a beginner should start with it?"
        own = " ".join(f"idea{i}x{k}" for k in range(6))  # row-specific words: rows are distinct, not near copies
        a = (f"Sure. The basics of {t} start with a few core ideas that you practise every day: {own}. "
             f"Answer {i} walks through them one at a time, with an example for each, and ends with a plan.")
        out.append([{"role": "user", "content": q}, {"role": "assistant", "content": a}])
    return out


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_is_deterministic_and_changes_the_first_answer(kind):
    donor = DONOR if kind != "near_dup" else CONV
    a, b = corrupt(kind, CONV, 7, donor), corrupt(kind, CONV, 7, donor)
    assert a == b
    assert a.messages != CONV
    assert CONV[1]["content"] == A  # the input is not mutated


def test_kinds_are_verifiably_applied():
    words = A.split()
    cut = corrupt("truncated", CONV, 1).messages
    assert len(cut) == 2 and words[:3] == cut[1]["content"].split()[:3] and len(cut[1]["content"]) < len(A)
    assert not cut[1]["content"].endswith((".", "!", "?"))
    assert corrupt("misaligned", CONV, 1, DONOR).messages[1]["content"] == DONOR[1]["content"]
    salad = corrupt("word_salad", CONV, 1).messages[1]["content"].split()
    assert sorted(salad) == sorted(words) and salad != words
    loop = corrupt("loop", CONV, 1)
    assert loop.messages[1]["content"].count(loop.detail["span"]) >= 6
    assert consistency(corrupt("refusal", CONV, 1).messages)["answer_lang"] == "en"
    leak = corrupt("template_leak", CONV, 3)
    assert leak.detail["leak"] in leak.messages[1]["content"] and leak.detail["leak"] in LEAKS
    assert consistency(corrupt("mojibake", CONV, 1).messages)["mojibake_rate"] > 0
    assert consistency(corrupt("restate", CONV, 1).messages)["restate_overlap"] > 0.5
    assert consistency(corrupt("wrong_language", CONV, 1, DONOR).messages)["lang_mismatch"]
    dup = corrupt("near_dup", CONV, 1, CONV)
    assert dup.detail["edited_words"] > 0 and dup.messages != CONV and len(dup.messages) == len(CONV)


def test_plant_rate_kinds_and_seed():
    convs = conversations(100)
    a, b, c = plant(convs, 0.3, seed=1), plant(convs, 0.3, seed=1), plant(convs, 0.3, seed=2)
    assert a.labels.equals(b.labels) and a.conversations == b.conversations
    assert not a.labels["kind"].equals(c.labels["kind"])
    counts = a.labels["kind"][a.labels["kind"] != ""].value_counts()
    assert counts.sum() == 30 and set(counts.index) == set(KINDS) and counts.max() == counts.min() == 3
    clean = a.labels["kind"] == ""
    assert all(a.conversations[i] == convs[i] for i in np.nonzero(clean.to_numpy())[0])
    sources = set(a.labels["source_id"][a.labels["kind"] == "near_dup"])
    assert sources <= set(a.labels["id"][clean])  # a copy's source stays in the pool, clean


def test_a_near_duplicate_is_damage_only_beside_its_source():
    """Once dedup keeps one of a copy and its source, the one kept is a good row: a subset holding it
    alone keeps no damage; holding both keeps the duplication (the audit and the generalization
    benchmark count it this way)."""
    import pandas as pd

    labels = pd.DataFrame({"id": ["src", "copy", "cut", "ok"], "kind": ["", "near_dup", "truncated", ""],
                           "source_id": [None, "src", None, None]})
    damaged = (labels["kind"] != "").to_numpy()
    assert (damaged & survives(labels, {"copy", "ok"})).sum() == 0
    assert (damaged & survives(labels, {"copy", "src", "cut"})).tolist() == [False, True, True, False]
    assert survives(labels, {"ok"}).tolist() == [False, False, False, True]


def test_plant_rejects_bad_settings():
    with pytest.raises(ValueError, match="unknown corruption kind"):
        plant(conversations(50), kinds=("nope",))
    with pytest.raises(ValueError, match="between 0 and 1"):
        plant(conversations(50), rate=1.0)
    with pytest.raises(ValueError, match="too few"):
        plant(conversations(12), rate=0.3)


def test_language_guess():
    assert language(A) == "en" and language(DONOR[1]["content"]) == "fr"
    assert language("这是一个关于数据整理的问题，我们需要先检查数据再选择方法。") == "zh"
    assert language("ok") == "und" and language("```python\nprint(1)\n```") == "und"
    # short English questions with "do" and "no": the stopword count this replaced called them Portuguese
    assert language("How do we do equal frequency binning in numpy?") == "en"
    assert language("cache-control: private, no-cache, no-store\n\nwhat do these cache headers do?") == "en"
    # languages the stopword lists never knew
    assert language("Wat doet clearbit met de gegevens van mijn klanten?") == "nl"
    assert language("Napisz mi krótki wiersz o jesieni w górach, o liściach i mgle nad jeziorem.") == "pl"
    assert {lang: language(text) for lang, text in FOREIGN.items()} == {lang: lang for lang in FOREIGN}
    # a few English words fastText reads as Dutch, French or Italian at 50-78%: too unsure to name
    for text in ("What is graalvm", "How to create a boxplot on spss", "Plan a 4 day trip to Cincinnati."):
        assert language(text) == "und"
    # short text fastText is sure of keeps its language
    assert language("abogados accidentes de trabajo") == "es" and language("Geschichte über Alpacas") == "de"
    # strings built in Python can hold an unpaired surrogate, which fastText's binding refuses
    assert language("Where is the nearest train station? \ud800 I am lost") == "en"


def test_auroc_matches_sklearn_with_ties_and_direction():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    y = rng.random(300) < 0.3
    s = np.round(rng.normal(size=300) + y, 1)  # rounded: many ties
    assert auroc(y, s) == pytest.approx(roc_auc_score(y, s))
    low = separation(y, -s)
    assert low.direction == "low" and low.auroc == pytest.approx(roc_auc_score(y, s), abs=1e-4)


def test_perfect_and_random_scores():
    y = np.array([True] * 30 + [False] * 70)
    perfect = separation(y, y.astype(float))
    assert perfect.auroc == 1.0 and perfect.precision == 1.0
    noise = separation(y, np.random.default_rng(1).random(100), direction="high")
    assert 0.35 < noise.auroc < 0.65
    assert precision_at_k(y, np.zeros(100), "high") == pytest.approx(0.3)  # all tied: the base rate


@pytest.fixture(scope="module")
def recipe(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("audit")
    data = tmp_path / "data.jsonl"
    data.write_text("\n".join(json.dumps({"messages": c}) for c in conversations(60)) + "\n")
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump({
        "name": "mini", "input": {"source": str(data)}, "run_dir": str(tmp_path / "real"),
        "scorers": ["heuristics", "consistency"], "validity": ["role_order", "refusal"],
        "dedup": {"methods": ["exact", "near"]},
        "subsets": [{"name": "clean", "filter": "not open_end and mojibake_rate == 0 and not lang_mismatch",
                     "rank": {"-dup_ngram_frac": 1.0}, "budget": 30}]}))
    return path


def test_audit_stays_in_its_own_folder(recipe, tmp_path):
    import curate

    result = curate.audit(recipe, run_dir=tmp_path / "audit", progress=False)
    assert not (recipe.parent / "real").exists()  # the recipe's run directory is never written
    s = json.loads((tmp_path / "audit" / "audit.json").read_text())
    assert s["planted_rows"] == 18 and (tmp_path / "audit" / "audit.html").exists()
    assert s["best"]["mojibake"]["auroc"] == 1.0 and s["best"]["mojibake"]["column"] == "mojibake_rate"
    assert s["subsets"]["clean"]["planted_share"] < s["subsets"]["clean"]["random_planted_share"]
    pool = (tmp_path / "audit" / "pool.jsonl").read_text()
    assert '"kind"' not in pool  # labels live beside the pool, never in it
    assert result.table().startswith("audit:")


def test_audit_reports_families_and_variants(recipe, tmp_path):
    import pandas as pd

    import curate

    result = curate.audit(recipe, run_dir=tmp_path / "audit", kinds=["truncation", "mojibake"], progress=False)
    s = result.summary
    assert s["families"] == {"truncation": list(FAMILIES["truncation"]), "encoding": ["mojibake"]}
    assert set(s["best"]) == {*FAMILIES["truncation"], "mojibake", "all"}
    assert set(s["best_family"]) == set(s["family_separation"]["chars"]) == {"truncation", "encoding"}
    assert s["best_family"]["encoding"]["auroc"] == 1.0 and set(s["uncaught_families"]) <= {"truncation"}
    assert set(s["subsets"]["clean"]["families"]) == {"truncation", "encoding"}
    labels = pd.read_parquet(tmp_path / "audit" / "labels.parquet")
    assert set(labels["family"]) == {"", "truncation", "encoding"}
    text = result.table()
    assert "truncation (family)" in text and "    truncated_sentence" in text and "encoding (family)" in text
    html = (tmp_path / "audit" / "audit.html").read_text()
    assert "Best score per family" in html and "Every score and family" in html


def test_audit_unplanted_counts_flags(recipe, tmp_path):
    import curate

    s = curate.audit(recipe, run_dir=tmp_path / "audit", plant=False, progress=False).summary
    assert s["planted_rows"] == 0 and "open_end" in s["flags"] and "separation" not in s


@pytest.mark.parametrize("args, message", [
    (["--kinds", "loop,nope"], "unknown kind 'nope'"),
    (["--families", "truncation,nope"], "unknown family 'nope'"),
    (["--kinds", "all"], "too few"),  # 26 variants at 30% need 87+ rows; the recipe reads 60
    (["--rate", "1.5"], "--rate must be between 0 and 1"),
    (["--limit", "10"], "too few"),
])
def test_cli_errors_are_one_line_exit_2(recipe, tmp_path, args, message):
    out = subprocess.run([sys.executable, "-m", "curate", "audit", str(recipe), "--run-dir", str(tmp_path / "a"),
                          "--no-progress", *args], capture_output=True, text=True)
    assert out.returncode == 2
    assert out.stderr.startswith("curate: error:") and message in out.stderr and out.stderr.count("\n") == 1


@pytest.mark.slow
def test_audit_end_to_end_with_shipped_models(tmp_path):
    import curate

    recipe = {"name": "e2e", "input": {"source": "sharegpt-sample", "limit": 40},
              "scorers": ["heuristics", "consistency", {"name": "lm", "model": "smollm2", "max_length": 96, "max_turns": 1},
                          {"name": "embedding", "model": "minilm"}],
              "validity": ["role_order"], "dedup": {"methods": ["exact", "near"]},
              "subsets": [{"name": "q", "rank": {"end_logprob": 1.0}, "budget": 20}]}
    s = curate.audit(recipe, run_dir=tmp_path / "audit", progress=False).summary
    assert {"end_logprob", "ppl", "embed_sim"} <= set(s["separation"])
    assert (tmp_path / "audit" / "heatmap.png").exists()
