"""The math verifier: answer extraction, Math-Verify comparisons, threads, the hard timeout."""

from __future__ import annotations

import asyncio
import os
import re
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from teachkit.errors import MissingExtraError, RecipeError
from teachkit.recipe.load import parse_recipe
from teachkit.records import Record
from teachkit.verifiers.base import Verdict, VerifierContext
from teachkit.verifiers.math import (
    MathSpec,
    MathVerifier,
    compare_answers,
    extract_answer,
    find_boxed,
)

CTX = VerifierContext(base_dir=Path("."))


def record(answer: str, reference: Any = None, **meta: Any) -> Record:
    if reference is not None:
        meta["answer"] = reference
    messages = [
        {"role": "user", "content": "Solve the problem."},
        {"role": "assistant", "content": answer},
    ]
    return Record(messages, meta=meta)


@pytest.fixture(scope="module")
def verifier() -> Iterator[MathVerifier]:
    v = MathSpec(timeout=30).build(CTX)
    asyncio.run(v.start())
    yield v
    asyncio.run(v.aclose())


def same(verdict: Verdict) -> dict[str, Any]:
    """A verdict without its duration (which differs from run to run)."""
    out = verdict.to_dict()
    out.pop("duration")
    return out


# --- extraction ---------------------------------------------------------------------------------
def test_boxed_handles_nested_and_escaped_braces() -> None:
    assert find_boxed(r"so \boxed{\frac{1}{\sqrt{2}}} done") == r"\frac{1}{\sqrt{2}}"
    assert find_boxed(r"\boxed{\{1,2\}}") == r"\{1,2\}"
    assert find_boxed(r"\boxed{\left[1,2\right)}") == r"\left[1,2\right)"
    assert find_boxed(r"\fbox{7}") == "7"
    assert find_boxed(r"\boxed 5 is it") == "5"
    assert find_boxed(r"\boxed{unclosed {") is None
    assert find_boxed("no box here") is None


def test_the_last_box_counts_unless_told_otherwise() -> None:
    text = r"First try \boxed{3}, wrong. Then \boxed{\frac{7}{2}}."
    assert find_boxed(text) == r"\frac{7}{2}"
    assert find_boxed(text, "first") == "3"
    assert extract_answer(text, box="first") == ("3", "boxed")
    assert extract_answer(r"\boxed{\boxed{4}}") == ("4", "boxed")


def test_gsm8k_hashes_and_answer_is() -> None:
    gsm8k = "Natalia sold 48/2 = 24 clips in May.\nShe sold 48+24 = 72 clips.\n#### 72"
    assert extract_answer(gsm8k) == ("72", "hashes")
    assert extract_answer("work\n#### 1,000\n") == ("1,000", "hashes")
    assert extract_answer("50 + 15 + 30 = 95. #### 5") == ("5", "hashes")
    assert extract_answer("So the final answer is $\\frac{3}{4}$.") == (
        "$\\frac{3}{4}$",
        "answer_is",
    )
    assert extract_answer("**Answer:** 42") == ("42", "answer_is")
    assert extract_answer("The answer is 3.5.") == ("3.5", "answer_is")
    # a box wins over the other forms, by the default order
    assert extract_answer("The answer is 2. \\boxed{3}") == ("3", "boxed")
    assert extract_answer("The answer is 2. \\boxed{3}", extract=["answer_is", "boxed"]) == (
        "2. \\boxed{3}",
        "answer_is",
    )


def test_patterns_come_first_in_order_and_last_number_is_off_by_default() -> None:
    text = "Result: 12 apples. ANSWER=13. Later 14 and 15."
    first = re.compile(r"ANSWER=(?P<answer>\d+)")
    second = re.compile(r"Result: (\d+)")
    assert extract_answer(text, patterns=[first, second]) == ("13", "pattern:0")
    assert extract_answer(text, patterns=[second, first]) == ("12", "pattern:0")
    assert extract_answer(text, patterns=[re.compile("nothing"), second]) == ("12", "pattern:1")
    assert extract_answer("It comes to 14 and then 15") is None
    assert extract_answer("It comes to 14 and then 15", last_number=True) == ("15", "last_number")
    assert extract_answer("It comes to 1,250", last_number=True) == ("1,250", "last_number")


