"""The Streamlit pages, run headless with AppTest on a tiny model and a fake run directory."""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import threading
from pathlib import Path

import pytest
from helpers import trained_run
from streamlit.testing.v1 import AppTest

from curate.app import conversation
from curate.app.votes import VoteStore
from curate.errors import UserError
from curate.train.generate import Generator

MAIN = str(Path(__file__).resolve().parent.parent / "curate" / "app" / "main.py")


@pytest.fixture(scope="module")
def fake_run(tiny_lm_dir, tmp_path_factory) -> Path:
    return trained_run(tmp_path_factory.mktemp("run"), tiny_lm_dir)


@pytest.fixture
def run(fake_run, tmp_path, monkeypatch) -> Path:
    """A fresh copy per test (votes start empty), shared adapters are cheap to copy."""
    dst = tmp_path / "run"
    shutil.copytree(fake_run, dst)
    monkeypatch.setenv("CURATE_RUN_DIR", str(dst))
    monkeypatch.setenv("CURATE_DEVICE", "cpu")
    monkeypatch.delenv("CURATE_BASE_MODEL", raising=False)
    return dst


def app(page: str | None = None) -> AppTest:
    at = AppTest.from_file(MAIN, default_timeout=120)
    at.session_state["max_new_tokens"] = 6
    at.run()
    if page:
        at.switch_page(f"views/{page}.py").run()
    assert not at.exception, at.exception
    return at


def texts(elements) -> str:
    return "\n".join(str(e.value) for e in elements)


def finish(at: AppTest, key: str = "compare_job") -> AppTest:
    """Wait for the page's background generation, then redraw it."""
    assert at.session_state[key].wait(120)
    at.run()
    assert not at.exception, at.exception
    return at


def assistants(at: AppTest) -> list:
    return [m for m in at.chat_message if m.name == "assistant"]


@contextlib.contextmanager
def gate_generation():
    """Hold generations until the body calls the yielded ``release``."""
    event = threading.Event()
    original = Generator.generate_batch

    def held(self, *args, **kwargs):
        assert event.wait(60)
        return original(self, *args, **kwargs)

    Generator.generate_batch = held
    try:
        yield event.set
    finally:
        event.set()
        Generator.generate_batch = original


@pytest.fixture
def gate():
    """Answers stay 'generating' until the test calls ``gate()``."""
    with gate_generation() as release:
        yield release


def test_compare_two_variants_side_by_side(run):
    at = app()
    chosen = at.multiselect(key="compare_variants")
    assert chosen.value == ["base", "quality", "random"]  # every variant preselected
    assert "A **variant** is one of the resulting models" in texts(at.caption)
    at.chat_input(key="compare_input").set_value("How do I sort a list?").run()
    finish(at)
    assert not at.error, at.error
    assert len(assistants(at)) == 3
    assert len(re.findall(r"\d+ tokens? in [\d.]+ s", texts(at.caption))) == 3
    heads = texts(at.subheader)
    assert heads.count("base") == 1 and "no fine-tuning" in texts(at.caption)
    # a follow-up goes to each column with its own history: 2 user + 2 assistant turns per column
    at.chat_input(key="compare_input").set_value("And in reverse?").run()
    finish(at)
    assert len(assistants(at)) == 6
    assert len(at.session_state["compare_chats"]["quality"]) == 4


def test_compare_picked_prompt_and_empty_prompt(run):
    at = app()
    pick = at.selectbox(key="compare_pick")
    pick.set_value(pick.options[1]).run()
    at.button(key="compare_send").click().run()
    finish(at)
    assert len(assistants(at)) == 3
    at.chat_input(key="compare_input").set_value("   ").run()
    assert "empty" in texts(at.error)
    assert not at.exception


def test_compare_stop_one_answer(run, gate):
    at = app()
    at.chat_input(key="compare_input").set_value("Count to one hundred.").run()
    assert texts(at.caption).count("generating...") == 3
    at.button(key="compare_stop_quality_1").click().run()
    gate()
    finish(at)
    chats = at.session_state["compare_chats"]
    assert chats["quality"][1]["answer"].finish == "stopped"
    assert chats["base"][1]["answer"].finish in ("eos", "length")
    assert "(stopped after 0 tokens)" in texts(at.caption)


