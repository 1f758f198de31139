"""The tags filter: Magpie's quality, difficulty and task-category labels from a teacher on the
fake server, asked with the answer's JSON schema, and records outside the kept labels dropped."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from teachkit.filters.base import KEEP, Drop, FilterContext
from teachkit.filters.tags import CATEGORIES, TagsSpec
from teachkit.recipe.base import TeacherConfig
from teachkit.records import Record
from teachkit.teachers.teacher import Teacher
from teachkit.testing import FakeCall, FakeServer


def answers(bodies: list[dict[str, Any]]) -> Any:
    def answer(call: FakeCall) -> str:
        bodies.append(call.body)
        query = call.prompt.split("```")[1]
        if "rate the quality" in call.prompt.lower():
            label = "poor" if "vague" in query else "excellent"
            return json.dumps({"explanation": "Clear.", "input_quality": label})
        if "how difficult" in call.prompt:
            return (
                '```json\n{"intent": "The user wants to know", "knowledge": "physics", '
                '"difficulty": "Hard"}\n```'
            )  # fenced, and the label in another case
        if "garbled" in query:
            return "I think it is about coding."
        return json.dumps({"primary_tag": "Reasoning", "other_tags": ["Math"]})

    return answer


def build(server: FakeServer, **spec: Any) -> Any:
    config = TeacherConfig(backend="openai", model="fake", base_url=server.base_url, max_retries=0)
    shared = Teacher(config, name="tags")
    ctx = FilterContext(base_dir=Path("."), seed=0, teacher_factory=lambda c, n: shared)
    return TagsSpec(**spec).build(ctx)


def record(user: str) -> Record:
    return Record([{"role": "user", "content": user}, {"role": "assistant", "content": "ok"}])


async def test_labels_are_recorded_and_the_keep_lists_drop() -> None:
    bodies: list[dict[str, Any]] = []
    async with FakeServer(answers(bodies)) as server:
        tags = build(server, keep={"quality": ["good", "excellent"]})
        good = record("Why does ice float on water?")
        assert await tags.check(good) == KEEP
        vague = record("vague thing?")
        verdict = await tags.check(vague)
        garbled = record("garbled request")
        broken = await tags.check(garbled)
    assert good.meta["tags"] == {
        "quality": "excellent",
        "quality_explanation": "Clear.",
        "difficulty": "hard",
        "intent": "The user wants to know",
        "knowledge": "physics",
        "task_category": "Reasoning",
        "other_task_categories": ["Math"],
    }
    assert verdict == Drop("quality:poor", {"tag": "quality", "label": "poor"})
    assert "difficulty" not in vague.meta["tags"]  # the first drop stops the other requests
    assert isinstance(broken, Drop) and broken.reason == "tags_unparseable"
    assert len(bodies) == 3 + 1 + 3
    first = bodies[0]
    assert first["temperature"] == 0.0
    schema = first["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["input_quality"]["enum"][-1] == "excellent"
    category = bodies[2]["response_format"]["json_schema"]["schema"]
    assert category["properties"]["primary_tag"]["enum"] == list(CATEGORIES)
    assert tags.stats()["labels"]["quality"] == {"excellent": 2, "poor": 1}


def test_keep_lists_are_checked() -> None:
    with pytest.raises(ValidationError, match="its labels are: very poor, poor"):
        TagsSpec(keep={"quality": ["great"]})
    with pytest.raises(ValidationError, match="not in tags"):
        TagsSpec(tags=["quality"], keep={"difficulty": ["hard"]})
