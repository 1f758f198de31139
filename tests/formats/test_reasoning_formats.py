"""The reasoning row formats: the think template chosen at export, verified-only and mixed, the
OpenR1 layout of one row per problem, reading rows back."""

from __future__ import annotations

from typing import Any

import pytest

from teachkit.formats.base import RowError
from teachkit.formats.reasoning import (
    OPENR1,
    OPENR1_VERIFIED,
    REASONING,
    REASONING_CONTENT,
    REASONING_MIXED,
    split_think,
)
from teachkit.formats.rows import detect, row_format
from teachkit.records import Record

USER = "What is 3 + 4?"


def trace(index: int, answer: str, outcome: str, **meta: Any) -> Record:
    passed = outcome == "passed"
    return Record(
        messages=[{"role": "user", "content": USER}, {"role": "assistant", "content": answer}],
        reasoning=f"Add them, try {index}." if outcome != "no_reasoning" else None,
        meta={
            "source": "synthetic",
            "problem_id": "p1",
            "problem": USER,
            "answer": "7",
            "trace_index": index,
            "finish_reason": "length" if outcome == "truncated" else "stop",
            "flags": [] if outcome in ("passed", "wrong_answer") else [outcome],
            "passed": passed,
            "outcome": outcome,
            "verdicts": {"math": {"passed": passed or outcome == "repetition"}},
            "difficulty": {"pass_rate": 0.5, "label": "medium"},
            "group": "problem:p1",
            **meta,
        },
    )


TRACES = [
    trace(1, "\\boxed{8}", "wrong_answer"),
    trace(0, "So \\boxed{7}.", "passed"),
    trace(2, "\\boxed{7}", "repetition"),
    trace(3, "\\boxed{7}!", "passed"),
]


def test_the_formats_are_registered() -> None:
    for fmt in (REASONING, REASONING_MIXED, REASONING_CONTENT, OPENR1, OPENR1_VERIFIED):
        assert row_format(fmt.name) is fmt and fmt.writes


def test_reasoning_rows_put_the_trace_in_think_tags_and_skip_unverified_traces() -> None:
    assert REASONING.to_row(TRACES[1]) == {
        "messages": [
            {"role": "user", "content": USER},
            {
                "role": "assistant",
                "content": "<think>\nAdd them, try 0.\n</think>\n\nSo \\boxed{7}.",
            },
        ]
    }
    with pytest.raises(RowError, match=r"not verified \(outcome wrong_answer"):
        REASONING.to_row(TRACES[0])
    with pytest.raises(RowError, match="no reasoning"):
        REASONING.to_row(trace(5, "\\boxed{7}", "no_reasoning", passed=True))
    own = Record(
        messages=[{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}],
        reasoning="R",
    )
    assert REASONING.to_row(own)["messages"][-1]["content"] == "<think>\nR\n</think>\n\nA"


def test_mixed_rows_hold_every_trace_with_its_verdict() -> None:
    rows = [REASONING_MIXED.to_row(t) for t in TRACES]
    assert [(r["verified"], r["outcome"]) for r in rows] == [
        (False, "wrong_answer"), (True, "passed"), (False, "repetition"), (True, "passed"),
    ]  # fmt: skip


def test_reasoning_content_keeps_the_answer_alone_in_content() -> None:
    assert REASONING_CONTENT.to_row(TRACES[3])["messages"][-1] == {
        "role": "assistant",
        "content": "\\boxed{7}!",
        "reasoning_content": "Add them, try 3.",
    }


def test_rows_read_back_into_records_with_their_reasoning() -> None:
    for fmt in (REASONING, REASONING_CONTENT, REASONING_MIXED):
        row = fmt.to_row(TRACES[1])
        assert detect(row) is fmt
        (record,) = fmt.to_records(row)
        assert (record.reasoning, record.assistant) == ("Add them, try 0.", "So \\boxed{7}.")
    assert split_think("no tags") is None
    assert detect({"messages": [{"role": "assistant", "content": "plain"}]}) is row_format("chat")


def test_openr1_gathers_a_problem_into_one_row_in_trace_order() -> None:
    other = Record(
        messages=[{"role": "user", "content": "x"}, {"role": "assistant", "content": "y"}]
    )
    gathered = OPENR1.gather([*TRACES, other])
    assert len(gathered) == 2 and gathered[1] is other
    row = OPENR1.to_row(gathered[0])
    assert row["problem"] == USER and row["answer"] == "7" and row["uuid"] == "p1"
    assert row["generations"][0] == "<think>\nAdd them, try 0.\n</think>\n\nSo \\boxed{7}."
    assert row["finish_reasons"] == ["stop"] * 4
    assert row["verified"] == [True, False, False, True]
    assert row["correctness"] == [True, False, True, True]  # the verifier passed the loop
    assert row["outcomes"] == ["passed", "wrong_answer", "repetition", "passed"]
    assert row["flags"] == [[], [], ["repetition"], []]
    assert row["correctness_count"] == 2 and row["pass_rate"] == 0.5
    assert row["messages"][-1]["content"] == row["generations"][0]  # a verified generation
    assert gathered[0].meta["group"] == "problem:p1"
    with pytest.raises(RowError, match="gather"):
        OPENR1.to_row(TRACES[0])


def test_openr1_verified_keeps_only_verified_generations() -> None:
    (problem,) = OPENR1_VERIFIED.gather(TRACES)
    row = OPENR1_VERIFIED.to_row(problem)
    assert row["verified"] == [True, True] and len(row["generations"]) == 2
    assert row["correctness_count"] == 2
    (unsolved,) = OPENR1_VERIFIED.gather([TRACES[0], TRACES[2]])
    with pytest.raises(RowError, match="no verified generation"):
        OPENR1_VERIFIED.to_row(unsolved)


def test_a_judge_verdict_becomes_a_column() -> None:
    lenient = {"passed": True}
    judged = [
        trace(0, "\\boxed{7}", "passed", verdicts={"math": {"passed": True}, "judge": lenient}),
        trace(
            1, "\\boxed{8}", "wrong_answer", verdicts={"math": {"passed": False}, "judge": lenient}
        ),
    ]
    row = OPENR1.to_row(OPENR1.gather(judged)[0])
    assert row["correctness_judge"] == [True, True] and row["correctness"] == [True, False]
    assert "correctness_judge" not in OPENR1.to_row(OPENR1.gather(TRACES)[0])