def test_compare_new_prompt_keeps_the_interrupted_turn(run, gate):
    at = app()
    at.chat_input(key="compare_input").set_value("First question").run()
    at.chat_input(key="compare_input").set_value("Second question").run()
    gate()
    finish(at)
    history = at.session_state["compare_chats"]["quality"]
    assert [m.get("content") for m in history if m["role"] == "user"] == ["First question", "Second question"]
    assert history[1]["interrupted"] and not history[3]["interrupted"]
    assert texts(at.caption).count("interrupted by a new prompt") == 3
    assert "First question" in texts(at.markdown)
    # held before its first token: the bubble says so instead of staying empty
    assert texts(at.markdown).count("no answer: interrupted by a new prompt before the first token") == 3
    assert "first token after" in texts(at.caption)  # time to first token per answer
    assert "reloading or closing it loses them" in texts(at.caption)
    assert any("onbeforeunload" in str(h.proto.body) for h in at.get("html"))  # the browser asks first


def test_compare_regenerate_and_cut_marker(run):
    at = app()
    at.session_state["temperature"] = 0.0
    at.session_state["max_new_tokens"] = 3
    at.chat_input(key="compare_input").set_value("Tell me a long story.").run()
    finish(at)
    first = at.session_state["compare_chats"]["quality"][1]["answer"]
    assert first.finish == "length" and "(cut at 3 tokens)" in texts(at.caption)
    at.button(key="compare_regen_quality").click().run()
    finish(at)
    history = at.session_state["compare_chats"]["quality"]
    assert len(history) == 2 and history[1]["answer"] is not first  # replaced, not appended
    assert history[1]["answer"].text == first.text  # greedy: the same answer again


def test_compare_system_prompt_and_export(run):
    at = app()
    at.text_area(key="compare_system").set_value("Answer in French.")
    at.chat_input(key="compare_input").set_value("Hello").run()
    finish(at)
    sent = conversation.model_messages(at.session_state["compare_chats"]["quality"], "Answer in French.")
    assert sent[0] == {"role": "system", "content": "Answer in French."}
    doc = json.loads(conversation.to_json(at.session_state["compare_chats"], {}, "Answer in French.", {"seed": 0}))
    assert doc["system"] == "Answer in French." and len(doc["variants"]) == 3
    assert doc["variants"][0]["messages"][1]["finish"] in ("eos", "length")
    assert len(at.get("download_button")) == 2  # JSON and Markdown


def test_arena_vote_is_stored_and_leaderboard_changes(run):
    at = app("leaderboard")
    assert "No votes yet" in texts(at.info)
    at = app("arena")
    assert at.number_input(key="arena_max_new_tokens").value == 256  # a typical answer ends by itself
    assert "at most 256 new tokens" in texts(at.caption)
    at.number_input(key="arena_max_new_tokens").set_value(6)
    at.text_area(key="arena_prompt").set_value("Tell me a joke.")
    with gate_generation() as release:
        at.button(key="arena_ask").click().run()
        assert "vote_a" not in [b.key for b in at.button]  # no vote before both answers are in
        assert texts(at.caption).count("generating...") == 2
        assert at.button(key="arena_ask").disabled  # a second click cannot drop the streaming battle
        release()
    finish(at, "arena_job")
    assert not at.error, at.error
    heads = texts(at.subheader)
    assert "Model A" in heads and "Model B" in heads
    assert "quality" not in texts(at.markdown)  # names stay hidden before the vote
    at.button(key="vote_a").click().run()
    assert "Model A was" in texts(at.success)
    votes = VoteStore(run / "votes.sqlite").all()
    assert len(votes) == 1 and votes[0]["outcome"] == "a" and votes[0]["prompt"] == "Tell me a joke."
    assert votes[0]["settings"]["max_new_tokens"] == 6 and votes[0]["answer_a"] is not None
    assert votes[0]["finish_a"] in ("eos", "length") and votes[0]["settings"]["pairing"] == "adaptive"
    assert "vote_b" not in [b.key for b in at.button] and at.button(key="arena_next")  # one vote per battle
    assert "1 vote in" in texts(at.caption)
    at.switch_page("views/leaderboard.py").run()
    assert not at.exception
    human = at.dataframe[0].value
    winner = votes[0]["variant_a"]
    assert human.set_index("variant").loc[winner, "wins"] == 1
    assert "1 vote;" in texts(at.caption)