# --- comparisons with the real Math-Verify ------------------------------------------------------
CASES = [
    # fractions and decimals
    (r"So $x = \boxed{\frac{1}{2}}$.", "0.5", "passed"),
    (r"\boxed{0.5}", r"\frac{1}{2}", "passed"),
    (r"\boxed{\dfrac{\sqrt{2}}{2}}", r"\frac{1}{\sqrt{2}}", "passed"),
    (r"\boxed{0.33}", r"\frac{1}{3}", "wrong_answer"),
    # percentages: Math-Verify accepts 50% as 0.5 and as 50
    (r"\boxed{50\%}", "0.5", "passed"),
    (r"\boxed{50\%}", "50", "passed"),
    (r"\boxed{40\%}", "0.5", "wrong_answer"),
    # intervals: open and closed ends matter
    (r"\boxed{[1,2)}", "[1,2)", "passed"),
    (r"\boxed{(1,2)}", "[1,2)", "wrong_answer"),
    (r"\boxed{[1,2]}", "[1,2)", "wrong_answer"),
    (r"\boxed{(-\infty, 3]}", r"(-\infty,3]", "passed"),
    # sets: order does not matter, members do
    (r"\boxed{\{2,1\}}", r"\{1,2\}", "passed"),
    (r"\boxed{\{1,3\}}", r"\{1,2\}", "wrong_answer"),
    # units are dropped
    (r"\boxed{3\text{ cm}}", "3", "passed"),
    (r"\boxed{4\text{ cm}}", "3", "wrong_answer"),
    # expressions are compared symbolically
    (r"\boxed{x^2+2x+1}", "(x+1)^2", "passed"),
    (r"\boxed{x^2+1}", "(x+1)^2", "wrong_answer"),
    # GSM8K and prose answers
    ("She has 500 + 500 = 1000 beads.\n#### 1,000", "1000", "passed"),
    ("#### 999", "1000", "wrong_answer"),
    ("The answer is 18 dollars.", "18", "passed"),
    ("The answer is $18.", "18", "passed"),
]


@pytest.mark.parametrize(("answer", "reference", "reason"), CASES)
async def test_math_verify_cases(
    verifier: MathVerifier, answer: str, reference: str, reason: str
) -> None:
    verdict = await verifier.verify(record(answer, reference))
    assert verdict.reason == reason, verdict.detail
    assert verdict.passed is (reason == "passed")
    assert verdict.score == (1.0 if verdict.passed else 0.0)
    assert verdict.data["reference"] == reference
    assert verdict.data["answer"] in verdict.detail or len(verdict.detail) == 500


async def test_a_numeric_reference_in_meta(verifier: MathVerifier) -> None:
    assert (await verifier.verify(record("#### 72", 72))).passed
    assert (await verifier.verify(record(r"\boxed{0.25}", 0.25))).passed
    assert not (await verifier.verify(record(r"\boxed{0.26}", 0.25))).passed


async def test_missing_answer_or_reference(verifier: MathVerifier) -> None:
    none = await verifier.verify(record("I am not sure how to do this.", "4"))
    assert (none.passed, none.reason) == (False, "no_answer")
    assert none.data == {"reference": "4"}
    missing = await verifier.verify(record(r"\boxed{4}"))
    assert (missing.passed, missing.reason) == (False, "no_reference")


async def test_fields_and_a_worked_reference_are_configurable() -> None:
    spec = MathSpec(
        answer_field="meta.attempt",
        reference_field="meta.solution",
        extract_reference=True,
        workers=1,
    )
    v = spec.build(CTX)
    try:
        r = Record(
            [{"role": "user", "content": "q"}],
            meta={"attempt": "The answer is 0.75", "solution": r"so it is \boxed{\frac34}"},
        )
        verdict = await v.verify(r)
        assert verdict.passed, verdict.detail
        assert verdict.data["reference"] == r"\frac34"
    finally:
        await v.aclose()


# --- threads ------------------------------------------------------------------------------------
def test_compare_answers_is_the_same_off_the_main_thread() -> None:
    boxed = [(find_boxed(a), r, reason) for a, r, reason in CASES if find_boxed(a)]
    pairs = [(str(answer), reference) for answer, reference, _ in boxed]
    main = [compare_answers(answer, reference) for answer, reference in pairs]
    found: list[str] = []
    worker = threading.Thread(target=lambda: found.extend(compare_answers(a, r) for a, r in pairs))
    worker.start()
    worker.join()
    assert found == main
    assert main == [reason for _, _, reason in boxed]


