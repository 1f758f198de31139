"""The reasoning generator's parts: splitting traces, flags, the script check, problem files,
the judge's grades."""

from __future__ import annotations

import re
from pathlib import Path

import orjson
import pytest

from teachkit.errors import DataError
from teachkit.generators.reasoning.judge import JudgeOptions, TraceJudge
from teachkit.generators.reasoning.language import dominant_script, mixed_language, script_of
from teachkit.generators.reasoning.problems import ProblemsFile, load_problems, reference_answer
from teachkit.generators.reasoning.traces import (
    CODE_MARKERS,
    MATH_MARKERS,
    Checks,
    parse_trace,
    trace_flags,
)

MATH = [re.compile(m) for m in MATH_MARKERS]
CODE = [re.compile(m) for m in CODE_MARKERS]


# --- splitting -------------------------------------------------------------------------------
def test_think_tags_split_reasoning_from_answer_and_are_not_kept() -> None:
    parsed = parse_trace("<think>\nAdd 3 and 4.\n</think>\n\nThe answer is \\boxed{7}.")
    assert (parsed.reasoning, parsed.answer, parsed.structure) == (
        "Add 3 and 4.",
        "The answer is \\boxed{7}.",
        "think",
    )
    assert parsed.closed


def test_a_trace_that_only_closes_the_tag_reasons_up_to_it() -> None:
    # DeepSeek-R1's chat template opens <think> in the prompt
    parsed = parse_trace("Add 3 and 4.\n</think>\n\\boxed{7}")
    assert (parsed.reasoning, parsed.answer) == ("Add 3 and 4.", "\\boxed{7}")


def test_an_unclosed_think_block_has_no_answer() -> None:
    parsed = parse_trace("<think>\nLet me think about this for a")
    assert not parsed.closed and parsed.answer == "" and parsed.reasoning.startswith("Let me")


def test_the_tag_is_configurable() -> None:
    parsed = parse_trace("<reasoning>R</reasoning>A", tag="reasoning")
    assert (parsed.reasoning, parsed.answer) == ("R", "A")
    assert parse_trace("<think>R</think>A", tag="reasoning", markers=MATH).structure == "none"


def test_without_tags_the_last_marker_line_starts_the_answer() -> None:
    text = "We have 3 apples.\nThe answer is not 6.\nThen 4 more makes 7.\nFinal answer: \\boxed{7}"
    parsed = parse_trace(text, markers=MATH)
    assert parsed.structure == "marker"
    assert parsed.answer == "Final answer: \\boxed{7}"
    assert parsed.reasoning.endswith("Then 4 more makes 7.")
    gsm = parse_trace("3 + 4 = 7 apples.\n#### 7", markers=MATH)
    assert (gsm.reasoning, gsm.answer) == ("3 + 4 = 7 apples.", "#### 7")


def test_code_answers_start_at_the_last_fence() -> None:
    text = (
        "I try a loop:\n```python\nx = 1\n```\nBetter:\n"
        "```python\ndef add(a, b):\n    return a + b\n```"
    )
    parsed = parse_trace(text, markers=CODE)
    assert parsed.answer.startswith("```python\ndef add")
    assert "I try a loop" in parsed.reasoning and "Better:" in parsed.reasoning


def test_no_marker_means_no_answer() -> None:
    parsed = parse_trace("I think it is seven or so.", markers=MATH)
    assert (parsed.structure, parsed.answer) == ("none", "")


# --- flags -----------------------------------------------------------------------------------
def flags(
    text: str, finish: str = "stop", problem: str = "How many apples?", **kw: object
) -> list[str]:
    return trace_flags(text, parse_trace(text, markers=MATH), finish, problem, Checks(**kw)).flags  # type: ignore[arg-type]


def test_flags_of_the_known_failures() -> None:
    good = "<think>\nAdd 3 and 4 to get 7.\n</think>\n\\boxed{7}"
    assert flags(good) == []
    assert flags(good, finish="length") == ["truncated"]
    assert flags("<think>\nAdd 3 and") == ["truncated"]
    loop = "<think>\n" + "Wait, let me check again. " * 20 + "\n</think>\n\\boxed{7}"
    assert flags(loop) == ["repetition"]
    assert flags("<think>\nAdd 3 and 4. 因此答案是七。\n</think>\n\\boxed{7}") == ["mixed_language"]
    assert flags("<think>\nAdd 3 and 4.\n</think>\n") == ["no_answer"]
    assert flags("<think></think>\\boxed{7}") == ["no_reasoning"]


def test_flags_can_be_switched_off() -> None:
    loop = "<think>\n" + "Wait, let me check again. " * 20 + "\n</think>\n"
    assert flags(loop) == ["repetition", "no_answer"]
    assert flags(loop, repetition=None, no_answer=False) == []
    assert flags("<think>x", finish="length", truncation=False) == ["no_answer"]


# --- the script check ------------------------------------------------------------------------
def test_scripts_of_letters() -> None:
    assert [script_of(c) for c in "aé因ж1 ℝ"] == [
        "latin",
        "latin",
        "cjk",
        "cyrillic",
        None,
        None,
        None,
    ]
    assert dominant_script("Сколько яблок у Тома?") == "cyrillic"
    assert dominant_script("12 + 7 = ?") == "latin"


