"""The judge filter: scoring through a scripted teacher, parsing, failures, requests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import orjson
import pytest
from pydantic import ValidationError

import teachkit
from support import ScriptedBackend, last_text, transient
from teachkit.errors import CircuitOpenError, ConfigError, RequestRejectedError
from teachkit.filters.base import KEEP, Drop, FilterContext
from teachkit.filters.judge import (
    DEFAULT_RUBRIC,
    SCORE_SCHEMA,
    JudgeFilter,
    JudgeSpec,
    parse_score,
)
from teachkit.recipe.base import Sampling, TeacherConfig
from teachkit.recipe.load import parse_recipe
from teachkit.records import Record
from teachkit.teachers.backend import Capabilities, Request
from teachkit.teachers.registry import register_backend
from teachkit.teachers.teacher import Teacher

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "self-instruct"


class SchemaBackend(ScriptedBackend):
    """The scripted backend, claiming native structured output."""

    id = "scripted-schema"
    capabilities: ClassVar[Capabilities] = Capabilities(chat=True, json_schema=True)


register_backend(SchemaBackend)


def teacher(backend: str = "scripted", **config: Any) -> Teacher:
    return Teacher(TeacherConfig(backend=backend, max_retries=0, **config), name="judge")


def judge(spec: JudgeSpec | None = None, backend: str = "scripted") -> tuple[JudgeFilter, list]:
    asked: list[tuple[TeacherConfig | None, str]] = []
    own = teacher(backend)

    def factory(config: TeacherConfig | None, name: str) -> Teacher:
        asked.append((config, name))
        return own

    ctx = FilterContext(base_dir=Path("."), seed=0, teacher_factory=factory)
    return (spec or JudgeSpec()).build(ctx), asked


def real_records(count: int = 6) -> list[Record]:
    out = []
    for line in (DATA / "seed_tasks.jsonl").read_text(encoding="utf-8").splitlines()[:count]:
        task = json.loads(line)
        instance = task["instances"][0]
        user = task["instruction"] + ("\n\n" + instance["input"] if instance["input"] else "")
        out.append(
            Record(
                messages=[
                    {"role": "user", "content": user},
                    {"role": "assistant", "content": instance["output"]},
                ]
            )
        )
    return out


def score_by_length(request: Request) -> str:
    """A judge that likes long answers: score = 1 + answer words // 10 (capped at 10)."""
    answer = last_text(request).split("ASSISTANT: ", 1)[1].split("\n\nAnswer with JSON")[0]
    score = min(10, 1 + len(answer.split()) // 10)
    return json.dumps({"score": score, "reason": f"{len(answer.split())} words"})


# --- parsing ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ('{"score": 8, "reason": "clear"}', (8, "clear")),
        ('```json\n{"score": 3, "reason": "wrong"}\n```', (3, "wrong")),
        ('Sure! Here it is: {"score": "9", "reason": "great"} Hope it helps.', (9, "great")),
        ('{"score": 7.5, "reason": "ok"}', (7.5, "ok")),
        ("Score: 6\nReason: a bit short", (6, "a bit short")),
        ("**Score**: 4", (4, "")),
        ("I would rate this 8/10.", (8, "")),
        ('{"reason": "terse"} then score = 5', (5, "terse")),
    ],
)
def test_parse_score_reads_many_shapes(answer: str, expected: tuple[float, str]) -> None:
    assert parse_score(answer) == expected


@pytest.mark.parametrize(
    "answer", ['{"score": 11, "reason": "x"}', '{"score": 0}', "no number here", "", "{"]
)
def test_parse_score_rejects_missing_or_out_of_range(answer: str) -> None:
    assert parse_score(answer) is None


