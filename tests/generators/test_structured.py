from __future__ import annotations

import json
import math

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from teachkit.errors import RecipeError
from teachkit.generators.structured import (
    OutputSpec,
    StructuredOutputError,
    instruction,
    parse,
    schema,
    use_native,
)
from teachkit.teachers.backend import Capabilities

QA = OutputSpec(
    fields={
        "question": "A question a student might ask",
        "answer": "The answer, in two short paragraphs",
        "label": {"enum": ["factual", "opinion"]},
        "difficulty: int": "From 1 (easy) to 5 (hard)",
        "tags: list[str]": "Topics the question touches",
    }
)
QA_SCHEMA = schema(QA)
GOOD = {
    "question": "Why is the sky blue?",
    "answer": "Sunlight scatters off air molecules; blue light scatters most.",
    "label": "factual",
    "difficulty": 2,
    "tags": ["physics", "optics"],
}


def reason_of(text: str, sch: dict = QA_SCHEMA, **kwargs) -> str:
    with pytest.raises(StructuredOutputError) as info:
        parse(text, sch, **kwargs)
    return info.value.reason


# --- declaring the output -----------------------------------------------------------------------


def test_short_form_schema():
    assert QA_SCHEMA == {
        "type": "object",
        "properties": {
            "question": {"type": "string", "description": "A question a student might ask"},
            "answer": {"type": "string", "description": "The answer, in two short paragraphs"},
            "label": {"type": "string", "enum": ["factual", "opinion"]},
            "difficulty": {"type": "integer", "description": "From 1 (easy) to 5 (hard)"},
            "tags": {
                "type": "array",
                "description": "Topics the question touches",
                "items": {"type": "string"},
            },
        },
        "required": ["question", "answer", "label", "difficulty", "tags"],
        "additionalProperties": False,
    }
    assert QA.field_names() == ["question", "answer", "label", "difficulty", "tags"]


def test_field_list_and_yaml_forms():
    text = """
    fields:
      instruction: The task
      input: {min_length: 0, description: Optional context}
      "score: float":
      "ok: bool": ""
    max_attempts: 5
    method: instruction
    """
    spec = OutputSpec.model_validate(yaml.safe_load(text))
    props = schema(spec)["properties"]
    assert props["input"] == {"type": "string", "description": "Optional context", "minLength": 0}
    assert props["score"] == {"type": "number"}
    assert props["ok"] == {"type": "boolean"}
    assert (spec.max_attempts, spec.method) == (5, "instruction")
    assert schema(OutputSpec(fields=["a", "b"]))["required"] == ["a", "b"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "exactly one of"),
        ({"fields": ["a"], "json_schema": {"type": "object", "properties": {}}}, "exactly one"),
        ({"fields": {}}, "at least one field"),
        ({"fields": {"a": {"type": "date"}}}, "unknown field type"),
        ({"fields": {"a: int": {"type": "str"}}}, "type twice"),
        ({"fields": {"first-name": "x"}}, "template variable"),
        ({"fields": {"a: int": {"enum": ["x"]}}}, "enum"),
        ({"fields": ["a"], "max_attempts": 0}, "greater than or equal to 1"),
        ({"json_schema": {"type": "array", "items": {}}}, "must describe an object"),
        (
            {"json_schema": {"type": "object", "properties": {"a": {"pattern": "^x"}}}},
            r"json_schema.a uses \['pattern'\]",
        ),
        (
            {"json_schema": {"type": "object", "properties": {"a": {"type": "str"}}}},
            "type must be one of",
        ),
        (
            {"json_schema": {"type": "object", "properties": {}, "required": ["a"]}},
            "not in properties",
        ),
        (
            {
                "json_schema": {
                    "type": "object",
                    "properties": {},
                    "additionalProperties": {"type": "string"},
                }
            },
            "true or false",
        ),
    ],
)
def test_invalid_specs_are_explained(data, message):
    with pytest.raises(ValidationError, match=message):
        OutputSpec.model_validate(data)


def test_instruction_names_every_field_and_choice():
    text = instruction(QA)
    for name in QA_SCHEMA["properties"]:
        assert f'"{name}"' in text
    assert '"factual", "opinion"' in text
    assert "an integer" in text
    assert "a list (each item: a string)" in text
    assert "From 1 (easy) to 5 (hard)" in text


def test_use_native():
    assert use_native(QA, Capabilities(json_schema=True)) is True
    assert use_native(QA, Capabilities(json_schema=False)) is False
    assert (
        use_native(QA.model_copy(update={"method": "instruction"}), Capabilities(json_schema=True))
        is False
    )
    native = QA.model_copy(update={"method": "native"})
    assert use_native(native, Capabilities(json_schema=True)) is True
    with pytest.raises(RecipeError, match="cannot constrain"):
        use_native(native, Capabilities(json_schema=False))


