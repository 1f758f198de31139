"""The python verifier on real records, run in the real sandbox."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from teachkit.errors import SandboxError
from teachkit.records import Record
from teachkit.registry import Registry
from teachkit.sandbox import SandboxConfig
from teachkit.verifiers.base import VerifierContext
from teachkit.verifiers.python import PythonSpec, PythonVerifier, extract_code

SQUARE = "def square(x):\n    return x * x\n"


def record(answer: str, **meta: object) -> Record:
    return Record(
        messages=[
            {"role": "user", "content": "Write square(x)."},
            {"role": "assistant", "content": answer},
        ],
        meta=dict(meta),
    )


@pytest.fixture
async def verifier() -> AsyncIterator[PythonVerifier]:
    v = PythonSpec(timeout=5, workers=2).build(VerifierContext(base_dir=Path(".")))
    yield v
    await v.aclose()


def test_code_extraction() -> None:
    text = "First:\n```python\nfirst = 1\n```\nthen\n```\nsecond = 2\n```\nand ```js\nno\n```"
    assert extract_code(text) == "second = 2"
    assert extract_code(text, "first") == "first = 1"
    assert extract_code(text, "whole") == text
    assert extract_code("x = 1") == "x = 1"
    assert extract_code("x = 1", fallback_whole=False) == ""
    assert extract_code("```python\nunclosed = 1\n") == "unclosed = 1"


def test_registered_as_an_entry_point() -> None:
    spec_class = Registry("teachkit.verifiers", "verifier").get("python")
    assert spec_class is PythonSpec
    assert PythonSpec.model_validate({"kind": "python", "block": "first"}).block == "first"


async def test_asserts_give_a_score_and_name_the_failing_assert(verifier: PythonVerifier) -> None:
    tests = ["assert square(2) == 4", "assert square(3) == 9", "assert square(-1) == 1, 'sign'"]
    good = await verifier.verify(record(f"```python\n{SQUARE}```", tests=tests))
    assert good.passed and good.reason == "passed" and good.score == 1.0
    wrong = "def square(x):\n    return abs(x) * x\n"
    bad = await verifier.verify(record(f"```python\n{wrong}```", tests=tests))
    assert not bad.passed and bad.reason == "assertion_failed"
    assert bad.score == pytest.approx(2 / 3)
    assert "assert square(-1) == 1" in bad.detail and "sign" in bad.detail
    assert bad.data["tests"] == 3 and bad.data["passed"] == 2


async def test_humaneval_check_function_with_an_entry_point(verifier: PythonVerifier) -> None:
    check = "def check(candidate):\n    assert candidate(2) == 4\n    assert candidate(5) == 25\n"
    ok = await verifier.verify(record(SQUARE, tests=check, entry_point="square"))
    assert ok.passed and ok.score == 1.0
    off = await verifier.verify(
        record("def square(x):\n    return x * 2\n", tests=check, entry_point="square")
    )
    assert off.reason == "assertion_failed" and "assert candidate(5) == 25" in off.detail
    missing = await verifier.verify(record(SQUARE, tests=check))
    assert missing.reason == "no_tests" and "entry_point" in missing.detail


async def test_a_completion_after_a_prompt_field() -> None:
    spec = PythonSpec(prefix_field="meta.prompt", field="assistant", block="whole", workers=1)
    v = PythonVerifier(spec)
    try:
        verdict = await v.verify(
            record(
                "    return x * x\n", prompt="def square(x):\n", tests=["assert square(4) == 16"]
            )
        )
        assert verdict.passed
    finally:
        await v.aclose()


async def test_reasons(verifier: PythonVerifier) -> None:
    tests = ["assert square(2) == 4"]
    cases = {
        "no_code": record("", tests=tests),
        "no_tests": record(SQUARE),
        "syntax_error": record("def square(x) return x", tests=tests),
        "error": record("def square(x):\n    return undefined_name", tests=tests),
        "exited_early": record("import os\nos._exit(0)", tests=tests),
        "output_limit": record("print('x' * 10**6)", tests=tests),
    }
    for reason, rec in cases.items():
        verdict = await verifier.verify(rec)
        assert (verdict.passed, verdict.reason) == (False, reason), verdict
    error = await verifier.verify(cases["error"])
    assert "NameError" in error.detail


async def test_field_options_read_other_fields() -> None:
    spec = PythonSpec(
        field="meta.solution", tests_field="meta.checks.asserts", workers=1, block="first"
    )
    v = PythonVerifier(spec)
    try:
        rec = record("no code here", solution=SQUARE, checks={"asserts": ["assert square(3) == 9"]})
        assert (await v.verify(rec)).passed
    finally:
        await v.aclose()


async def test_a_weak_sandbox_is_refused_unless_the_recipe_allows_it() -> None:
    weak = SandboxConfig(isolation="none")
    refused = PythonVerifier(PythonSpec(workers=1), sandbox=weak)
    with pytest.raises(SandboxError, match="allow_weak_sandbox"):
        await refused.start()
    await refused.aclose()
    allowed = PythonVerifier(PythonSpec(workers=1), allow_weak=True, sandbox=weak)
    try:
        await allowed.start()
        assert allowed.describe()["sandbox"]["strong"] is False
    finally:
        await allowed.aclose()


async def test_describe_names_the_layers(verifier: PythonVerifier) -> None:
    await verifier.start()
    described = verifier.describe()
    assert described["kind"] == "python" and "layers" in described["sandbox"]


async def test_in_the_verify_filter_from_a_recipe_section() -> None:
    from teachkit.filters.base import KEEP, Drop, FilterContext
    from teachkit.filters.verify import VerifySpec

    ctx = FilterContext(base_dir=Path("."), seed=0, teacher_factory=lambda c, n: None)  # type: ignore[arg-type,return-value]
    section = {"kind": "verify", "verifier": {"kind": "python", "timeout": 5, "workers": 1}}
    flt = VerifySpec.model_validate(section).build(ctx)
    await flt.start()
    try:
        tests = ["assert square(3) == 9"]
        good = record(f"```python\n{SQUARE}```", tests=tests)
        assert await flt.check(good) is KEEP
        assert good.meta["verdicts"][flt.name]["reason"] == "passed"
        dropped = await flt.check(record("def square(x):\n    return 0", tests=tests))
        assert isinstance(dropped, Drop) and dropped.reason == "assertion_failed"
        assert flt.stats()["verifier"]["sandbox"]["strong"] in (True, False)
    finally:
        await flt.aclose()
