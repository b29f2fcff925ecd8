"""The learned junk detector: texture columns, its settings (each acts or is refused), how well it finds
corruption planted into data it learned from, and its place in a run."""

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from helpers import recipe
from pydantic import ValidationError

import curate
from curate.auditing.metrics import auroc
from curate.auditing.plant import plant
from curate.detector import DetectorConfig, detect
from curate.pipeline import run
from curate.rundir import RunDir
from curate.scorers.texture import texture

SPECS = ["heuristics", "consistency", "texture"]


def _chat(question: str, answer: str) -> list[dict]:
    return [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]


def test_texture_describes_repetition_markup_and_endings():
    prose = "Photosynthesis turns light into chemical energy. Plants store it as sugar. Animals eat the plants."
    plain = texture(_chat("How do plants get energy?", prose))
    looped = texture(_chat("How do plants get energy?", " ".join([prose] * 6)))
    assert looped["compress_ratio"] < plain["compress_ratio"] / 2 and looped["dup_sentence_frac"] > 0.8
    html = texture(_chat("q", "Use <div class=\"x\">this</div> &amp; that &#39;s it.<br>"))
    assert html["residue_marks"] == 5 and plain["residue_marks"] == 0
    assert texture(_chat("q", "Line one\\nLine two\\n"))["residue_marks"] == 2
    assert texture(_chat("q", "caf\u00c3\u00a9 au lait"))["residue_marks"] == 1  # mojibake
    announced = texture(_chat("Write code", "Here is the code:"))
    assert announced["ends_colon"] and not announced["ends_terminal"]
    fenced = texture(_chat("Code?", "Sure:\n```python\nprint(1)\n"))
    assert fenced["open_code_fence"] and not plain["open_code_fence"]
    listing = texture(_chat("Steps?", "Do this:\n1. First\n2. Second"))
    assert listing["ends_list_item"]
    assert texture(_chat("q", ""))["compress_ratio"] is None  # too short to say


def test_texture_measures_repeats_at_any_scale_and_markup_left_open():
    """``repeated_8gram_frac`` is one measure for a repeated phrase, paragraph or answer (what the detector
    learns from one transfers to the others); ``residue_marks`` counts markup that does not close with the
    other residue."""
    first = "Plants turn light into sugar in their leaves, using water from the roots and carbon dioxide."
    second = "Animals then eat the plants, and the energy moves up the food chain to the predators."
    plain = texture(_chat("How do plants get energy?", f"{first}\n\n{second}"))
    repeated = texture(_chat("How do plants get energy?", f"{first}\n\n{second}\n\n{second}"))
    assert plain["repeated_8gram_frac"] == 0 and repeated["repeated_8gram_frac"] > 0.15
    assert plain["residue_marks"] == 0
    assert texture(_chat("q", "Use **bold** here."))["residue_marks"] == 0
    assert texture(_chat("q", "Use **bold here."))["residue_marks"] == 1
    table = "| a | b |\n|---|---|\n| 1 | 2 |"
    assert texture(_chat("q", f"A table:\n{table}"))["residue_marks"] == 0
    assert texture(_chat("q", "Some text.\n| --- | --- |\nMore text."))["residue_marks"] == 1  # no table above
    assert texture(_chat("q", "Run `ls` then:\n```bash\nls -la\n"))["residue_marks"] == 1  # fence left open


def test_mojibake_is_learned_within_residue_marks_when_texture_is_scored():
    """The detector learns encoding residue as one count, so what it learns from one kind flags the others;
    without texture's ``residue_marks`` it keeps ``mojibake_rate``."""
    from curate.detector.model import feature_columns

    frame = pd.DataFrame({"id": ["a", "b"], "mojibake_rate": [0.0, 2.0], "residue_marks": [0, 3], "qa_overlap": [0.5, 0.1]})
    assert feature_columns(frame, frame, "junk_prob") == ["qa_overlap", "residue_marks"]
    alone = frame.drop(columns=["residue_marks"])
    assert feature_columns(alone, alone, "junk_prob") == ["mojibake_rate", "qa_overlap"]