def test_leaderboard_formats_matrix_judge_and_heldout(run):
    store = VoteStore(run / "votes.sqlite")
    for outcome in ("a", "a", "b", "tie"):
        store.add("p", "quality", "random", "x", "y", outcome)
    store.add("p", "base", "quality", "x", "y", "b")
    at = app("leaderboard")
    tables = [d.value for d in at.dataframe]
    human = tables[0].set_index("variant")
    assert human.loc["quality", "win rate"] == "0.70 (n=5)"  # 3.5 of 5, two decimals, with its vote count
    assert " – " in human.loc["quality", "95% CI"] and human.loc["quality", "status"] == "provisional"
    assert "**Provisional**: fewer than 40 votes" in texts(at.caption)
    assert tables[1].set_index("variant").loc["quality", "status"] == "provisional"
    matrix = tables[2]
    assert matrix.loc["quality", "random"] == "0.62 (4)" and matrix.loc["random", "quality"] == "0.38 (4)"
    assert matrix.loc["base", "random"] == "never met"
    assert "Never compared directly: `random` and `base`" in texts(at.warning)
    assert "5 votes;" in texts(at.caption)
    page = texts(at.markdown)
    assert "Against `base`" in page and "Against `random`" in page and "tiny-reward" in page
    assert "bootstrap over prompts" in texts(at.caption)
    auto = next(t for t in tables if "length-controlled" in t.columns or "mean answer tokens" in t.columns)
    assert auto["win rate"].iloc[0] == "0.75 (n=10)"
    heldout = at.dataframe[-2].value
    assert list(heldout["variant"]) == ["base", "quality", "random"] and heldout["loss"].iloc[0] == "2.5000"
    assert heldout["vs base"].tolist() == ["+0.0000", "-0.1000", "-0.2000"]
    side = at.dataframe[-1].value
    assert {"auto win rate vs base", "auto win rate vs random"} <= set(side.columns)
    assert side.set_index("variant").loc["quality", "auto win rate vs base"] == "0.75 (n=10)"  # not averaged
    assert "curate export " in texts(at.code) and "--to DIR" in texts(at.code)
    assert any("overflow-x: auto" in str(h.proto.body) for h in at.get("html"))  # results.md tables scroll


def test_leaderboard_leaves_out_cut_answers_and_explains_flat_intervals(run):
    from curate.rundir import write_json

    store = VoteStore(run / "votes.sqlite")
    store.add("p", "quality", "random", "x", "y", "a", finish=("eos", "eos"))
    store.add("p", "quality", "random", "x", "y", "b", finish=("length", "eos"))
    write_json(run / "eval" / "winrates.json", [
        {"variant": "random", "opponent": "base", "judge": "lm:x", "n": 4, "wins": 0, "losses": 0, "ties": 4,
         "win_rate": 0.5, "ci_low": 0.5, "ci_high": 0.5}])
    at = app("leaderboard")
    assert at.dataframe[0].value.set_index("variant").loc["quality", "win rate"] == "0.50 (n=2)"
    assert "1 vote had an answer cut" in texts(at.caption)
    at.toggle(key="board_exclude_cut").set_value(True).run()
    assert at.dataframe[0].value.set_index("variant").loc["quality", "win rate"] == "1.00 (n=1)"
    assert "zero width from 4 prompts, 4 of them ties" in texts(at.caption)


def test_leaderboard_with_a_broken_store_says_so_once(run):
    (run / "votes.sqlite").write_bytes(b"not a database" * 200)
    at = app("leaderboard")
    assert "not a valid SQLite" in texts(at.error)
    assert "No votes yet" not in texts(at.info) and "fresh store" in texts(at.warning)


