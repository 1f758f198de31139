from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from teachkit.formats.alpaca import ALPACA
from teachkit.formats.chat import CHAT
from teachkit.formats.preference import PREFERENCE
from teachkit.formats.rows import RowError, to_row, validate_openai_chat
from teachkit.formats.self_instruct import SELF_INSTRUCT
from teachkit.formats.sharegpt import SHAREGPT
from teachkit.records import Record

# each row format is one object; these names keep the tests short
chat_row, alpaca_row, sharegpt_row = CHAT.to_row, ALPACA.to_row, SHAREGPT.to_row
preference_row = PREFERENCE.to_row
record_from_self_instruct = SELF_INSTRUCT.to_records


def record_from_chat(row: dict[str, Any]) -> Record:
    (record,) = CHAT.to_records(row)
    return record


def record_from_alpaca(row: dict[str, Any]) -> Record:
    (record,) = ALPACA.to_records(row)
    return record


def record_from_sharegpt(row: dict[str, Any]) -> Record:
    (record,) = SHAREGPT.to_records(row)
    return record


def record_from_preference(row: dict[str, Any]) -> Record:
    (record,) = PREFERENCE.to_records(row)
    return record


def _chat(*turns: tuple[str, str]) -> Record:
    return Record(messages=[{"role": role, "content": content} for role, content in turns])


VALID = {
    "messages": [{"role": "user", "content": "Hi?"}, {"role": "assistant", "content": "Hello."}]
}


def test_valid_row_has_no_problems() -> None:
    assert validate_openai_chat(VALID) == []


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        ({}, "no 'messages' list"),
        ({"messages": "hi"}, "no 'messages' list"),
        ({"messages": []}, "'messages' is empty"),
        ({"messages": [{"role": "user", "content": "a"}]}, "no assistant message"),
        ({"messages": [{"role": "tool", "content": "a"}, VALID["messages"][1]]}, "role 'tool'"),
        ({"messages": [{"role": "user", "content": 3}, VALID["messages"][1]]}, "not a string"),
        ({"messages": [VALID["messages"][0], {"role": "assistant", "content": " \n"}]}, "empty"),
        ({"messages": ["hi", VALID["messages"][1]]}, "not an object"),
    ],
)
def test_invalid_rows_are_named(row: dict[str, Any], problem: str) -> None:
    problems = validate_openai_chat(row)
    assert problems
    assert any(problem in p for p in problems), problems


_text = st.text(min_size=1, max_size=30).filter(str.strip)


@given(
    system=st.one_of(st.none(), _text),
    turns=st.lists(st.tuples(_text, _text), min_size=1, max_size=4),
)
def test_chat_rows_of_complete_chats_are_valid_and_round_trip(
    system: str | None, turns: list[tuple[str, str]]
) -> None:
    messages = [{"role": "system", "content": system}] if system else []
    for user, assistant in turns:
        messages += [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
    record = Record(messages=messages)
    row = chat_row(record)
    assert validate_openai_chat(row) == []
    assert set(row) == {"messages"}
    assert record_from_chat(row).id == record.id
    assert record_from_sharegpt(sharegpt_row(record)).id == record.id
    assert record_from_alpaca(alpaca_row(record)).id == record.id


def test_alpaca_row_shapes() -> None:
    record = _chat(("system", "Be brief."), ("user", "One?"), ("assistant", "1"))
    assert alpaca_row(record) == {
        "instruction": "One?",
        "input": "",
        "output": "1",
        "system": "Be brief.",
    }
    multi = _chat(("user", "A?"), ("assistant", "a"), ("user", "B?"), ("assistant", "b"))
    assert alpaca_row(multi) == {
        "instruction": "B?",
        "input": "",
        "output": "b",
        "history": [["A?", "a"]],
    }


@pytest.mark.parametrize(
    "turns",
    [
        [("user", "a"), ("user", "b"), ("assistant", "c")],
        [("assistant", "a")],
        [("user", "a"), ("assistant", "b"), ("user", "c")],
        [("user", "a"), ("assistant", "b"), ("system", "c"), ("user", "d"), ("assistant", "e")],
    ],
)
def test_alpaca_refuses_chats_without_its_shape(turns: list[tuple[str, str]]) -> None:
    with pytest.raises(RowError):
        alpaca_row(_chat(*turns))


def test_alpaca_input_joins_instruction_with_a_blank_line() -> None:
    record = record_from_alpaca(
        {"instruction": "Translate.", "input": "bonjour", "output": "hello"}
    )
    assert record.user == "Translate.\n\nbonjour"
    plain = record_from_alpaca({"instruction": "Say hi.", "input": "  ", "output": "hi"})
    assert plain.user == "Say hi."


def test_preference_row_is_trl_conversational() -> None:
    record = Record(
        messages=[{"role": "system", "content": "S"}, {"role": "user", "content": "Q"}],
        chosen="good",
        rejected="bad",
    )
    row = preference_row(record)
    assert row == {
        "prompt": [{"role": "system", "content": "S"}, {"role": "user", "content": "Q"}],
        "chosen": [{"role": "assistant", "content": "good"}],
        "rejected": [{"role": "assistant", "content": "bad"}],
    }
    assert record_from_preference(row).id == record.id
    # a chat row of a preference record ends with the chosen answer
    assert chat_row(record)["messages"][-1] == {"role": "assistant", "content": "good"}


def test_preference_row_drops_a_trailing_answer_from_the_prompt() -> None:
    record = Record(
        messages=[{"role": "user", "content": "Q"}, {"role": "assistant", "content": "good"}],
        chosen="good",
        rejected="bad",
    )
    assert preference_row(record)["prompt"] == [{"role": "user", "content": "Q"}]


def test_plain_text_preference_rows_are_read() -> None:
    record = record_from_preference({"prompt": "Q", "chosen": "a", "rejected": "b"})
    assert (record.user, record.chosen, record.rejected) == ("Q", "a", "b")


@pytest.mark.parametrize(
    "record",
    [
        _chat(("user", "Q"), ("assistant", "A")),
        Record(messages=[{"role": "user", "content": "Q"}], chosen="a", rejected=" "),
        Record(messages=[{"role": "system", "content": "S"}], chosen="a", rejected="b"),
    ],
)
def test_preference_row_refuses_records_without_a_pair(record: Record) -> None:
    with pytest.raises(RowError):
        preference_row(record)


def test_sharegpt_roles() -> None:
    record = _chat(("system", "S"), ("user", "Q"), ("assistant", "A"))
    assert sharegpt_row(record) == {
        "conversations": [
            {"from": "system", "value": "S"},
            {"from": "human", "value": "Q"},
            {"from": "gpt", "value": "A"},
        ]
    }
    with pytest.raises(RowError, match="'from'"):
        record_from_sharegpt({"conversations": [{"from": "robot", "value": "x"}]})


def test_self_instruct_instances_share_a_group() -> None:
    row = {
        "instruction": "Name the colour.",
        "instances": [{"input": "sky", "output": "blue"}, {"input": "", "output": "red"}],
    }
    first, second = record_from_self_instruct(row)
    assert first.user == "Name the colour.\n\nsky"
    assert second.user == "Name the colour."
    assert second.meta["group"] == first.id
    with pytest.raises(RowError, match="instances"):
        record_from_self_instruct({"instruction": "x", "instances": []})


def test_unknown_row_format() -> None:
    with pytest.raises(RowError, match="unknown row format"):
        to_row(_chat(("user", "Q"), ("assistant", "A")), "csv")
