"""The corruption library: every variant of every family is deterministic, really changes the answer on
real conversations and on edge cases, does what its name says, and plant/split_variants use them."""

from __future__ import annotations

import json
import re

import pytest

from curate.auditing.corruptions import (
    ANNOUNCEMENTS,
    CONTINUES,
    DONOR_KINDS,
    FAMILIES,
    KINDS,
    OPTIONAL_DONOR_KINDS,
    PLACEHOLDERS,
    REFUSAL_PARAPHRASES,
    VARIANTS,
    corrupt,
    family_of,
    first_answer,
    fits,
    resolve_kinds,
)
from curate.auditing.plant import plant, split_variants, variant_folds
from curate.scorers.consistency import consistency
from curate.scorers.heuristic_rules import REFUSAL_RE

FRENCH = [{"role": "user", "content": "Bonjour"},
          {"role": "assistant", "content": "Bien sûr, je peux vous aider avec cela. Il faut d'abord vérifier les "
                                           "données. Ensuite, choisissez la méthode qui convient le mieux."}]


def _qa(question: str, *answers: str) -> list[dict]:
    out = []
    for k, a in enumerate(answers):
        out += [{"role": "user", "content": question if k == 0 else f"And then? ({k})"}, {"role": "assistant", "content": a}]
    return out


EDGE = {
    "one_word": _qa("Is Paris the capital of France?", "Yes"),
    "one_char": _qa("Smile?", ";)"),
    "placeholder_already": _qa("Fill this in", "N/A"),
    "code_only": _qa("Write hello world in Python", "```python\nprint('hello world')\n```"),
    "non_english": _qa("¿Cómo ordeno una lista?", "Puedes usar la función sorted. Por ejemplo, sorted(lista) devuelve "
                                                 "una lista nueva. También existe lista.sort(), que ordena en el sitio."),
    "multi_turn": _qa("Name a fruit", "An apple is a fruit.", "A pear is another one.", "Bananas are a third."),
    "no_punctuation": _qa("List some colours", "red green blue and a few more like yellow orange and purple"),
    "list": _qa("How do I make tea", "Steps:\n\n1. Boil water.\n2. Add the tea.\n3. Wait three minutes.\n4. Pour."),
    "cjk": _qa("怎么排序列表？", "你可以使用 sorted 函数。它会返回一个新的列表。也可以使用 sort 方法。"),
}


@pytest.fixture(scope="module")
def corpus() -> list[list[dict]]:
    import curate

    rows = curate.load("sharegpt-sample", limit=400).table.column("messages").to_pylist()
    rows = [[{"role": m["role"], "content": m["content"]} for m in r] for r in rows]
    real = [r for r in rows if _has_answer(r)][:200]
    assert len(real) == 200
    return real + list(EDGE.values())


def _has_answer(messages: list[dict]) -> bool:
    try:
        return first_answer(messages) >= 0
    except ValueError:
        return False


def _donor_for(variant: str, row: list[dict], corpus: list[list[dict]], k: int) -> list[dict] | None:
    if variant == "near_dup":
        return row
    if variant in DONOR_KINDS or variant in OPTIONAL_DONOR_KINDS:
        return FRENCH if variant in ("wrong_language", "code_switch") else corpus[(k + 7) % len(corpus)]
    return None


def _answer(messages: list[dict]) -> str:
    return messages[first_answer(messages)]["content"]


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_variant_is_deterministic_and_changes_every_answer(variant, corpus):
    for k, row in enumerate(corpus):
        donor = _donor_for(variant, row, corpus, k)
        if variant in ("misaligned", "misaligned_topic") and _answer(donor) == _answer(row):
            continue  # plant never gives a row its own answer
        before = json.dumps(row)
        a, b = corrupt(variant, row, k, donor), corrupt(variant, row, k, donor)
        assert a == b and a.kind == variant
        assert json.dumps(row) == before  # the input is not mutated
        assert a.messages != row, (variant, k)
        if variant != "near_dup":
            assert a.messages[a.turn]["content"] != _answer(row), (variant, k)
        json.dumps(a.detail)  # the detail is recordable