def test_arena_double_vote_is_refused(run):
    store = VoteStore(run / "votes.sqlite")
    store.add("p", "base", "quality", "x", "y", "a", session="s1", battle="b1")
    with pytest.raises(UserError, match="already has your vote"):
        store.add("p", "base", "quality", "x", "y", "b", session="s1", battle="b1")
    store.add("p", "base", "quality", "x", "y", "b", session="s2", battle="b1")  # another session may
    assert store.count() == 2


def test_arena_next_battle_and_follow_up(run):
    at = app("arena")
    at.number_input(key="arena_max_new_tokens").set_value(4)
    at.text_area(key="arena_prompt").set_value("Name a colour.")
    at.button(key="arena_ask").click().run()
    finish(at, "arena_job")
    at.chat_input(key="arena_follow").set_value("And another one?").run()
    finish(at, "arena_job")
    assert "Turn 2:" in texts(at.markdown)
    at.button(key="vote_tie").click().run()
    first = dict(at.session_state["arena"])
    vote = VoteStore(run / "votes.sqlite").all()[0]
    assert vote["prompt"] == "And another one?" and vote["history"][0]["prompt"] == "Name a colour."
    at.button(key="arena_next").click().run()
    finish(at, "arena_job")
    battle = at.session_state["arena"]
    assert battle["id"] != first["id"] and battle["voted"] is None
    assert battle["turns"][0]["prompt"] in conversation_prompts()
    assert at.button(key="vote_a") is not None


def conversation_prompts() -> list[str]:
    from curate.app.state import prompts

    return prompts()


def test_app_offers_what_the_evaluation_asks(tmp_path):
    """The app reads prompt files with the evaluation's parser: same formats, and a broken line is not
    silently skipped (the page warns and offers the built-in prompts)."""
    from curate.app.state import BUILTIN_PROMPTS, prompts
    from curate.train.prompt_set import load_prompts, prompt_text

    assert prompts() == [prompt_text(p).strip() for p in load_prompts()]
    f = tmp_path / "p.jsonl"
    f.write_text('{"instruction": "Add", "input": "2+2"}\n{"turns": ["Plan a trip.", "Shorter."]}\n')
    assert prompts(f) == ["Add\n\n2+2", "Plan a trip."]
    f.write_text('{"prompt": "fine"}\nnot json\n')
    assert prompts(f) == BUILTIN_PROMPTS


def test_arena_corrupt_store_is_refused_before_generation(run):
    (run / "votes.sqlite").write_bytes(b"not a database" * 200)
    at = app("arena")
    assert "not a valid SQLite" in texts(at.error)
    assert "arena_ask" not in [b.key for b in at.button]  # nothing to generate before the store is fixed
    at.button(key="arena_fresh_store").click().run()
    assert not at.exception
    kept = list(run.glob("votes.unreadable-*.sqlite"))
    assert len(kept) == 1 and kept[0].read_bytes().startswith(b"not a database")
    assert "old file is kept" in texts(at.info)
    assert at.button(key="arena_ask") is not None and VoteStore(run / "votes.sqlite").count() == 0


def test_arena_empty_prompt(run):
    at = app("arena")
    at.button(key="arena_ask").click().run()
    assert "empty" in texts(at.error) and not at.exception


