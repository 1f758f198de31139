"""A fake teacher for reasoning tests: each (problem, trace) gets a trace of a known kind.

Problem ``p`` is "Problem p: Ann has a marbles and gets b more..."; its trace ``t`` is of kind
``KINDS[(2 * p + t) % 8]``. Expected counts are derived from this table, not from the code under
test.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import orjson

from teachkit.testing import FakeCall

KINDS = ("correct", "plain", "wrong", "length", "unclosed", "loop", "mixed", "no_answer")
#: what each kind's trace becomes: (outcome, flags, verified answer passes or None: not checked)
EXPECTED: dict[str, tuple[str, tuple[str, ...], bool | None]] = {
    "correct": ("passed", (), True),
    "plain": ("passed", (), True),
    "wrong": ("wrong_answer", (), False),
    "length": ("truncated", ("truncated",), None),
    "unclosed": ("truncated", ("truncated",), None),
    "loop": ("repetition", ("repetition",), True),
    "mixed": ("mixed_language", ("mixed_language",), True),
    "no_answer": ("no_answer", ("no_answer",), None),
}
MAX_TOKENS = 150
_PROBLEM = re.compile(r"Problem (\d+): Ann has (\d+) marbles and gets (\d+) more")


def problem_text(p: int) -> str:
    return f"Problem {p}: Ann has {p + 2} marbles and gets {3 * p + 1} more. How many now?"


def write_problems(path: Path, count: int) -> Path:
    rows = [
        {
            "question": problem_text(p),
            "answer": f"{p + 2} + {3 * p + 1} = {4 * p + 3}\n#### {4 * p + 3}",
        }
        for p in range(count)
    ]
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    return path


def kind(p: int, t: int) -> str:
    return KINDS[(2 * p + t) % len(KINDS)]


def trace(kind_name: str, a: int, b: int) -> str:
    n = a + b
    if kind_name == "correct":
        reasoning = f"Ann starts with {a} and gets {b}, so {a} + {b} = {n}."
        return f"<think>\n{reasoning}\n</think>\n\nAnn has \\boxed{{{n}}} marbles."
    if kind_name == "plain":
        return (
            f"Ann starts with {a} marbles.\nShe gets {b} more: {a} + {b} = {n}.\nFinal answer: {n}"
        )
    if kind_name == "wrong":
        return f"<think>\n{a} + {b} is {n + 1}.\n</think>\n\n\\boxed{{{n + 1}}}"
    if kind_name == "length":
        return "<think>\n" + " ".join(f"step{i}" for i in range(2 * MAX_TOKENS))
    if kind_name == "unclosed":
        return f"<think>\nLet me count {a} and then {b}"
    if kind_name == "loop":
        return "<think>\n" + "Wait, let me check again. " * 12 + f"\n</think>\n\\boxed{{{n}}}"
    if kind_name == "mixed":
        return f"<think>\n{a} + {b} = {n}，因此答案是 {n}。\n</think>\n\n\\boxed{{{n}}}"
    return f"<think>\n{a} + {b} = {n}.\n</think>\n"


class ReasoningTeacher:
    """The fake server's script: traces by kind; counts the draws of each problem."""

    def __init__(self, judge_score: Any = None) -> None:
        self.draws: Counter[int] = Counter()
        self.judge_prompts: list[str] = []
        self.judge_score = judge_score or (lambda solution: 8)

    def __call__(self, call: FakeCall) -> str | None:
        if "Solution 1:" in call.prompt:
            self.judge_prompts.append(call.prompt)
            solutions = re.split(r"\n\nSolution \d+:\n", call.prompt)[1:]
            grades = [
                {"score": self.judge_score(s.split("\n\n")[0]), "reason": "checked"}
                for s in solutions
            ]
            return orjson.dumps({"grades": grades}).decode()
        found = _PROBLEM.search(call.prompt)
        if found is None:
            return None
        p, a, b = (int(g) for g in found.groups())
        n = int(call.body.get("n") or 1)
        if n > 1:  # native n: the choice index is the trace
            t = call.index
        else:  # one request per trace, sent one after the other
            t = self.draws[p]
            self.draws[p] += 1
        return trace(kind(p, t), a, b)


def expected_counts(problems: int, traces: int) -> dict[str, Counter[str]]:
    outcomes: Counter[str] = Counter()
    flags: Counter[str] = Counter()
    verdicts: Counter[str] = Counter()
    for p in range(problems):
        for t in range(traces):
            outcome, raised, verified = EXPECTED[kind(p, t)]
            outcomes[outcome] += 1
            flags.update(raised)
            if verified is not None:
                verdicts["passed" if verified else "wrong_answer"] += 1
    return {"outcomes": outcomes, "flags": flags, "verdicts": verdicts}


def expected_pass_rate(p: int, traces: int) -> float:
    return sum(EXPECTED[kind(p, t)][0] == "passed" for t in range(traces)) / traces
