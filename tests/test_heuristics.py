from curate.scorers.heuristics import COLUMNS, HeuristicsScorer, heuristics


def conv(*pairs):
    return [{"role": r, "content": c} for r, c in pairs]


def test_lengths_and_turns():
    h = heuristics(conv(("system", "sys"), ("user", "hello there"), ("assistant", "General Kenobi.")))
    assert (h["turns"], h["user_turns"], h["assistant_turns"]) == (3, 1, 1)
    assert h["user_chars"] == 11 and h["assistant_chars"] == 15
    assert h["words"] == 5 and h["tokens"] == (len("sys\nhello there\nGeneral Kenobi.") + 3) // 4
    assert h["role_order_ok"] and h["ends_with_assistant"] and not h["truncated"]


def test_role_order():
    assert not heuristics(conv(("assistant", "hi"), ("user", "q"), ("assistant", "a.")))["role_order_ok"]
    assert not heuristics(conv(("user", "q"), ("assistant", "a."), ("assistant", "b.")))["role_order_ok"]
    assert not heuristics(conv(("user", "q"), ("system", "late"), ("assistant", "a.")))["role_order_ok"]
    assert heuristics(conv(("user", "q"), ("assistant", "call"), ("tool", "{}"), ("assistant", "done.")))["role_order_ok"]


def test_truncation():
    long_cut = "word " * 100 + "and then the"
    assert heuristics(conv(("user", "q"), ("assistant", long_cut)))["truncated"]
    assert heuristics(conv(("user", "q"), ("assistant", "It goes on...")))["truncated"]
    assert heuristics(conv(("user", "q"), ("assistant", "a."), ("user", "more?")))["truncated"]
    assert not heuristics(conv(("user", "q"), ("assistant", "word " * 100 + "the end.")))["truncated"]


def test_every_scorer_reads_the_end_of_an_answer_alike_in_any_script():
    """One list of endings serves heuristics (``truncated``), consistency (``open_end``) and texture
    (``ends_terminal``): a long Chinese or Japanese answer ending in a full stop is finished."""
    import pyarrow as pa

    from curate.scorers.consistency import consistency
    from curate.scorers.heuristic_columns import heuristic_values
    from curate.scorers.texture import texture

    body = "这是一个很长的回答，解释了问题的每一个方面" * 12
    for end, finished in (("。", True), ("！", True), ("？", True), ("，然后", False), (".", True), (" and the", False)):
        messages = conv(("user", "问题是什么？"), ("assistant", body + end))
        assert heuristics(messages)["truncated"] is not finished, end
        assert heuristic_values(pa.array([messages]))["truncated"] == [not finished], end
        assert consistency(messages)["open_end"] is not finished, end
        assert texture(messages)["ends_terminal"] is finished, end


def test_repetition():
    rep = "\n".join(["the same line again"] * 10)
    h = heuristics(conv(("user", "q"), ("assistant", rep)))
    assert h["dup_line_frac"] == 0.9 and h["dup_ngram_frac"] > 0.7
    clean = heuristics(conv(("user", "q"), ("assistant", " ".join(f"w{i}" for i in range(50)))))
    assert clean["dup_line_frac"] == 0 and clean["dup_ngram_frac"] == 0


def test_template_leak_and_refusal():
    assert heuristics(conv(("user", "q"), ("assistant", "sure<|im_end|>")))["template_leak"]
    assert heuristics(conv(("user", "[INST] q"), ("assistant", "a.")))["template_leak"]
    assert not heuristics(conv(("user", "q"), ("assistant", "a.")))["template_leak"]
    assert heuristics(conv(("user", "q"), ("assistant", "As an AI language model, I cannot do that.")))["refusal"]
    assert heuristics(conv(("user", "q"), ("assistant", "I'm sorry, but I can't help with that.")))["refusal"]
    assert not heuristics(conv(("user", "q"), ("assistant", "Sorting is O(n log n).")))["refusal"]


def test_scorer_protocol():
    s = HeuristicsScorer()
    out = s.score([conv(("user", "q"), ("assistant", "a."))] * 3)
    assert set(out) == set(COLUMNS) == set(s.columns)
    assert all(len(v) == 3 for v in out.values())


def test_column_scorer_equals_per_row_reference_on_the_sample():
    """The scorer's column operations give exactly the per-row function's values (2,000 sample rows)."""
    import curate

    msgs = curate.load("sharegpt-sample", limit=2000).table["messages"].combine_chunks()
    cols = HeuristicsScorer().score(msgs)
    ref = [heuristics(m) for m in msgs.to_pylist()]
    for col in COLUMNS:
        assert cols[col] == [r[col] for r in ref], col


def test_column_scorer_equals_reference_on_edge_cases():
    """Unicode whitespace and line breaks, characters Arrow lower-cases unlike Python, final sigma,
    4-byte and title-case letters, n-grams across answers, system/tool turns, digits and dots at the end, repeated lines across answers."""
    cases = [
        conv(("system", "s"), ("user", "q\u3000x\u00a0y"), ("assistant", "\u0130 AM SORRY, BUT I CAN'T do it")),
        conv(("user", "q"), ("assistant", "a b c d e\u2028a b c d e"), ("user", "q2"), ("assistant", "a b c d e")),
        conv(("user", "q"), ("assistant", "line\r\nline\x1cline\n\n  \n"), ("tool", "{}"), ("assistant", "x " * 150 + "2")),
        conv(("assistant", "hi"), ("user", "q")),
        conv(("user", "q"), ("system", "late"), ("assistant", "\u2160\u2161 done \u00b2")),
        conv(("user", "q"), ("assistant", "word " * 60 + "and so on...")),
        conv(("user", ""), ("assistant", "   ")),
        conv(("user", "q"), ("assistant", "I'M \u017fORRY, BUT I CAN'T")),  # RE2 folds ſ to s, Python does not
        conv(("user", "q"), ("assistant", "ΟΔΟΣ ΣΑΣ " * 4 + "οδος σας " * 4)),  # Python lower-cases a final Σ to ς
        conv(("user", "q"), ("assistant", "\u212aELVIN \U00010400 \u01c5 " * 3 + "kelvin \U00010428 \u01c6 " * 3)),
    ]
    cols = HeuristicsScorer().score(cases)
    for col in COLUMNS:
        assert cols[col] == [heuristics(c)[col] for c in cases], col


def test_python_whitespace_sets_spelled_out():
    from curate.text_kernels import PY_LINE_BREAKS, PY_WHITESPACE

    chars = [chr(i) for i in range(0x3001)]
    assert set(PY_WHITESPACE) == {c for c in chars if c.isspace()}
    assert set(PY_LINE_BREAKS) == {c for c in chars if len(f"a{c}b".splitlines()) == 2}