def test_schema_compiles_to_a_llama_cpp_grammar():
    grammar = pytest.importorskip("llama_cpp.llama_grammar")
    nested = OutputSpec(
        json_schema={
            "type": "object",
            "properties": {
                "steps": {"type": "array", "items": {"type": "string", "minLength": 1}},
                "final": {
                    "type": "object",
                    "properties": {"value": {"type": "number"}, "unit": {"type": "string"}},
                    "required": ["value"],
                    "additionalProperties": False,
                },
            },
            "required": ["steps", "final"],
            "additionalProperties": False,
        }
    )
    for spec in (QA, nested, OutputSpec(fields={"ok: bool": "", "n: list[int]": ""})):
        gbnf = grammar.json_schema_to_gbnf(json.dumps(schema(spec)))
        assert "root ::=" in gbnf
        for name in schema(spec)["properties"]:
            assert f'\\"{name}\\"' in gbnf


# --- reading answers ----------------------------------------------------------------------------


def test_clean_answer_needs_no_repair():
    repairs: list[str] = []
    assert parse(json.dumps(GOOD), QA_SCHEMA, repairs=repairs) == GOOD
    assert repairs == []


FENCED = """Here is the JSON you asked for:

```json
{
  "question": "Why is the sky blue?",
  "answer": "Sunlight scatters off air molecules; blue light scatters most.",
  "label": "factual",
  "difficulty": 2,
  "tags": ["physics", "optics"]
}
```

Let me know if you need another one!"""

PROSE = (
    "Sure! I replaced the {placeholder} with a real topic. "
    + json.dumps(GOOD)
    + "\nThis question is good for beginners."
)

TRAILING = """{
  "question": "Why is the sky blue?",
  "answer": "Sunlight scatters off air molecules; blue light scatters most.",
  "label": "factual",
  "difficulty": 2,
  "tags": ["physics", "optics",],
}"""

SMART = (
    "{\u201cquestion\u201d: \u201cWhy is the sky blue?\u201d, "
    "\u201canswer\u201d: "
    "\u201cSunlight scatters off air molecules; blue light scatters most.\u201d, "
    "\u201clabel\u201d: \u201cfactual\u201d, \u201cdifficulty\u201d: 2, "
    "\u201ctags\u201d: [\u201cphysics\u201d, \u201coptics\u201d]}"
)


@pytest.mark.parametrize(
    ("text", "expected_repairs"),
    [
        (FENCED, ["code_fence"]),
        ("```\n" + json.dumps(GOOD) + "\n```", ["code_fence"]),
        (PROSE, ["extracted"]),
        (TRAILING, ["trailing_comma"]),
        (SMART, ["smart_quotes"]),
        ("```json\n" + TRAILING + "\n```", ["code_fence", "trailing_comma"]),
    ],
)
def test_repairs(text, expected_repairs):
    repairs: list[str] = []
    assert parse(text, QA_SCHEMA, repairs=repairs) == GOOD
    assert repairs == expected_repairs


def test_smart_quotes_inside_strings_are_content():
    text = (
        '{"question": "What does \u201cfair\u201d mean?", "answer": "It depends, really.", '
        '"label": "opinion", "difficulty": 3, "tags": ["ethics"],}'
    )
    value = parse(text, QA_SCHEMA)
    assert value["question"] == "What does \u201cfair\u201d mean?"


def test_commas_and_braces_inside_strings_are_content():
    answer = "Use {name} or [x, ] in templates, }"
    text = json.dumps({**GOOD, "answer": answer}).replace('"optics"]', '"optics",]')
    assert parse(text, QA_SCHEMA)["answer"] == answer


def test_raw_newlines_inside_strings_are_accepted():
    text = json.dumps(GOOD).replace("air molecules;", "air molecules;\n")
    assert parse(text, QA_SCHEMA)["answer"].count("\n") == 1


def test_first_valid_object_wins():
    other = {**GOOD, "question": "Second?"}
    text = "First: " + json.dumps(GOOD) + "\nSecond: " + json.dumps(other)
    assert parse(text, QA_SCHEMA)["question"] == GOOD["question"]


def test_safe_value_repairs():
    sloppy = {**GOOD, "label": " Factual", "difficulty": "4", "notes": "I kept it short."}
    repairs: list[str] = []
    value = parse(json.dumps(sloppy), QA_SCHEMA, repairs=repairs)
    assert value == {**GOOD, "difficulty": 4}
    assert repairs == ["enum_case:label", "coerced:difficulty", "dropped:notes"]
    assert parse(json.dumps({**GOOD, "difficulty": 3.0}), QA_SCHEMA)["difficulty"] == 3
    flags = OutputSpec(fields={"ok: bool": "", "x: float": ""})
    assert parse('{"ok": "true", "x": "2.5e1"}', schema(flags)) == {"ok": True, "x": 25.0}


