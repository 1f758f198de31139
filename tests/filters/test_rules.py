"""The rules filter: each rule's keep/drop decision and reason, and its validation."""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from support import check_now
from teachkit.errors import MissingExtraError
from teachkit.filters.base import KEEP, Drop, FilterContext, Keep
from teachkit.filters.rules import RulesFilter, RulesSpec
from teachkit.recipe.models import Recipe
from teachkit.records import Record

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "self-instruct"


def ctx() -> FilterContext:
    def no_teacher(config: object, name: str) -> object:
        raise AssertionError("rules need no teacher")

    return FilterContext(base_dir=Path("."), seed=0, teacher_factory=no_teacher)  # type: ignore[arg-type]


def rules(**options: object) -> RulesFilter:
    return RulesSpec.model_validate({"kind": "rules", **options}).build(ctx())


def record(user: str = "Say something.", answer: str = "Something.", **meta: object) -> Record:
    return Record(
        messages=[{"role": "user", "content": user}, {"role": "assistant", "content": answer}],
        meta=dict(meta),
    )


def reason(verdict: object) -> str | None:
    return verdict.reason if isinstance(verdict, Drop) else None


def test_lengths_in_characters_and_words() -> None:
    f = rules(min_chars=5, max_chars=30, min_words=2, max_words=4)
    assert reason(check_now(f, record(answer="Hi"))) == "too_short:chars"
    assert reason(check_now(f, record(answer="x" * 31))) == "too_long:chars"
    assert reason(check_now(f, record(answer="Lonely"))) == "too_short:words"
    assert reason(check_now(f, record(answer="one two three four five"))) == "too_long:words"
    assert check_now(f, record(answer="one two three")) == KEEP
    dropped = check_now(f, record(answer="Hi"))
    assert isinstance(dropped, Drop) and dropped.detail == {"chars": 2, "min": 5}


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    words=st.lists(st.sampled_from(["a", "bb", "ccc", "dddd"]), max_size=12),
    low=st.integers(0, 6),
    span=st.integers(0, 6),
)
def test_word_limits_keep_exactly_the_range(words: list[str], low: int, span: int) -> None:
    f = rules(min_words=low, max_words=max(1, low + span), refusals=False)
    kept = isinstance(check_now(f, record(answer=" ".join(words))), Keep)
    assert kept == (low <= len(words) <= max(1, low + span))


def test_regexes_must_and_must_not_match() -> None:
    f = rules(must_match=[r"\d+"], must_not_match=[r"(?i)lorem ipsum"])
    assert reason(check_now(f, record(answer="no digits"))) == "must_match"
    dropped = check_now(f, record(answer="42 Lorem Ipsum dolor"))
    assert isinstance(dropped, Drop) and dropped.reason == "must_not_match"
    assert dropped.detail["match"] == "Lorem Ipsum"
    assert check_now(f, record(answer="The answer is 42.")) == KEEP


def test_bad_regex_is_a_validation_error_naming_it() -> None:
    with pytest.raises(ValidationError, match=r"the regex '\(unclosed' does not compile"):
        RulesSpec(must_match=["(unclosed"])
    with pytest.raises(ValidationError, match="min_words"):
        RulesSpec(min_words=10, max_words=3)


def test_blacklist_is_whole_word_any_case_in_every_turn_by_default() -> None:
    f = rules(blacklist=["image", "go to"])
    assert reason(check_now(f, record(user="Describe this IMAGE."))) == "blacklisted:image"
    assert reason(check_now(f, record(answer="Go to the store."))) == "blacklisted:go to"
    assert check_now(f, record(user="Imagine a cat.", answer="Images aside, a cat.")) == KEEP
    only_answer = rules(blacklist=["image"], blacklist_field="assistant")
    assert check_now(only_answer, record(user="Describe this image.")) == KEEP


def test_blacklist_on_real_instructions_matches_a_plain_word_split() -> None:
    words = {"image", "graph", "picture", "file", "map", "draw", "plot"}
    f = rules(blacklist=sorted(words), refusals=False)
    tasks = [json.loads(line) for line in (DATA / "seed_tasks.jsonl").read_text().splitlines()]
    dropped = 0
    for task in tasks:
        rec = record(user=task["instruction"], answer=task["instances"][0]["output"] or "-")
        present = {w.lower() for w in re.split(r"\W+", rec.text())} & words
        verdict = check_now(f, rec)
        assert isinstance(verdict, Drop) == bool(present), task["instruction"]
        dropped += isinstance(verdict, Drop)
    assert 0 < dropped < len(tasks)