def test_explorer_counts_filters_and_reasons(run):
    at = app("explorer")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics == {"Read": "24", "Kept": "17", "Removed": "3", "Quarantined": "1"}
    assert "20 of 20 rows" in texts(at.caption)
    table = at.dataframe[0].value
    assert list(table.columns[:3]) == ["status", "why", "preview"]  # status and reason first, not off-screen
    assert table.columns[-1] == "id"  # the hash says nothing to a reader: last
    at.text_input(key="explore_query").set_value("sort 7 ").run()
    assert "1 of 20 rows" in texts(at.caption)
    at.text_input(key="explore_query").set_value("").run()
    at.selectbox(key="explore_status").set_value("removed").run()
    assert "3 of 20 rows" in texts(at.caption)
    at.selectbox(key="explore_row").set_value("id005").run()
    assert "near copy (most word sequences shared, MinHash) of row id004, similarity 0.91" in texts(at.warning)
    at.selectbox(key="explore_status").set_value("all").run()
    at.selectbox(key="explore_subset").set_value("quality").run()
    assert "6 of 20 rows" in texts(at.caption)
    at.selectbox(key="explore_row").set_value("id007").run()
    assert "Kept, and chosen by quality: quality: rank 7;" in texts(at.success)
    at.selectbox(key="explore_subset").set_value("any").run()
    at.selectbox(key="explore_row").set_value("id015").run()
    assert "no subset picked it" in texts(at.info)
    clusters = next(d.value for d in at.dataframe if "kept row" in d.value.columns)
    assert clusters.iloc[0]["kept row"] == "id000" and clusters.iloc[0]["members"] == 2
    assert not at.exception


def test_explorer_score_range_sort_and_export(run):
    at = app("explorer")
    at.multiselect(key="explore_ranged").set_value(["ifd"]).run()
    at.slider(key="explore_range_ifd").set_value((0.55, 0.6)).run()
    assert "6 of 20 rows" in texts(at.caption)  # ifd 0.55 .. 0.60: rows 5..10
    assert "instruction-following difficulty" in at.slider(key="explore_range_ifd").label
    at.selectbox(key="explore_sort").set_value("assistant_chars").run()
    table = at.dataframe[0].value
    assert table["id"].tolist()[0] == "id010"  # highest first
    export = {b.proto.id.rsplit("-", 1)[-1]: b for b in at.get("download_button")}
    assert set(export) == {"explore_export_jsonl", "explore_export_parquet"}
    at.text_input(key="explore_query").set_value("no such words").run()
    assert "0 of 20 rows" in texts(at.caption)
    assert all(b.proto.disabled for b in at.get("download_button"))  # nothing to export


def test_explorer_range_slider_on_its_step_grid_and_row_scores(run):
    """A minimum off the step grid (0.1331) made the browser snap the lower handle below it and Streamlit
    dropped the whole filter: the slider's ends now sit on its step grid around the data, so moving only
    the upper handle filters."""
    import pandas as pd

    from curate.rundir import RunDir

    scores = RunDir(run).scores_dir
    part = next(scores.glob("*/*.parquet"))
    df = pd.read_parquet(part)
    df["ifd"] = [0.1331 + 0.0347 * i for i in range(len(df))]
    df.insert(1, "mojibake_rate", 0.0)  # the first score, and 0 on every row
    df.to_parquet(part)
    at = app("explorer")
    at.multiselect(key="explore_ranged").set_value(["ifd"]).run()
    slider = at.slider(key="explore_range_ifd")
    step = slider.step
    assert slider.min <= 0.1331 and slider.max >= df["ifd"].max()
    for end in (slider.min, slider.max):
        assert abs(end / step - round(end / step)) < 1e-6  # no snapping can move an end outside the range
    slider.set_value((slider.min, 0.78)).run()
    assert f"{int((df['ifd'] <= 0.78).sum())} of 20 rows" in texts(at.caption)
    hist = at.selectbox(key="explore_score")
    assert hist.value != "mojibake_rate" and hist.options[-1] == "mojibake_rate"  # opens on a score that varies
    assert any(e.label.startswith("Scores of this row") for e in at.expander)


def test_explorer_duplicate_link_and_diff(run):
    at = app("explorer")
    at.selectbox(key="explore_row").set_value("id005").run()
    assert "Open the kept row id004" in [b.label for b in at.button]
    assert "-user: How do I sort 4 numbers in Python?" in texts(at.code)
    assert "+user: How do I sort 5 numbers in Python?" in texts(at.code)
    at.button(key="explore_open_kept").click().run()
    assert at.selectbox(key="explore_row").value == "id004"
    assert not at.exception