def test_mixed_language_ignores_symbols_latin_and_the_problems_own_letters() -> None:
    problem = "What does the character 水 mean in a word problem about tanks?"
    assert mixed_language("Let θ be the angle, so πr² = 3.", problem) is None
    assert mixed_language("The character 水 means water.", problem) is None
    assert mixed_language("Сначала x = 3, затем y = x + 4.", "Найдите y, если x = 3.") is None
    found = mixed_language("So the tank holds 因此 40 litres.", problem)
    assert found is not None and found.found == {"cjk": 2} and found.sample == "因此"
    assert mixed_language("A Greek word λόγος appears.", problem) is not None
    assert mixed_language("So the tank holds 因 40 litres.", problem) is None  # below min_letters


# --- problem files ---------------------------------------------------------------------------
def write(path: Path, rows: list[object]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    return path


def test_reference_answers_from_worked_solutions() -> None:
    assert reference_answer("3 + 4 = 7\n#### 7", "auto") == "7"
    assert reference_answer("So it is $\\boxed{\\frac{1}{2}}$.", "auto") == "\\frac{1}{2}"
    assert reference_answer(" 42 ", "plain") == "42"
    assert reference_answer("no box here", "boxed") is None


def test_presets_and_explicit_fields(tmp_path: Path) -> None:
    write(tmp_path / "gsm.jsonl", [{"question": "Q1?", "answer": "1 + 1 = 2\n#### 2", "level": 1}])
    (problem,) = load_problems(ProblemsFile(file="gsm.jsonl", preset="gsm8k"), tmp_path)
    assert (problem.id, problem.text, problem.answer) == ("p000000", "Q1?", "2")
    assert problem.solution == "1 + 1 = 2\n#### 2" and problem.fields == {"level": 1}
    write(
        tmp_path / "he.jsonl",
        [
            {
                "task_id": "HE/0",
                "prompt": "def add(a, b):\n",
                "test": "def check(c):\n    assert c(1, 2) == 3\n",
                "entry_point": "add",
            }
        ],
    )
    (code,) = load_problems(ProblemsFile(file="he.jsonl", preset="humaneval"), tmp_path)
    assert (code.id, code.entry_point, code.answer) == ("HE/0", "add", None)
    assert code.tests and "check" in code.tests
    write(
        tmp_path / "own.jsonl", [{"q": "Q?", "a": 5, "key": "k1"}, {"q": "R?", "a": 6, "key": "k2"}]
    )
    spec = ProblemsFile(
        file="own.jsonl", problem_field="q", answer_field="a", id_field="key", limit=1
    )
    assert [(p.id, p.answer) for p in load_problems(spec, tmp_path)] == [("k1", "5")]


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([{"question": "Q?"}, "not an object"], "Line 2 .* not a JSON object"),
        ([{"text": "Q?"}], "no problem text"),
        ([{"question": "Q?", "answer": "no hashes"}], "no final answer"),
        (
            [
                {"question": "Q?", "answer": "#### 1", "id": "a"},
                {"question": "R?", "answer": "#### 2", "id": "a"},
            ],
            "repeats",
        ),
    ],
)
def test_bad_lines_name_the_file_and_line(tmp_path: Path, rows: list[object], message: str) -> None:
    write(tmp_path / "bad.jsonl", rows)
    spec = ProblemsFile(file="bad.jsonl", preset="gsm8k", id_field="id")
    with pytest.raises(DataError, match=message) as caught:
        load_problems(spec, tmp_path)
    assert caught.value.context["path"].endswith("bad.jsonl")


def test_a_missing_or_broken_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        load_problems(ProblemsFile(file="nope.jsonl"), tmp_path)
    (tmp_path / "broken.jsonl").write_text('{"problem": "Q?"}\n{oops\n')
    with pytest.raises(DataError, match="Line 2") as caught:
        load_problems(ProblemsFile(file="broken.jsonl"), tmp_path)
    assert caught.value.context["line"] == 2


# --- the judge's grades ----------------------------------------------------------------------
def test_judge_grades_are_read_in_order_and_checked() -> None:
    judge = TraceJudge(JudgeOptions(threshold=7), native_json=False)
    request = judge.request("What is 3+4?", "7", [("r1", "\\boxed{7}"), ("r2", "\\boxed{8}")])
    prompt = (request.messages or [])[-1]["content"]
    assert (
        "Solution 2:\n\\boxed{8}" in prompt and "exactly 2 grades" in prompt and "r1" not in prompt
    )
    answer = 'Here: {"grades": [{"score": 9, "reason": "right"}, {"score": 2, "reason": "wrong"}]}'
    assert judge.grades(answer, 2) == [
        {"passed": True, "score": 9, "reason": "right"},
        {"passed": False, "score": 2, "reason": "wrong"},
    ]
    assert judge.grades(answer, 3) is None  # not one grade per solution
    assert judge.grades('{"grades": [{"score": 11, "reason": ""}]}', 1) is None
    assert judge.grades("I think both are fine.", 2) is None
    shown = TraceJudge(JudgeOptions(show_reasoning=True), native_json=True)
    with_reasoning = shown.request("Q", None, [("step one", "\\boxed{7}")])
    assert "step one" in (with_reasoning.messages or [])[-1]["content"]
    assert with_reasoning.json_schema is not None and with_reasoning.options["temperature"] == 0.0