def test_families_variants_and_names():
    assert len(VARIANTS) == len(set(VARIANTS)) == sum(len(v) for v in FAMILIES.values())
    assert set(KINDS) <= set(VARIANTS)  # the original names stay valid
    assert all(FAMILIES[family_of(v)][0] == v for v in KINDS)  # ... as the first variant of their family
    assert family_of("truncated_list") == "truncation" and family_of("code_switch") == "language"
    assert resolve_kinds("all") == VARIANTS
    assert resolve_kinds("truncation,loop,truncated") == (*FAMILIES["truncation"], "loop")
    assert resolve_kinds(["near_dup"]) == ("near_dup",)
    with pytest.raises(ValueError, match="unknown kind 'nope'"):
        resolve_kinds("loop,nope")
    with pytest.raises(ValueError, match="unknown corruption variant"):
        family_of("nope")


def test_a_mid_sentence_cut_never_ends_at_a_full_stop_in_any_script():
    """Chinese sentences set apart by spaces: a cut at a word boundary fell after 。 and looked finished."""
    row = [{"role": "user", "content": "请介绍一下数据整理。"},
           {"role": "assistant", "content": "数据整理很重要。 首先要检查数据。 然后选择方法。 最后评估结果。 这样就可以了。"}]
    for k in range(40):
        cut = corrupt("truncated", row, k).messages[-1]["content"]
        assert consistency([row[0], {"role": "assistant", "content": cut}])["open_end"], cut


def test_truncations(corpus):
    for k, row in enumerate(corpus[:200]):
        text = _answer(row)
        clean = corrupt("truncated_sentence", row, k)
        cut = clean.messages[-1]["content"]
        assert len(clean.messages) == first_answer(row) + 1
        if not fits("truncated_sentence", row):
            assert clean.detail["fallback"] == "word_cut_full_stop" and cut.endswith(".")
        else:
            assert text.startswith(cut) and cut.endswith((".", "!", "?", '"', "'", ")", "]")) and len(cut) >= 0.2 * len(text.rstrip())
            assert not consistency(clean.messages)["open_end"]  # the punctuation rule cannot see it
        if fits("truncated_list", row):
            cut = corrupt("truncated_list", row, k).messages[-1]["content"]
            assert text.startswith(cut) and cut != text.rstrip()
        if fits("unclosed_fence", row):
            cut = corrupt("unclosed_fence", row, k).messages[-1]["content"]
            assert len(re.findall(r"(?m)^[ \t]*```", cut)) % 2 == 1  # a block left open
    said = corrupt("announced_nothing", EDGE["one_word"], 1).messages[-1]["content"]
    assert said.endswith(":") and said in ANNOUNCEMENTS
    listed = corrupt("truncated_list", EDGE["list"], 3)
    assert listed.detail["items_kept"] < listed.detail["items"] == 4
    assert corrupt("truncated_list", EDGE["one_word"], 1).detail["fallback"] == "no_list_sentence_cut"


def test_clean_cuts_vary_in_position(corpus):
    shares = [len(corrupt("truncated_sentence", r, k).messages[-1]["content"]) / len(_answer(r))
              for k, r in enumerate(corpus[:200]) if fits("truncated_sentence", r)]
    assert min(shares) >= 0.2 and max(shares) - min(shares) > 0.5


def test_repetitions():
    row = EDGE["multi_turn"]
    s = corrupt("repeated_sentence", EDGE["non_english"], 2)
    assert s.messages[1]["content"].count(s.detail["sentence"]) >= 3
    d = corrupt("doubled_answer", row, 1)
    assert d.messages[1]["content"] == _answer(row) + d.detail["separator"] + _answer(row)
    text = "First paragraph here.\n\nSecond one, longer.\n\nThird and last."
    p = corrupt("repeated_paragraph", _qa("q?", text), 4)
    assert p.messages[1]["content"].count("\n\n") > text.count("\n\n") and "fallback" not in p.detail


def test_non_answers():
    assert not any(REFUSAL_RE.search(r.lower()) for r in REFUSAL_PARAPHRASES)  # the canned rule misses them
    assert len(set(REFUSAL_PARAPHRASES)) >= 15
    para = corrupt("refusal_paraphrase", EDGE["one_word"], 1).messages[1]["content"]
    assert any(para.startswith(r) for r in REFUSAL_PARAPHRASES)
    seen = {corrupt("placeholder", EDGE["placeholder_already"], k).messages[1]["content"] for k in range(40)}
    assert "N/A" not in seen and len(seen) > 8 and any(p in "".join(seen) for p in PLACEHOLDERS)
    assert corrupt("continue_prompt", EDGE["one_word"], 1).messages[1]["content"] in CONTINUES


