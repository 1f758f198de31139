"""``teachkit eval``: exact win/tie/loss bookkeeping with a scripted judge on the fake server,
the intervals, and an end-to-end run on the embedded model as student and judge."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

import teachkit
from teachkit.engine.eval import evaluate, evaluate_async
from teachkit.quality.eval import bootstrap_score, parse_winner, wilson
from teachkit.recipe.base import TeacherConfig
from teachkit.recipe.load import parse_recipe
from teachkit.testing import FakeCall, FakeServer

#: prompt number -> what the scripted judge does with it
PLAN = {0: "win", 1: "win", 2: "win", 3: "loss", 4: "loss", 5: "tie", 6: "first", 7: "garbled"}


def _write_real(path: Path) -> Path:
    rows = [
        {
            "messages": [
                {"role": "user", "content": f"Question {k}: what is {k} plus {k}?"},
                {"role": "assistant", "content": f"REFERENCE {k} says {2 * k}."},
            ],
            "meta": {"category": "even" if k % 2 == 0 else "odd"},
        }
        for k in PLAN
    ]
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    return path


def _recipe(real: Path) -> teachkit.Recipe:
    return parse_recipe(
        {
            "name": "evalme",
            "teacher": {"backend": "scripted"},
            "generator": {
                "kind": "templated",
                "count": 4,
                "axes": {"t": ["a", "b", "c", "d"]},
                "prompt": "Say something about {{ t }}.",
            },
            "export": {"format": "chat", "validation": str(real)},
            "quality": {"embeddings": False},
        },
        base_dir=real.parent,
    )


def _run(tmp_path: Path, real: Path) -> Path:
    summary = teachkit.run(_recipe(real), tmp_path / "run")
    assert summary.status == "complete"
    return tmp_path / "run"


def _fake(call: FakeCall) -> str:
    body = call.body
    if body.get("model") == "student-x":
        number = re.search(r"Question (\d+)", call.prompt)
        return f"STUDENT {number[1]} answer." if number else "STUDENT says something."
    number = re.search(r"Question (\d+)", call.prompt)
    fate = PLAN[int(number[1])] if number else "tie"
    first_is_student = (
        call.prompt.index("Answer A:")
        < call.prompt.find("STUDENT")
        < (call.prompt.index("Answer B:"))
    )
    if fate == "garbled":
        return "Both have merits, I cannot say."
    if fate == "first":
        return '{"winner": "A", "reason": "the first one"}'
    if fate == "tie":
        return '{"winner": "tie", "reason": "equal"}'
    student_wins = fate == "win"
    winner = "A" if first_is_student == student_wins else "B"
    return f'{{"winner": "{winner}", "reason": "scripted"}}'


def _wilson_by_roots(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """The interval as the roots of (p_hat - p)^2 = z^2 p (1 - p) / n, solved numerically."""
    p_hat = k / n
    a = 1 + z * z / n
    b = -(2 * p_hat + z * z / n)
    c = p_hat * p_hat
    roots = sorted(np.roots([a, b, c]).real)
    return float(roots[0]), float(roots[1])


async def test_scripted_judge_counts_exactly(tmp_path: Path, scripted: Any) -> None:
    real = _write_real(tmp_path / "real.jsonl")
    run = tmp_path / "run"
    assert (await teachkit.run_async(_recipe(real), run)).status == "complete"
    async with FakeServer(_fake) as server:
        student = TeacherConfig(backend="openai", model="student-x", base_url=server.base_url)
        judge = TeacherConfig(backend="openai", model="judge-y", base_url=server.base_url)
        result = await evaluate_async(run, student=student, judge=judge, limit=50, seed=0)
        again = await evaluate_async(run, student=student, judge=judge, limit=50, seed=0)
    side = result["sides"]["real"]
    assert side["source"].endswith("validation.jsonl")
    assert (side["prompts"], side["wins"], side["losses"], side["ties"]) == (8, 3, 2, 2)
    assert (side["disagreements"], side["unjudged"], side["judged"]) == (1, 1, 7)
    low, high = _wilson_by_roots(3, 7)
    assert side["rates"]["win"]["value"] == pytest.approx(3 / 7)
    assert side["rates"]["win"]["low"] == pytest.approx(low, abs=1e-9)
    assert side["rates"]["win"]["high"] == pytest.approx(high, abs=1e-9)
    assert side["score"]["value"] == pytest.approx((3 + 0.5 * 2) / 7)
    assert side["score"]["low"] <= side["score"]["value"] <= side["score"]["high"]
    assert side["by"]["category"]["even"]["wins"] == 2  # prompts 0 and 2
    assert side["by"]["category"]["odd"]["losses"] == 1  # prompt 3
    synthetic = result["sides"]["synthetic"]
    assert synthetic["source"].startswith("accepted records")
    assert synthetic["prompts"] == 4 and synthetic["ties"] == 4 and synthetic["wins"] == 0
    assert result["gap"] == pytest.approx(synthetic["score"]["value"] - side["score"]["value"])
    answers = [orjson.loads(x) for x in (run / "eval-answers.jsonl").read_bytes().splitlines()]
    assert len(answers) == 12
    first = next(a for a in answers if a["prompt"].startswith("Question 6"))
    assert (first["first"], first["second"], first["outcome"]) == ("student", "other", "tie")
    assert first["disagreement"] is True
    assert orjson.loads((run / "eval.json").read_bytes())["sides"]["real"]["wins"] == 3
    assert "Evaluation" in (run / "report.html").read_text()
    assert again["sides"] == result["sides"]
    # the second evaluation is answered from the run's request cache
    assert again["usage"]["student"]["requests"] == 0
    assert again["usage"]["student"]["cached"] == 12


def test_against_the_teacher_and_the_missing_real_file(tmp_path: Path, scripted: Any) -> None:
    loaded = parse_recipe(
        {
            "name": "noreal",
            "teacher": {"backend": "scripted"},
            "generator": {
                "kind": "templated",
                "count": 3,
                "axes": {"t": ["a", "b", "c"]},
                "prompt": "Say something about {{ t }}.",
            },
            "quality": {"embeddings": False},
        }
    )
    teachkit.run(loaded, tmp_path / "run")
    with pytest.raises(teachkit.errors.DataError, match="No real evaluation prompts"):
        evaluate(tmp_path / "run", student=TeacherConfig(backend="scripted"))
    real = _write_real(tmp_path / "real.jsonl")
    scripted.script = staticmethod(
        lambda r: (
            '{"winner": "tie"}'
            if "Answer A:" in (r.messages or [{}])[-1]["content"]
            else "same answer"
        )
    )
    result = evaluate(
        tmp_path / "run",
        student=TeacherConfig(backend="scripted"),
        eval_file=real,
        against="teacher",
        limit=3,
    )
    assert result["against"] == "teacher"
    assert result["sides"]["real"]["prompts"] == 3 and result["sides"]["real"]["ties"] == 3


@pytest.mark.parametrize(
    ("text", "winner"),
    [
        ('{"winner": "B", "reason": "x"}', "B"),
        ('```json\n{"winner": "tie"}\n```', "tie"),
        ("Winner: A", "A"),
        ("b", "B"),
        ("no idea", None),
        ('{"winner": "C"}', None),
    ],
)
def test_parse_winner(text: str, winner: str | None) -> None:
    assert parse_winner(text) == winner


def test_wilson_and_bootstrap_edges() -> None:
    assert wilson(0, 0)["value"] is None
    zero = wilson(0, 10)
    assert zero["low"] == 0.0 and 0 < zero["high"] < 0.35
    full = wilson(10, 10)
    assert full["high"] == pytest.approx(1.0) and full["low"] > 0.65
    points = [1.0] * 6 + [0.0] * 4
    a, b = bootstrap_score(points, seed=3), bootstrap_score(points, seed=3)
    assert a == b and a["low"] < 0.6 < a["high"]
    assert bootstrap_score([], seed=0)["value"] is None
    assert math.isclose(bootstrap_score([0.5, 0.5], seed=1)["low"], 0.5)


@pytest.mark.slow
def test_embedded_model_as_student_and_judge(tmp_path: Path, scripted: Any) -> None:
    pytest.importorskip("llama_cpp")
    real = _write_real(tmp_path / "real.jsonl")
    run = _run(tmp_path, real)
    local = TeacherConfig(backend="llamacpp", sampling={"max_tokens": 24})
    result = evaluate(run, student=local, judge=local, eval_file=real, limit=3, seed=1)
    for name in ("real", "synthetic"):
        side = result["sides"][name]
        assert side["prompts"] == 3
        assert side["wins"] + side["ties"] + side["losses"] + side["unjudged"] + side["failed"] == 3
        assert side["judged"] == side["wins"] + side["ties"] + side["losses"]
    assert result["student"]["backend"] == "llamacpp" and result["judge"] == result["student"]
    answers = [orjson.loads(x) for x in (run / "eval-answers.jsonl").read_bytes().splitlines()]
    assert len(answers) == 6 and all(a["answer"] for a in answers)
    # the same student and judge share one model: 1 answer + 2 verdicts per prompt
    assert result["usage"]["student"]["requests"] == 18
    again = evaluate(run, student=local, judge=local, eval_file=real, limit=3, seed=1)
    assert again["usage"]["student"]["requests"] == 0
    assert again["sides"] == result["sides"]