# --- decisions -------------------------------------------------------------------------------
async def test_threshold_keeps_or_drops_and_scores_go_to_meta(scripted: Any) -> None:
    scripted.script = staticmethod(score_by_length)
    f, asked = judge(JudgeSpec(threshold=3))
    assert asked == [(None, "judge")]  # no teacher of its own: the recipe's teacher
    for rec in real_records(12):
        verdict = await f.check(rec)
        words = len(rec.assistant.split())
        expected = min(10, 1 + words // 10)
        assert rec.meta["scores"]["judge"] == {"score": expected, "reason": f"{words} words"}
        if expected >= 3:
            assert verdict == KEEP
        else:
            assert isinstance(verdict, Drop) and verdict.reason == "low_score"
            assert verdict.detail["score"] == expected and verdict.detail["threshold"] == 3
    stats = f.stats()
    assert stats["kept"] + stats["low_score"] == 12 and 1 <= stats["mean_score"] <= 10


async def test_unparseable_answers_and_failures_drop_without_crashing(scripted: Any) -> None:
    rec = real_records(1)[0]
    scripted.script = staticmethod(lambda r: "I think it is quite good overall.")
    f, _ = judge()
    verdict = await f.check(rec)
    assert isinstance(verdict, Drop) and verdict.reason == "judge_unparseable"
    assert "quite good" in verdict.detail["answer"]
    scripted.script = staticmethod(lambda r: transient("overloaded"))
    g, _ = judge()
    failed = await g.check(rec)
    assert isinstance(failed, Drop) and failed.reason == "judge_failed"
    assert "overloaded" in failed.detail["error"]
    scripted.script = staticmethod(lambda r: RequestRejectedError("content filter", status=400))
    h, _ = judge()
    rejected = await h.check(rec)
    assert isinstance(rejected, Drop) and rejected.reason == "judge_failed"


@pytest.mark.parametrize("error", [ConfigError("no key"), CircuitOpenError("server down")])
async def test_a_broken_judge_stops_the_run(scripted: Any, error: Exception) -> None:
    scripted.script = staticmethod(lambda r: error)
    f, _ = judge()
    with pytest.raises(type(error)):
        await f.check(real_records(1)[0])


# --- the request -----------------------------------------------------------------------------
async def test_requests_are_deterministic_and_show_rubric_and_conversation(scripted: Any) -> None:
    scripted.script = staticmethod(lambda r: '{"score": 9, "reason": "fine"}')
    own = JudgeSpec(
        rubric="Only answers about bread deserve 10.",
        teacher=TeacherConfig(backend="scripted", sampling=Sampling(temperature=0.9, n=2)),
        max_tokens=64,
    )
    f, asked = judge(own)
    assert asked[0][0] is not None and asked[0][0].backend == "scripted"
    rec = real_records(2)[1]
    first, second = f.request(rec), f.request(rec)
    assert first.to_dict() == second.to_dict() and first.sample == 0
    assert first.options == {"temperature": 0.9, "max_tokens": 64}  # its own sampling, n=1
    prompt = first.messages[-1]["content"]  # type: ignore[index]
    assert "Only answers about bread deserve 10." in prompt
    assert rec.user in prompt and rec.assistant in prompt
    assert first.json_schema is None and '"score"' in prompt  # asked for in words
    default, _ = judge()
    assert default.request(rec).options == {"temperature": 0.0, "max_tokens": 256}
    assert DEFAULT_RUBRIC in default.request(rec).messages[-1]["content"]  # type: ignore[index]
    assert await f.check(rec) == KEEP
    assert len(scripted.calls) == 1


async def test_native_json_schema_when_the_backend_has_it(scripted: Any) -> None:
    scripted.script = staticmethod(lambda r: '{"score": 2, "reason": "thin"}')
    f, _ = judge(backend="scripted-schema")
    rec = real_records(1)[0]
    assert f.request(rec).json_schema == SCORE_SCHEMA
    verdict = await f.check(rec)
    assert isinstance(verdict, Drop) and rec.meta["scores"]["judge"]["score"] == 2


def test_template_is_checked_when_the_recipe_loads() -> None:
    spec = JudgeSpec(template="Rate {{ user }} -> {{ assistant }} by {{ rubric }}.", name="j2")
    f, _ = judge(spec)
    rec = real_records(1)[0]
    assert f.name == "j2" and f.request(rec).messages[-1]["content"].startswith("Rate ")  # type: ignore[index]
    with pytest.raises(ValidationError, match="answer_text"):
        JudgeSpec(template="{{ answer_text }}")
    with pytest.raises(ValidationError, match="does not parse"):
        JudgeSpec(template="{% if %}")
    with pytest.raises(ValidationError):
        JudgeSpec(threshold=11)


# --- the three filters in a real run -----------------------------------------------------------
def test_rules_dedup_and_judge_in_a_run(tmp_path: Path, scripted: Any) -> None:
    def script(request: Request) -> str:
        prompt = last_text(request)
        if prompt.startswith("You grade examples"):
            return (
                '{"score": 3, "reason": "too playful"}'
                if "fun tone" in prompt
                else ('{"score": 9, "reason": "clear"}')
            )
        topic, tone = prompt.split()[1], prompt.split()[4]
        if topic == "sun":
            return "As an AI, I cannot look at the sun."
        topic = "rain" if topic == "snow" else topic  # snow gets rain's answer: a duplicate
        return f"{topic.capitalize()} is weather: here is a {tone} explanation of {topic}."

    scripted.script = staticmethod(script)
    recipe = parse_recipe(
        {
            "name": "chain",
            "teacher": {"backend": "scripted", "max_concurrency": 2},
            "generator": {
                "kind": "templated",
                "count": 8,
                "axes": {"topic": ["rain", "snow", "wind", "sun"], "tone": ["plain", "fun"]},
                "prompt": "Explain {{ topic }} in a {{ tone }} tone.",
            },
            "run": {"max_requests": 16},
            "filters": [
                {"kind": "judge", "threshold": 5},
                {"kind": "dedup", "method": "exact", "field": "assistant"},
                {"kind": "rules", "min_words": 3},
            ],
        }
    )
    teachkit.run(recipe, tmp_path / "run")
    accepted = [
        orjson.loads(line)
        for f in sorted((tmp_path / "run" / "accepted").glob("*.jsonl"))
        for line in f.read_bytes().splitlines()
    ]
    rejected = [
        orjson.loads(line)
        for f in sorted((tmp_path / "run" / "rejected").glob("*.jsonl"))
        for line in f.read_bytes().splitlines()
    ]
    reasons = {(r["filter"], r["reason"]) for r in rejected}
    assert ("rules", "refusal") in reasons  # cheapest first: the refusal never reaches the judge
    assert ("judge", "low_score") in reasons
    prompts = sorted(r["messages"][0]["content"] for r in accepted)
    assert prompts[-1] == "Explain wind in a plain tone." and len(prompts) == 2
    assert prompts[0] in ("Explain rain in a plain tone.", "Explain snow in a plain tone.")
    duplicates = [r for r in rejected if r["reason"] == "exact_duplicate"]
    assert duplicates and {d["detail"]["duplicate_of"] for d in duplicates} <= {
        r["id"] for r in accepted
    } | {r["record"]["id"] for r in rejected}
    for r in accepted:
        assert r["meta"]["scores"]["judge"] == {"score": 9, "reason": "clear"}
        assert r["meta"]["group"] == r["id"]