def test_misalignments():
    row = EDGE["multi_turn"]
    shifted = corrupt("misaligned_next_turn", row, 1)
    assert [m["content"] for m in shifted.messages if m["role"] == "assistant"] == [row[3]["content"], row[5]["content"]]
    assert "fallback" not in shifted.detail
    single = corrupt("misaligned_next_turn", EDGE["one_word"], 1, FRENCH)
    assert single.detail["fallback"] == "donor" and single.messages[1]["content"] == FRENCH[1]["content"]
    with pytest.raises(ValueError, match="needs a donor"):
        corrupt("misaligned_next_turn", EDGE["one_word"], 1)
    assert corrupt("misaligned_topic", row, 1, FRENCH).messages[1]["content"] == FRENCH[1]["content"]


def test_encoding_and_markup(corpus):
    ops = {"html": set(), "md": set()}
    for k, row in enumerate(corpus):
        h = corrupt("html_residue", row, k)
        assert re.search(r"&(?:amp|lt|gt|quot|nbsp|#39|#x27|rsquo);|<(?:br|p|div)\b", h.messages[h.turn]["content"])
        ops["html"] |= set(h.detail["ops"])
        e = corrupt("escaped_newlines", row, k).messages[first_answer(row)]["content"]
        assert "\\n" in e and "\n" not in e
        ops["md"] |= set(corrupt("markdown_residue", row, k).detail["ops"])
    assert ops == {"html": {"entities", "nbsp", "br", "p", "div"},
                   "md": {"copy_code", "bold", "link", "table_rule", "ui_text"}}  # varied, not one marker


def test_code_switch_keeps_the_start_and_switches():
    row = EDGE["multi_turn"][:2]
    text = ("Sorting is simple in Python. You call sorted on the list. It returns a new list and keeps the old "
            "one. For the largest first, pass reverse=True.")
    out = corrupt("code_switch", _qa("How do I sort?", text), 3, FRENCH)
    answer = out.messages[1]["content"]
    assert answer.startswith(text[: out.detail["kept_chars"]]) and out.detail["kept_chars"] < len(text)
    assert answer.endswith(FRENCH[1]["content"][-out.detail["foreign_chars"]:])
    assert corrupt("code_switch", row, 1, FRENCH).messages[1]["content"] != row[1]["content"]


def test_plant_every_variant_with_families(corpus):
    pool = plant(corpus[:200], 0.4, VARIANTS, seed=3)
    labels = pool.labels
    planted = labels[labels["kind"] != ""]
    assert set(planted["kind"]) == set(VARIANTS) and (planted["family"] == planted["kind"].map(family_of)).all()
    assert (labels["family"][labels["kind"] == ""] == "").all()
    details = {k: [json.loads(d) for d in planted["detail"][planted["kind"] == k]] for k in VARIANTS}
    for variant in ("truncated_list", "unclosed_fence", "misaligned_next_turn", "truncated_sentence"):
        assert not any("fallback" in d for d in details[variant]), variant  # moved to rows that fit
    assert all(d["question_similarity"] is not None for d in details["misaligned_topic"])
    again = plant(corpus[:200], 0.4, VARIANTS, seed=3)
    assert again.labels.equals(labels) and again.conversations == pool.conversations


def test_split_variants_and_folds():
    fixed = split_variants()
    assert fixed["tune"] == KINDS or set(fixed["tune"]) == set(KINDS)  # the original variants tune
    assert set(fixed["tune"]) | set(fixed["held_out"]) == set(VARIANTS) and not set(fixed["tune"]) & set(fixed["held_out"])
    seeded = split_variants(seed=1)
    assert seeded == split_variants(seed=1) and set(seeded["held_out"]) | set(seeded["tune"]) == set(VARIANTS)
    for family, variants in FAMILIES.items():  # every family with 2+ variants has some of each
        if len(variants) > 1:
            assert set(variants) & set(seeded["held_out"]) and set(variants) & set(seeded["tune"]), family
    folds = variant_folds()
    assert len(folds) == sum(len(v) for v in FAMILIES.values() if len(v) > 1)
    assert all(v not in rest and len(rest) == len(VARIANTS) - 1 for v, rest in folds)