@pytest.mark.parametrize(
    "answer",
    [
        "As an AI language model, I cannot browse the internet.",
        "I’m sorry, but I can’t help with that request.",
        "Unfortunately I must decline to write that.",
    ],
)
def test_refusals_are_dropped(answer: str) -> None:
    verdict = check_now(rules(), record(answer=answer))
    assert isinstance(verdict, Drop) and verdict.reason == "refusal"


def test_refusal_phrases_need_whole_words_and_can_be_extended_or_disabled() -> None:
    assert check_now(rules(), record(answer="As an aid to memory, use a mnemonic.")) == KEEP
    custom = rules(refusal_phrases=["Not my department"])
    assert reason(check_now(custom, record(answer="That is not my department."))) == "refusal"
    off = rules(refusals=False)
    assert check_now(off, record(answer="As an AI, I cannot do that.")) == KEEP
    user_side = rules(field="user")
    assert check_now(user_side, record(answer="As an AI, I cannot.")) == KEEP


def test_vocabulary_of_labels() -> None:
    f = rules(vocabulary={"field": "meta.label", "values": ["Positive", "Negative"]})
    assert check_now(f, record(label="positive")) == KEEP
    verdict = check_now(f, record(label="neutral"))
    assert isinstance(verdict, Drop) and verdict.reason == "off_vocabulary:label"
    assert reason(check_now(f, record())) == "off_vocabulary:label"  # no label at all
    strict = rules(vocabulary={"field": "assistant", "values": ["Yes"], "case_sensitive": True})
    assert check_now(strict, record(answer=" Yes ")) == KEEP
    assert reason(check_now(strict, record(answer="yes"))) == "off_vocabulary:assistant"


def test_json_must_parse() -> None:
    f = rules(json={})
    assert check_now(f, record(answer='{"a": 1}')) == KEEP
    assert check_now(f, record(answer='```json\n{"a": 1}\n```')) == KEEP
    assert reason(check_now(f, record(answer="{'a': 1}"))) == "invalid_json"
    assert reason(check_now(f, record(answer=""))) == "invalid_json"


def test_json_schema() -> None:
    pytest.importorskip("jsonschema")
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    typed = rules(json={"field": "assistant", "schema": schema})
    assert check_now(typed, record(answer='{"n": 3}')) == KEEP
    verdict = check_now(typed, record(answer='{"n": "three"}'))
    assert isinstance(verdict, Drop) and verdict.reason == "schema_mismatch"
    assert verdict.detail["at"] == "n"
    assert reason(check_now(typed, record(answer="[]"))) == "schema_mismatch"
    with pytest.raises(ValidationError, match="not a valid JSON Schema"):
        RulesSpec.model_validate({"json": {"schema": {"type": 12}}})


def test_json_schema_without_jsonschema_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.import_module

    def hide(name: str, *args: object) -> object:
        if name == "jsonschema":
            raise ImportError(name)
        return real(name, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(importlib, "import_module", hide)
    with pytest.raises(MissingExtraError, match="jsonschema"):
        RulesSpec.model_validate({"json": {"schema": {"type": "object"}}})


def test_rules_run_cheapest_first_and_spec_round_trips_through_a_recipe() -> None:
    f = rules(min_words=3, blacklist=["cat"])
    assert reason(check_now(f, record(answer="cat"))) == "too_short:words"
    data = {
        "generator": {"kind": "alpaca", "count": 1},
        "filters": [{"kind": "rules", "json": {"field": "user"}, "min_chars": 1}],
    }
    recipe = Recipe.model_validate(data)
    spec = recipe.filters[0]
    assert isinstance(spec, RulesSpec) and spec.json_rule is not None
    dumped = recipe.model_dump(mode="json")["filters"][0]
    assert dumped["json"] == {"field": "user", "schema": None}
    assert RulesSpec.model_validate(dumped) == spec