@pytest.mark.parametrize(
    ("text", "kwargs", "reason"),
    [
        ("", {}, "empty"),
        ("   \n", {}, "empty"),
        ("I cannot help with that request.", {}, "no_json"),
        ('{"question": "Why is the sky blue?", "answer": "Sunlight sca', {}, "truncated"),
        ('```json\n{\n  "question": "Why is the sky blue?",\n  "answer"', {}, "truncated"),
        ('{"question": "Why', {"finish_reason": "stop"}, "truncated"),
        ("Here is the question: Why is the sky", {"finish_reason": "length"}, "truncated"),
        ("{'question': 'Why?', 'answer': 'Because.'}", {}, "invalid_json"),
        ('{question: "Why?"}', {}, "invalid_json"),
        ("{the answer}", {}, "invalid_json"),
    ],
)
def test_unreadable_answers(text, kwargs, reason):
    assert reason_of(text, **kwargs) == reason


def test_complete_answer_is_kept_even_when_length_was_hit():
    assert parse(json.dumps(GOOD), QA_SCHEMA, finish_reason="length") == GOOD


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"label": ["factual"]}, "schema:type:label"),
        ({"label": "rumour"}, "schema:enum:label"),
        ({"difficulty": "hard"}, "schema:type:difficulty"),
        ({"difficulty": 2.5}, "schema:type:difficulty"),
        ({"difficulty": True}, "schema:type:difficulty"),
        ({"difficulty": None}, "schema:type:difficulty"),
        ({"tags": "physics"}, "schema:type:tags"),
        ({"tags": ["physics", 7]}, "schema:type:tags.1"),
        ({"answer": "   "}, "schema:min_length:answer"),
        ({"question": 42}, "schema:type:question"),
    ],
)
def test_schema_violations(change, reason):
    assert reason_of(json.dumps({**GOOD, **change})) == reason


def test_missing_field():
    broken = {k: v for k, v in GOOD.items() if k != "answer"}
    assert reason_of(json.dumps(broken)) == "schema:missing:answer"
    # a misnamed key is dropped and the field reported missing
    assert reason_of(json.dumps({**broken, "response": "x"})) == "schema:missing:answer"


def test_non_finite_numbers_are_not_numbers():
    spec = OutputSpec(fields={"x: float": ""})
    assert reason_of('{"x": NaN}', schema(spec)) == "schema:type:x"
    assert reason_of('{"x": "1e999"}', schema(spec)) == "schema:type:x"


def test_user_json_schema_nested():
    spec = OutputSpec(
        json_schema={
            "type": "object",
            "properties": {
                "claim": {"type": "string"},
                "source": {
                    "type": "object",
                    "properties": {"title": {"type": "string"}, "year": {"type": "integer"}},
                    "required": ["title"],
                    "additionalProperties": False,
                },
                "note": {"type": "string"},
            },
            "required": ["claim", "source"],
        }
    )
    sch = schema(spec)
    assert parse('{"claim": "c", "source": {"title": "t", "year": "1999"}, "x": 1}', sch) == {
        "claim": "c",
        "source": {"title": "t", "year": 1999},
        "x": 1,  # additionalProperties not closed at the top: kept
    }
    assert parse('{"claim": "c", "source": {"title": "t"}, "note": ""}', sch)["note"] == ""
    assert reason_of('{"claim": "c", "source": {"year": 1}}', sch) == "schema:missing:source.title"
    assert reason_of('{"claim": "c", "source": "a book"}', sch) == "schema:type:source"


# --- properties -------------------------------------------------------------------------------

_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
_answers = st.fixed_dictionaries(
    {
        "question": _text.filter(lambda s: s.strip() != ""),
        "answer": _text.filter(lambda s: s.strip() != ""),
        "label": st.sampled_from(["factual", "opinion"]),
        "difficulty": st.integers(-(10**12), 10**12),
        "tags": st.lists(_text, max_size=4),
    }
)
_wrappers = st.sampled_from(
    ["{}", "```json\n{}\n```", "Here you go:\n{}\nThanks!", "Note {{this}}: {} (done)", " {} \n"]
)


@settings(max_examples=150, deadline=None)
@given(_answers, _wrappers, st.booleans())
def test_any_valid_answer_survives_wrapping(answer, wrapper, ascii_only):
    body = json.dumps(answer, ensure_ascii=ascii_only, indent=None if ascii_only else 2)
    assert parse(wrapper.replace("{}", body, 1), QA_SCHEMA) == answer


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from('{}[]",:\\ \n\u201c\u201dab1`json'), max_size=80))
def test_arbitrary_text_fails_only_with_a_reason(text):
    try:
        value = parse(text, QA_SCHEMA)
    except StructuredOutputError as exc:
        assert exc.reason
    else:
        assert set(value) == set(GOOD)
        assert not math.isnan(value["difficulty"])
