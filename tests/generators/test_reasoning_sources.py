"""Reasoning over code problems (prompt + tests + entry point, HumanEval-style) and over problems
the teacher writes itself."""

from __future__ import annotations

import ast
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar, Literal

import orjson
import pytest
import yaml

from teachkit.engine import read_accepted, run_async
from teachkit.recipe.kinds import VERIFIERS
from teachkit.recipe.load import load_recipe
from teachkit.records import Record
from teachkit.rundir.store import read_rejected
from teachkit.testing import FakeCall, FakeServer
from teachkit.verifiers.base import Verdict, Verifier, VerifierContext, VerifierSpecBase

REFERENCE = {"add": "return a + b", "mul": "return a * b"}
_FENCE = re.compile(r"```python\n(.*?)```", re.S)


def extract_code(text: str) -> str:
    blocks = _FENCE.findall(text)
    return str(blocks[-1]) if blocks else ""


class ReferenceCodeSpec(VerifierSpecBase):
    """A tiny in-process stand-in for the sandboxed python verifier: it never runs code, it
    parses it and compares the function's return statement with a known solution."""

    kind: Literal["refcode"] = "refcode"

    def build(self, ctx: VerifierContext) -> Verifier:
        return ReferenceCode()


class ReferenceCode(Verifier):
    kind: ClassVar[str] = "refcode"
    seen: ClassVar[list[dict[str, Any]]] = []

    async def verify(self, record: Record) -> Verdict:
        code = extract_code(record.assistant)
        entry, tests = record.meta.get("entry_point"), record.meta.get("tests")
        ReferenceCode.seen.append({"entry_point": entry, "tests": tests, "code": code})
        if not tests:
            return Verdict(False, "no_tests")
        try:
            tree = ast.parse(code)
        except SyntaxError:
            return Verdict(False, "syntax_error")
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and node.name == entry:
                body = ast.unparse(node.body[-1])
                ok = body == REFERENCE[str(entry)]
                return Verdict(ok, "passed" if ok else "assertion_failed", body)
        return Verdict(False, "error", f"no function {entry}")


@pytest.fixture
def refcode() -> Iterator[type[ReferenceCode]]:
    VERIFIERS.register("refcode", ReferenceCodeSpec)
    ReferenceCode.seen = []
    yield ReferenceCode
    VERIFIERS.unregister("refcode")


def code_answer(call: FakeCall) -> str:
    name = "add" if "def add" in call.prompt else "mul"
    op = "+" if name == "add" else "*"
    if call.index == 0:
        return (
            f"<think>\nThe function combines a and b with {op}.\n</think>\n\n"
            f"```python\ndef {name}(a, b):\n    return a {op} b\n```"
        )
    if call.index == 1:  # no think tags: the last code block is the answer
        return (
            f"A first try:\n```python\ndef {name}(a, b):\n    return a - b\n```\n"
            f"That is wrong, use {op}:\n```python\ndef {name}(a, b):\n    return a {op} b\n```"
        )
    return f"<think>\nEasy.\n</think>\n\n```python\ndef {name}(a, b):\n    return a - b\n```"


async def test_code_problems_are_checked_against_their_tests(
    tmp_path: Path, refcode: type[ReferenceCode]
) -> None:
    rows = [
        {"task_id": f"T/{i}", "prompt": f'def {n}(a, b):\n    """{n} two numbers."""\n',
         "test": f"def check(candidate):\n    assert candidate(2, 3) == {v}\n", "entry_point": n}
        for i, (n, v) in enumerate([("add", 5), ("mul", 6)])
    ]  # fmt: skip
    (tmp_path / "code.jsonl").write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    async with FakeServer(code_answer) as server:
        data = {
            "name": "reasoning-code",
            "teacher": {"backend": "openai", "model": "fake", "base_url": server.base_url},
            "generator": {
                "kind": "reasoning",
                "count": 100,
                "traces": 3,
                "problems": {"file": "code.jsonl", "preset": "humaneval"},
                "verifier": {"kind": "refcode"},
            },
        }
        (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(data))
        summary = await run_async(load_recipe(tmp_path / "recipe.yaml"), out=tmp_path / "run")
        sent = [b["messages"][-1]["content"] for b in server.bodies]
    assert all("```python" in prompt and "def " in prompt for prompt in sent)  # the code prompt
    accepted = list(read_accepted(tmp_path / "run"))
    rejected = list(read_rejected(tmp_path / "run"))
    assert len(accepted) == 4 and Counter(r.reason for r in rejected) == {"assertion_failed": 2}
    assert {r.meta["problem_id"] for r in accepted} == {"T/0", "T/1"}
    assert all(
        r.meta["difficulty"]["pass_rate"] == pytest.approx(2 / 3, abs=1e-4) for r in accepted
    )
    tagless = [r for r in accepted if r.meta["structure"] == "marker"]
    assert len(tagless) == 2
    assert all("A first try" in (r.reasoning or "") and "- b" not in r.assistant for r in tagless)
    assert len(refcode.seen) == 6
    assert all(
        s["tests"].startswith("def check") and s["entry_point"] in REFERENCE for s in refcode.seen
    )
    assert summary.manifest["generator"]["verdicts"] == {"passed": 4, "assertion_failed": 2}