def test_per_answer_scores_read_the_answer_to_the_first_question():
    """A greeting before the question (kept when the ``leading_assistant`` repair is off) is not the answer:
    texture, consistency and qa_margin all read the first answer after the first question
    (``curate.schema.first_exchange``)."""
    from curate.scorers.consistency import consistency

    answer = "Photosynthesis turns light into chemical energy"
    greeted = [{"role": "assistant", "content": "Hi! How can I help you today?"}, *_chat("How do plants eat?", answer)]
    assert texture(greeted) == texture(_chat("How do plants eat?", answer))
    assert consistency(greeted) == consistency(_chat("How do plants eat?", answer))
    assert consistency(greeted)["open_end"]  # the greeting ends with "?", the answer with no stop


@pytest.mark.parametrize(("settings", "message"), [
    ({"kinds": ["truncaton"]}, "unknown kind 'truncaton'"),
    ({"exclude": ["all"]}, "leaves no corruption variant"),
    ({"copies": 0}, "copies"),
    ({"sample": 5}, "sample"),
    ({"model": "forest"}, "model"),
    ({"colour": 1}, "colour"),
])
def test_bad_settings_are_refused(settings, message):
    with pytest.raises((ValidationError, ValueError), match=message):
        DetectorConfig(**settings).variants()


def test_families_expand_and_exclude_removes():
    cfg = DetectorConfig(kinds=["truncation", "loop"], exclude=["truncated_list"])
    assert "truncated_list" not in cfg.variants() and {"truncated", "loop", "unclosed_fence"} <= set(cfg.variants())
    assert "near_dup" not in DetectorConfig().variants()  # dedup's job


@pytest.fixture(scope="module")
def pool():
    """300 well-formed ShareGPT rows with 30% planted junk (labels beside), scored by the cheap scorers."""
    data = curate.load("sharegpt-sample", limit=700)
    convs = [[{"role": m["role"], "content": m["content"]} for m in c] for c in data.table.column("messages").to_pylist()]
    convs = [c for c in convs if c[0]["role"] == "user" and c[-1]["role"] == "assistant"][:300]
    planted = plant(convs, 0.3, ("truncated", "loop", "refusal", "misaligned", "mojibake", "word_salad"), seed=3)
    ids = [f"r{i}" for i in range(len(convs))]
    real = curate.score(pa.table({"id": ids, "messages": planted.conversations}), SPECS, progress=False)
    by_id = dict(zip(ids, planted.conversations, strict=True))
    kinds = planted.labels["kind"].to_numpy()
    return real, (lambda xs: [by_id[i] for i in xs]), kinds != "", kinds


def test_detector_finds_junk_planted_by_someone_else(pool):
    """The pool's junk was planted before (30%, labelled clean in the detector's eyes); the detector, which
    plants its own copies, still ranks it high, and calls about as many rows junk as there are. Answers
    moved from another row fit that row's question better: their ``qa_margin`` is low."""
    real, read, bad, kind = pool
    found = detect(real, read, SPECS, DetectorConfig(copies=1.8))
    prob = found.scores.set_index("id").loc[real["id"], "junk_prob"].to_numpy()
    assert auroc(bad, prob) > 0.72  # 0.76 on these 300 rows; 0.84 on 600 (benchmarks/RESULTS.md, detector)
    assert 0.1 < found.report["flagged_share"] < 0.5
    assert found.report["auroc"] > 0.7 and set(found.report["held_out_family_auroc"]) >= {"truncation", "repetition"}
    assert "turns" not in found.report["features"] and "texture" not in found.report["features"]
    margin = found.scores.set_index("id").loc[real["id"], "qa_margin"].to_numpy()
    moved = (kind == "") | (kind == "misaligned")  # answers from another row of the pool
    assert found.report["qa_margin_reference"] == len(real) and "qa_margin" in found.report["features"]
    assert auroc(bad[moved], -np.nan_to_num(margin[moved])) > 0.85, auroc(bad[moved], -np.nan_to_num(margin[moved]))


