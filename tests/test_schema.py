import pytest

from curate.schema import (
    InvalidRecord,
    conversation_id,
    instruction_text,
    normalize,
    response_text,
    to_messages,
    to_sharegpt,
)

SHAREGPT = {"conversations": [{"from": "system", "value": "Be brief."}, {"from": "human", "value": "Hi"},
                              {"from": "gpt", "value": "Hello!"}], "source": "x", "score": 4.5}


def test_sharegpt_round_trip_keeps_extra_columns():
    messages, extra = normalize(SHAREGPT)
    assert [m["role"] for m in messages] == ["system", "user", "assistant"]
    assert extra == {"source": "x", "score": 4.5}
    assert to_sharegpt(messages) == SHAREGPT["conversations"]


def test_messages_round_trip():
    rec = {"messages": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]}
    messages, _ = normalize(rec)
    assert to_messages(messages) == rec["messages"]


def test_alpaca_with_input():
    messages, _ = normalize({"instruction": "Translate", "input": "bonjour", "output": "hello"})
    assert messages == [{"role": "user", "content": "Translate\n\nbonjour"}, {"role": "assistant", "content": "hello"}]
    messages, _ = normalize({"instruction": "Say hi", "input": "", "output": "hi"})
    assert messages[0]["content"] == "Say hi"


@pytest.mark.parametrize("who,role", [("chatgpt", "assistant"), ("bing", "assistant"), ("bard", "assistant"),
                                      ("function_call", "assistant"), ("observation", "tool"), ("user", "user")])
def test_sharegpt_role_aliases(who, role):
    rec = {"conversations": [{"from": "human", "value": "q"}, {"from": who, "value": "v"},
                             {"from": "gpt", "value": "a"}]}
    assert normalize(rec)[0][1]["role"] == role


def test_id_is_stable_across_formats_and_whitespace():
    a, _ = normalize({"conversations": [{"from": "human", "value": "Hi "}, {"from": "gpt", "value": "Yo"}]})
    b, _ = normalize({"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo\n"}]})
    c, _ = normalize({"instruction": "Hi", "output": "Yo"})
    assert conversation_id(a) == conversation_id(b) == conversation_id(c)
    assert len(conversation_id(a)) == 32
    d, _ = normalize({"instruction": "Hi", "output": "Yo!"})
    assert conversation_id(d) != conversation_id(a)


def test_id_is_a_pure_function_of_content():
    """Pinned value: the id must not change between releases or machines."""
    msgs = [{"role": "user", "content": "ping"}, {"role": "assistant", "content": "pong"}]
    assert conversation_id(msgs) == conversation_id([dict(m) for m in msgs])
    assert conversation_id(msgs) == _PINNED


_PINNED = "80c502af1d2332887c5b454f7cf6994e"  # blake2b-128 of the canonical JSON; never change


@pytest.mark.parametrize("record,reason", [
    ({"conversations": []}, "empty_conversation"),
    ({"conversations": [{"from": "human", "value": "q"}]}, "no_assistant_turn"),
    ({"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "  "}]}, "empty_turn"),
    ({"conversations": [{"from": "alien", "value": "q"}, {"from": "gpt", "value": "a"}]}, "unknown_role"),
    ({"conversations": [{"from": "human", "value": 3}, {"from": "gpt", "value": "a"}]}, "non_string_content"),
    ({"conversations": "hello"}, "bad_structure"),
    ({"conversations": [{"speaker": "human"}]}, "bad_structure"),
    ({"text": "no conversation here"}, "missing_column"),
    ({"instruction": "x"}, "missing_column"),
    ({"messages": [{"role": "wizard", "content": "x"}]}, "unknown_role"),
    (["not", "a", "dict"], "bad_structure"),
])
def test_invalid_records_name_their_reason(record, reason):
    with pytest.raises(InvalidRecord) as e:
        normalize(record)
    assert e.value.reason == reason


def test_text_views():
    messages, _ = normalize(SHAREGPT)
    assert instruction_text(messages) == "Be brief.\nHi"
    assert response_text(messages) == "Hello!"