def writer_answer(call: FakeCall) -> str | None:
    if "Reply with a single JSON object" in call.prompt:
        topic = re.search(r"about (\w+)", call.prompt)
        assert topic is not None
        if topic[1] == "coins" and "retry-seen" not in writer_answer.__dict__:
            writer_answer.__dict__["retry-seen"] = True
            return "Sorry, I cannot write JSON today."
        count = {"marbles": 3, "apples": 5, "coins": 7}[topic[1]]
        return orjson.dumps(
            {"problem": f"Sam has {count} {topic[1]} and doubles them. How many?",
             "answer": str(2 * count)}
        ).decode()  # fmt: skip
    found = re.search(r"Sam has (\d+) \w+", call.prompt)
    if found is None:
        return None
    n = 2 * int(found[1])
    right = n if call.index % 2 == 0 else n + 1
    return f"<think>\nDoubling gives {right}.\n</think>\n\\boxed{{{right}}}"


async def test_the_teacher_writes_the_problems_over_axes(tmp_path: Path) -> None:
    writer_answer.__dict__.pop("retry-seen", None)
    async with FakeServer(writer_answer) as server:
        data = {
            "name": "reasoning-written",
            "teacher": {"backend": "openai", "model": "fake", "base_url": server.base_url,
                        "options": {"json_mode": "off"}},
            "generator": {
                "kind": "reasoning",
                "count": 100,
                "traces": 2,
                "problems": {"generate": {
                    "prompt": "Write a word problem about {{ topic }}.",
                    "axes": {"topic": ["marbles", "apples", "coins"]},
                    "count": 3,
                }},
            },
        }  # fmt: skip
        (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(data))
        summary = await run_async(load_recipe(tmp_path / "recipe.yaml"), out=tmp_path / "run")
    assert summary.status == "exhausted", summary.message  # three problems, as asked
    accepted = list(read_accepted(tmp_path / "run"))
    rejected = list(read_rejected(tmp_path / "run"))
    assert len(accepted) == 3
    assert {r.meta["axes"]["topic"] for r in accepted} == {"marbles", "apples", "coins"}
    assert all(r.meta["answer"] == str(2 * int(r.user.split()[2])) for r in accepted)
    reasons = Counter((r.filter, r.reason) for r in rejected)
    assert reasons == {("reasoning", "wrong_answer"): 3, ("structured_output", "no_json"): 1}
    stats = summary.manifest["generator"]
    assert stats["problem_writing"] == {"written": 3, "no_json": 1}
    assert stats["axes"]["axes"]["topic"]["seen"] == 3


def sandboxed_answer(call: FakeCall) -> str:
    """Trace i of a problem: a right solution, a wrong one, one that never ends, and a right one
    without think tags."""
    name = "add" if "def add" in call.prompt else "mul"
    op = "+" if name == "add" else "*"
    body = [f"return a {op} b", "return a - b", "while True:\n        pass"]
    if call.index == 3:
        return (
            f"First I check the signature.\n```python\ndef {name}(a, b):\n    return a {op} b\n```"
        )
    return (
        f"<think>\nCombine a and b.\n</think>\n\n"
        f"```python\ndef {name}(a, b):\n    {body[call.index]}\n```"
    )


@pytest.mark.slow
async def test_code_problems_through_the_sandboxed_python_verifier(tmp_path: Path) -> None:
    rows = [
        {"task_id": f"T/{i}", "prompt": f'def {n}(a, b):\n    """{n} two numbers."""\n',
         "test": f"def check(candidate):\n    assert candidate(2, 3) == {v}\n", "entry_point": n}
        for i, (n, v) in enumerate([("add", 5), ("mul", 6)])
    ]  # fmt: skip
    (tmp_path / "code.jsonl").write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    async with FakeServer(sandboxed_answer) as server:
        data = {
            "name": "reasoning-python",
            "teacher": {"backend": "openai", "model": "fake", "base_url": server.base_url},
            "generator": {
                "kind": "reasoning",
                "count": 100,
                "traces": 4,
                "problems": {"file": "code.jsonl", "preset": "humaneval"},
                "verifier": {"kind": "python", "timeout": 3, "workers": 2},
            },
        }
        (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(data))
        summary = await run_async(load_recipe(tmp_path / "recipe.yaml"), out=tmp_path / "run")
    accepted = list(read_accepted(tmp_path / "run"))
    rejected = list(read_rejected(tmp_path / "run"))
    assert sorted(r.meta["trace_index"] for r in accepted) == [0, 0, 3, 3]
    assert Counter(r.reason for r in rejected) == {"assertion_failed": 2, "timeout": 2}
    assert all(r.meta["verdicts"]["python"]["passed"] for r in accepted)
    assert all(r.meta["difficulty"]["pass_rate"] == 0.5 for r in accepted)
    assert summary.manifest["generator"]["verdicts"] == {
        "passed": 4, "assertion_failed": 2, "timeout": 2,
    }  # fmt: skip
    assert summary.manifest["generator"]["verifier"]["kind"] == "python"