def test_atypical_is_the_farthest_tail_of_any_continuous_score():
    from curate.detector.atypical import atypicality

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=200), "b": rng.normal(size=200), "flag": rng.integers(0, 2, 200)})
    frame.loc[7, "b"] = 40.0  # one value far above every other row's
    frame.loc[9, "a"] = np.nan
    score = atypicality(frame, ["a", "b", "flag"])
    assert score.argmax() == 7 and score[7] == pytest.approx(2)  # the top 1 of 200, two-sided: -log10(2/200)
    assert np.isfinite(score).all() and (score >= 0).all()
    assert np.array_equal(atypicality(frame, ["flag"]), np.zeros(200))  # a flag has no tail


def test_atypical_measures_against_the_rows_called_clean():
    """40 of 200 rows share one damaged value: among all rows it is common (a fifth of them sit there),
    against the 160 the detector calls clean it is beyond every one of them."""
    from curate.detector.atypical import atypicality

    values = np.r_[np.random.default_rng(1).normal(size=160), np.full(40, 10.0)]
    frame = pd.DataFrame({"b": values})
    clean = np.arange(200) < 160
    assert atypicality(frame, ["b"])[-1] < 0.5
    assert atypicality(frame, ["b"], clean)[-1] == pytest.approx(-np.log10(1 / 160))


def test_atypical_finds_damage_the_detector_was_never_shown(pool):
    """Taught only truncation, the detector's junk_prob is near chance on loops and mojibake; ``atypical``,
    which learns nothing, ranks both well above random (0.87 and 0.77 on these rows)."""
    real, read, bad, kind = pool
    found = detect(real, read, SPECS, DetectorConfig(copies=0.9, sample=200, kinds=["truncation"]))
    scores = found.scores.set_index("id").loc[real["id"]]
    for unseen in ("loop", "mojibake"):
        rows = (kind == "") | (kind == unseen)
        assert auroc(bad[rows], scores["atypical"].to_numpy()[rows]) > 0.7
        assert auroc(bad[rows], scores["atypical"].to_numpy()[rows]) > auroc(bad[rows], scores["junk_prob"].to_numpy()[rows])


@pytest.mark.parametrize("change", [{"sample": 100}, {"copies": 1.8}, {"kinds": ["loop"]}, {"exclude": ["repetition"]},
                                    {"model": "logistic"}, {"folds": 3}, {"seed": 1},
                                    {"scorers": ["heuristics", "texture"]}, {"alignment": False}])
def test_every_setting_changes_the_result(pool, change):
    real, read, _, _ = pool
    base = detect(real, read, SPECS, DetectorConfig(copies=0.9, sample=200, kinds=["loop", "truncated"]))
    other = detect(real, read, SPECS, DetectorConfig(**{"copies": 0.9, "sample": 200, "kinds": ["loop", "truncated"],
                                                        **change}))
    assert not np.allclose(base.scores["junk_prob"], other.scores["junk_prob"], equal_nan=True)


def test_a_run_with_a_detector(dirty_jsonl, tmp_path, monkeypatch):
    r = recipe(dirty_jsonl, tmp_path / "run", detector={"copies": 0.9},
               subsets=[{"name": "clean", "filter": "junk_prob < 0.5", "rank": {"-junk_prob": 1}, "budget": 10}])
    run(r, progress=False)
    rd = RunDir(tmp_path / "run")
    scores = rd.scores(vectors=False)
    kept = rd.pool()
    report = rd.detector()  # every valid row is scored (dedup runs after the detector) and sampled (< 1000)
    assert scores["junk_prob"].notna().sum() == report["sampled"] >= len(kept) and "answer_log_chars" in scores
    assert kept["junk_prob"].notna().all() and report["copies"] and 0 <= report["auroc"] <= 1
    chosen = rd.selections()["clean"]
    assert (kept.set_index("id").loc[chosen["id"], "junk_prob"] < 0.5).all()
    import curate.detector.train as train

    monkeypatch.setattr(train, "training_set", lambda *a, **k: pytest.fail("a finished detector re-ran"))
    run(r, progress=False)  # resumes: the detector is restored, not trained again
    assert json.loads((tmp_path / "run" / "detector" / "detector.json").read_text()) == report