def test_verdicts_are_the_same_from_a_loop_in_a_worker_thread(verifier: MathVerifier) -> None:
    records = [record(answer, reference) for answer, reference, _ in CASES]

    async def verify_all() -> list[dict[str, Any]]:
        return [same(v) for v in await asyncio.gather(*(verifier.verify(r) for r in records))]

    on_main = asyncio.run(verify_all())
    off_main: list[dict[str, Any]] = []
    worker = threading.Thread(target=lambda: off_main.extend(asyncio.run(verify_all())))
    worker.start()
    worker.join()
    assert off_main == on_main
    assert [v["reason"] for v in on_main] == [reason for _, _, reason in CASES]


# --- the hard timeout and the worker processes --------------------------------------------------
async def test_a_hostile_answer_times_out_and_the_pool_recovers() -> None:
    v = MathSpec(timeout=1, workers=1).build(CTX)
    await v.start()
    try:
        first = v._pool.workers[0].proc
        assert first is not None
        ticks = 0
        task = asyncio.ensure_future(v.verify(record(r"\boxed{9^{9^{9^{9}}}}", "3")))
        while not task.done():  # the loop keeps serving while the comparison runs elsewhere
            ticks += 1
            await asyncio.sleep(0.01)
        verdict = task.result()
        assert (verdict.passed, verdict.reason) == (False, "timeout")
        assert verdict.data["answer"] == "9^{9^{9^{9}}}"
        assert ticks > 0
        assert first.poll() is not None  # the stuck worker was killed
        again = await v.verify(record(r"\boxed{\frac{6}{4}}", "1.5"))
        assert again.passed, again.detail
    finally:
        await v.aclose()
    assert all(w.proc is None for w in v._pool.workers)


async def test_workers_get_no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-for-workers")
    v = MathSpec(workers=1).build(CTX)
    await v.start()
    try:
        assert (await v.verify(record(r"\boxed{2}", "2"))).passed
        proc = v._pool.workers[0].proc
        assert proc is not None
        environ = Path(f"/proc/{proc.pid}/environ").read_bytes()
        assert b"sk-test-not-for-workers" not in environ
        assert os.environ["OPENAI_API_KEY"] == "sk-test-not-for-workers"
    finally:
        await v.aclose()


# --- the spec -----------------------------------------------------------------------------------
def test_missing_extra_names_the_pip_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "math_verify", None)
    with pytest.raises(MissingExtraError) as caught:
        MathSpec().build(CTX)
    assert "pip install 'teachkit[math]'" in str(caught.value)
    assert caught.value.package == "math-verify"


def test_spec_in_a_recipe_is_checked() -> None:
    recipe = parse_recipe(
        {"filters": [{"kind": "verify", "verifier": {"kind": "math", "patterns": ["A: (\\d+)"]}}]}
    )
    spec = recipe.filters[0].verifier  # type: ignore[attr-defined]
    assert isinstance(spec, MathSpec) and spec.timeout == 5.0
    with pytest.raises(RecipeError, match=r"filters\[0\]\.verifier\.patterns: the pattern"):
        parse_recipe(
            {"filters": [{"kind": "verify", "verifier": {"kind": "math", "patterns": ["("]}}]}
        )
    with pytest.raises(RecipeError, match="extract"):
        parse_recipe(
            {"filters": [{"kind": "verify", "verifier": {"kind": "math", "extract": ["x"]}}]}
        )


async def test_closing_abandons_a_comparison_in_flight() -> None:
    v = MathSpec(timeout=300, workers=1).build(CTX)
    await v.start()
    task = asyncio.ensure_future(v.verify(record(r"\boxed{9^{9^{9^{9}}}}", "3")))
    while not v._pool.workers[0].ready:  # the comparison has reached the worker
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.2)
    await v.aclose()
    verdict = await task
    assert (verdict.passed, verdict.reason) == (False, "error")
    assert "closed" in verdict.detail
    assert v._pool.workers[0].proc is None