def test_errors_without_models_or_run(tmp_path, monkeypatch, tiny_lm_dir):
    monkeypatch.setenv("CURATE_DEVICE", "cpu")
    monkeypatch.setenv("CURATE_BASE_MODEL", str(tiny_lm_dir))
    monkeypatch.setenv("CURATE_RUN_DIR", str(tmp_path / "missing"))
    at = app()
    assert "Run directory not found" in texts(at.error)
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("CURATE_RUN_DIR", str(empty))
    at = app()
    assert "No trained models" in texts(at.error)
    at = app("arena")
    assert "at least two variants" in texts(at.error)
    at = app("explorer")
    assert "No counts" in texts(at.info) and "No rows" in texts(at.warning)
    at = app("leaderboard")
    assert "No votes yet" in texts(at.info) and "No automatic win rates" in texts(at.info)


def test_broken_adapter_shows_message(run):
    broken = run / "models" / "broken" / "adapter"
    broken.mkdir(parents=True)
    (broken / "adapter_config.json").write_text("{}")
    at = app()
    at.multiselect(key="compare_variants").set_value(["base", "broken"])
    at.chat_input(key="compare_input").set_value("Hi").run()
    finish(at)  # the base answers on a background thread: wait for it under load too
    assert "broken adapter folder for variant 'broken'" in texts(at.error)
    assert len([m for m in at.chat_message if m.name == "assistant"]) == 2  # base answered; broken told why
    assert not at.exception


def test_explorer_shows_the_audit_of_the_runs_recipe(run):
    from curate.rundir import RunDir, write_json

    audit = RunDir(run).audit_dir
    write_json(audit / "audit.json", {
        "rows": 40, "planted_rows": 12, "uncaught": ["misaligned"],
        "best": {"truncated": {"column": "open_end", "direction": "high", "auroc": 0.97, "precision": 0.9},
                 "misaligned": {"column": "ifd", "direction": "high", "auroc": 0.61, "precision": 0.3},
                 "all": {"column": "open_end", "direction": "high", "auroc": 0.8, "precision": 0.5}},
        "subsets": {"quality": {"rows": 20, "planted_share": 0.05, "random_planted_share": 0.3, "ratio": 0.1667}}})
    at = app("explorer")
    assert any("12 planted corruptions in 40 rows" in e.label for e in at.expander)
    tables = [df.value for df in at.dataframe]
    catches = next(t for t in tables if "best score" in t.columns)
    assert catches.set_index("kind").loc["misaligned", "caught"].startswith("no")
    survival = next(t for t in tables if "planted share" in t.columns)
    assert survival.iloc[0].tolist() == ["quality", 20, "5.0%", "30.0%", 0.17]


def test_shared_arena_needs_a_voter_link(run, monkeypatch, tmp_path):
    voters = tmp_path / "voters.txt"
    voters.write_text("ann ann-secret-1\n")
    monkeypatch.setenv("CURATE_VOTERS", str(voters))
    at = app("arena")
    assert "personal link" in texts(at.warning) and "arena_ask" not in [b.key for b in at.button]
    at = AppTest.from_file(MAIN, default_timeout=120)
    at.query_params["voter"] = "ann-secret-1"
    at.session_state["max_new_tokens"] = 6
    at.run()
    at.switch_page("views/arena.py").run()
    assert "Voting as **ann**" in texts(at.caption)
    at.number_input(key="arena_max_new_tokens").set_value(4)
    at.text_area(key="arena_prompt").set_value("Hi")
    at.button(key="arena_ask").click().run()
    finish(at, "arena_job")
    at.button(key="vote_b").click().run()
    assert VoteStore(run / "votes.sqlite").all()[0]["voter"] == "ann"


def test_explorer_says_how_full_a_subset_is(run):
    from curate.rundir import RunDir, write_json

    write_json(RunDir(run).subset_dir("quality") / "meta.json", {"fill": {"selected": 6, "budget": 10}})
    at = app("explorer")
    at.selectbox(key="explore_subset").set_value("quality").run()
    warned = texts(at.warning)
    assert "quality filled 6 of 10 rows" in warned and "--explain quality" in warned
    write_json(RunDir(run).subset_dir("quality") / "meta.json", {"fill": {"selected": 10, "budget": 10}})
    at.run()
    assert "quality: filled 10 of 10 rows" in texts(at.caption) and not at.exception