def test_too_few_rows_skip_the_detector_with_null_scores(pool):
    real, read, _, _ = pool
    found = detect(real.head(12), read, SPECS, DetectorConfig())
    assert found.scores[["junk_prob", "atypical", "qa_margin"]].isna().all().all() and len(found.scores) == 12
    assert "needs at least 20" in found.report["skipped"]


def test_detector_scorers_must_be_the_runs(dirty_jsonl, tmp_path):
    from curate.errors import UserError
    from curate.recipe import parse

    with pytest.raises(UserError, match=r"detector.scorers: \['lm'\] not among the run's scorers"):
        parse(recipe(dirty_jsonl, tmp_path / "run", detector={"scorers": ["lm"]}))
    assert parse(recipe(dirty_jsonl, tmp_path / "run", detector={"scorers": ["heuristics", "texture"]})).detector


def test_audit_reports_leave_one_variant_out(tmp_path):
    """With a detector in the recipe, the audit refits it without each planted variant (of a family with
    others) and says what the junk_prob subset keeps of it next to random."""
    kinds = ["loop", "repeated_sentence", "truncated", "truncated_sentence"]
    rec = {"name": "lovo", "input": {"source": "sharegpt-sample", "limit": 160}, "run_dir": str(tmp_path / "run"),
           "scorers": ["heuristics", "consistency"], "detector": {"copies": 1.8},
           "subsets": [{"name": "quality", "filter": "junk_prob < 0.5", "rank": {"-junk_prob": 1}, "budget": 60},
                       {"name": "random", "baseline": "random", "budget": 60}]}
    result = curate.audit(rec, limit=160, kinds=kinds, run_dir=tmp_path / "audit", progress=False)
    held = result.summary["held_out"]
    assert set(held["ratios"]) == set(kinds) and set(held["pooled"]) == {"quality"}
    assert all(r["quality"] is None or r["quality"] >= 0 for r in held["ratios"].values())
    assert "leave one variant out" in result.table()


TOPICS = [("How do I boil pasta so it does not stick together in the pot?",
           "Use a large pot of salted boiling water, stir the pasta in the first minutes and drain it al dente."),
          ("What causes ocean tides on Earth every day?",
           "Ocean tides on Earth come from the Moon's gravity pulling the oceans; the Sun adds spring tides."),
          ("Why does my bicycle chain keep slipping off the gears?",
           "A slipping chain means a stretched chain, worn gears or a derailleur that needs its cable adjusted."),
          ("How can I learn Spanish vocabulary faster?",
           "Learn Spanish vocabulary with spaced repetition flashcards and read simple Spanish texts daily."),
          ("机器学习是什么？", "机器学习是人工智能的一个分支，让计算机从数据中学习规律。")]


def test_qa_margin_sees_an_answer_under_the_wrong_question():
    """An answer moved under another question fits its own question (still in the run) better: its margin
    is negative, a well-placed row's positive, near zero where its question is asked twice; a copy is
    compared without its original's question."""
    from curate.detector.alignment import Reference

    rows = [_chat(q, a) for q, a in TOPICS]
    moved = [*rows, _chat(TOPICS[0][0] + " Any tips for the sauce?", TOPICS[1][1])]  # tides under pasta
    ref = Reference(moved)
    margin = ref.margin(moved, np.arange(len(moved)))
    assert margin[-1] < -0.1 and (margin[1:-1] > 0.1).all()  # the Chinese row too: its words are character pairs
    assert abs(margin[0]) < 0.1  # the pasta question is asked twice: either fits its answer
    copy = ref.margin([_chat(TOPICS[2][0], TOPICS[3][1])], np.array([2]))
    assert copy[0] < 0  # Spanish answer under the bicycle question: the Spanish question fits it better
    assert np.isnan(ref.margin([_chat("hello there", "")], np.array([-1]))[0])  # no answer, no margin
    digits = [_chat("1 + 1", "2"), _chat("3 * 3", "9")]  # no letters anywhere: no vocabulary, no margins
    assert np.isnan(Reference(digits).margin(digits, np.arange(2))).all()
    assert np.isnan(Reference([]).margin(rows, np.full(len(rows), -1))).all()


def test_qa_margin_sees_an_answer_shifted_up_a_turn():
    """Answers shifted one turn up: the first answer was written for the conversation's next question, so
    that question, not another row's, makes its margin negative; in order, the same turns stay positive."""
    from curate.detector.alignment import Reference

    (q1, a1), (q2, a2), (q3, a3) = TOPICS[0], TOPICS[1], TOPICS[2]
    in_order = [{"role": "user", "content": q1}, {"role": "assistant", "content": a1},
                {"role": "user", "content": q2}, {"role": "assistant", "content": a2},
                {"role": "user", "content": q3}, {"role": "assistant", "content": a3}]
    shifted = [*in_order[:1], {"role": "assistant", "content": a2}, in_order[2],
               {"role": "assistant", "content": a3}]
    ref = Reference([_chat(TOPICS[3][0], " ".join([q1, a1, q2, a2]))])  # knows the words; its question fits neither
    margin = ref.margin([in_order, shifted], np.full(2, -1))
    assert margin[0] > 0.1 and margin[1] < -0.1


def test_qa_margin_on_a_large_run_compares_against_a_sample(monkeypatch):
    """Past MAX_REFERENCE questions the reference keeps the detector's sampled rows and a seeded sample of
    the rest; every row still gets a margin, the same whatever the read batch."""
    import curate.detector.alignment as alignment

    rows = {f"r{i}": _chat(*TOPICS[i % len(TOPICS)]) for i in range(23)}
    ids = list(rows)
    monkeypatch.setattr(alignment, "MAX_REFERENCE", 8)
    chosen = alignment.reference_ids(ids, ["r3", "r20"], seed=0)
    assert len(chosen) == 8 and {"r3", "r20"} <= set(chosen) and chosen == sorted(chosen, key=ids.index)
    assert alignment.reference_ids(ids, ["r3"], seed=1) != alignment.reference_ids(ids, ["r3"], seed=0)
    read = lambda xs: [rows[i] for i in xs]  # noqa: E731
    whole = alignment.run_margins(ids, chosen, read)
    monkeypatch.setattr(alignment, "READ_BATCH", 5)
    batched = alignment.run_margins(ids, chosen, read).margins
    assert whole.margins.notna().all() and whole.margins.equals(batched) and set(whole.position) == set(chosen)


def test_measures_with_a_known_direction_are_learned_monotone():
    """Planted copies with 1-5 residue marks and clean rows with 8-10 (code full of tags): unconstrained
    trees learn "8+ marks is clean", which would let heavier damage through; ``residue_marks`` is held
    monotone, so more marks never reads as cleaner."""
    from curate.detector.model import fit

    rng = np.random.default_rng(0)
    marks = np.concatenate([np.zeros(300), rng.integers(1, 6, 300), rng.integers(8, 11, 120)]).astype(float)
    junk = np.concatenate([np.zeros(300), np.ones(300), np.zeros(120)]).astype(int)
    x = np.column_stack([marks, rng.normal(size=len(marks))])
    probe = np.array([[0.0, 0.0], [4.0, 0.0], [9.0, 0.0]])
    free = fit(x, junk, "boosting", 0, ["other", "noise"]).raw(probe)
    held = fit(x, junk, "boosting", 0, ["residue_marks", "noise"]).raw(probe)
    assert free[2] < 0.5 < free[1]  # what the constraint prevents
    assert held[2] >= held[1] > held[0] + 0.2
