"""The ``tags`` filter: a language model labels each request's quality, difficulty and task
category, and records outside the wanted labels are dropped.

These are the three tagging missions of Magpie (``exp/unitag.py``): one request per tag, which
shows the user's request and asks for a JSON object (the input quality from "very poor" to
"excellent" with an explanation; the difficulty from "very easy" to "very hard" with the user's
intent and the knowledge needed; the primary task category out of twelve, plus other ones). Where
the Magpie scripts prefill the answer with ``{``, teachkit asks for the object with the JSON
schema of the answer (constrained decoding on llama.cpp, ``response_format`` on servers), which
pins the labels to the allowed values; the answer is read with the structured-output parser.

Labels go to ``meta["tags"]``; ``keep`` lists the labels to keep per tag, and a record outside
them is dropped as ``<tag>:<label>`` (``quality:poor``). Tags are asked in order and the first
drop stops the rest, so a dropped record costs no more requests. Requests are deterministic
(temperature 0, sample 0), so a resumed run finds every label in the request cache. An answer
that does not parse drops the record as ``tags_unparseable``; a failed request as
``tags_failed``; a misconfigured teacher or an open circuit stops the run, as for the judge.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from teachkit.errors import CircuitOpenError, ConfigError, TeacherError
from teachkit.filters.base import KEEP, Drop, Filter, FilterContext, FilterSpecBase, Verdict
from teachkit.generators.structured import StructuredOutputError, parse
from teachkit.recipe.base import TeacherConfig
from teachkit.records import FieldRef, Record, field_text
from teachkit.teachers.backend import Request
from teachkit.teachers.teacher import Teacher

__all__ = ["CATEGORIES", "DIFFICULTY", "QUALITY", "TAGS", "TagsFilter", "TagsSpec"]

Tag = Literal["quality", "difficulty", "task_category"]
QUALITY = ("very poor", "poor", "average", "good", "excellent")
DIFFICULTY = ("very easy", "easy", "medium", "hard", "very hard")
CATEGORIES = (
    "Information seeking",
    "Reasoning",
    "Planning",
    "Editing",
    "Coding & Debugging",
    "Math",
    "Role playing",
    "Data analysis",
    "Creative writing",
    "Advice seeking",
    "Brainstorming",
    "Others",
)


def _string() -> dict[str, Any]:
    return {"type": "string"}


def _schema(properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


_QUALITY_PROMPT = """\
# Instruction

Rate the quality of the user query below by its clarity, specificity and coherence:

- very poor: unclear, vague or incoherent; essential information and context are missing.
- poor: somewhat unclear or missing important details; it needs significant clarification.
- average: moderately clear and specific; some information may be missing.
- good: clear, specific and mostly well-formed; enough context to understand the intent.
- excellent: very clear, specific and well-articulated, with all the information and context \
needed for a comprehensive response.

## User Query
```
{query}
```

## Output Format
First assess the query (its strengths and weaknesses), then rate it. Answer with a JSON object \
only: {{"explanation": "...", "input_quality": "very poor|poor|average|good|excellent"}}"""

_DIFFICULTY_PROMPT = """\
# Instruction

Identify what the user wants and the knowledge needed to answer, then rate how difficult the \
user query below is.

## User Query
```
{query}
```

## Output Format
Answer with a JSON object only: {{"intent": "The user wants to ...", "knowledge": "To solve \
this problem, the models need to know ...", \
"difficulty": "very easy|easy|medium|hard|very hard"}}"""

_CATEGORY_PROMPT = """\
# Instruction

Label the task of the user query below with the most relevant category:

- Information seeking: asks for specific information or facts on a topic.
- Reasoning: needs logical thinking, problem solving or working through complex ideas.
- Planning: asks for help making plans or strategies for activities and projects.
- Editing: editing, rephrasing, proofreading or other work on a written text.
- Coding & Debugging: writing, reviewing or fixing code.
- Math: mathematical concepts, problems and calculations.
- Role playing: asks the assistant to take on a character or persona.
- Data analysis: interpreting data or statistics, or other analytical tasks.
- Creative writing: stories, poems or other creative texts.
- Advice seeking: recommendations or guidance on personal or professional issues.
- Brainstorming: generating ideas, creative thinking, exploring possibilities.
- Others: anything that fits none of the above.

## User Query
```
{query}
```

## Output Format
Choose one primary category; other applicable ones may be listed too. Answer with a JSON object \
only: {{"primary_tag": "<category>", "other_tags": ["<category>", ...]}}"""

#: per tag: the prompt, the answer's schema, the key holding the label, its allowed values, and
#: how the other keys are stored in meta["tags"]
TAGS: dict[str, tuple[str, dict[str, Any], str, tuple[str, ...], dict[str, str]]] = {
    "quality": (
        _QUALITY_PROMPT,
        _schema({"explanation": _string(), "input_quality": {"enum": list(QUALITY)}}),
        "input_quality",
        QUALITY,
        {"explanation": "quality_explanation"},
    ),
    "difficulty": (
        _DIFFICULTY_PROMPT,
        _schema(
            {"intent": _string(), "knowledge": _string(), "difficulty": {"enum": list(DIFFICULTY)}}
        ),
        "difficulty",
        DIFFICULTY,
        {"intent": "intent", "knowledge": "knowledge"},
    ),
    "task_category": (
        _CATEGORY_PROMPT,
        _schema(
            {
                "primary_tag": {"enum": list(CATEGORIES)},
                "other_tags": {"type": "array", "items": {"enum": list(CATEGORIES)}},
            }
        ),
        "primary_tag",
        CATEGORIES,
        {"other_tags": "other_task_categories"},
    ),
}


_DEFAULT_TAGS: tuple[Tag, ...] = ("quality", "difficulty", "task_category")


class TagsSpec(FilterSpecBase):
    """``filters: [{kind: tags, keep: {quality: [good, excellent]}}]``"""

    kind: Literal["tags"] = "tags"
    #: the tagger's own teacher; unset: the recipe's teacher
    teacher: TeacherConfig | None = None
    #: which tags to ask for, in this order
    tags: list[Tag] = Field(default_factory=lambda: list(_DEFAULT_TAGS))
    #: labels to keep per tag (a tag not listed here only labels)
    keep: dict[Tag, list[str]] = Field(default_factory=dict)
    #: what is tagged: user (the request, default), text, assistant or meta.<key>
    field: FieldRef = "user"
    max_tokens: int = Field(default=512, ge=16, le=8192)

    @model_validator(mode="after")
    def _known_labels(self) -> TagsSpec:
        if len(set(self.tags)) != len(self.tags):
            raise ValueError("each tag may be asked for once")
        for tag, labels in self.keep.items():
            if tag not in self.tags:
                raise ValueError(f"keep.{tag}: the tag {tag!r} is not in tags; add it there")
            allowed = TAGS[tag][3]
            unknown = [label for label in labels if label not in allowed]
            if unknown or not labels:
                raise ValueError(
                    f"keep.{tag}: {unknown or 'an empty list'} is not a list of labels of "
                    f"{tag!r}; its labels are: {', '.join(allowed)}"
                )
        return self

    def build(self, ctx: FilterContext) -> TagsFilter:
        teacher = ctx.teacher_factory(self.teacher, self.name or "tags")
        options = self.teacher.sampling.as_options() if self.teacher is not None else {}
        options.pop("n", None)
        options.update(temperature=0.0, max_tokens=self.max_tokens)
        return TagsFilter(
            teacher,
            tags=list(self.tags),
            keep={tag: set(labels) for tag, labels in self.keep.items()},
            field=self.field,
            options=options,
            name=self.name,
        )


class TagsFilter(Filter):
    kind: ClassVar[str] = "tags"
    cost: ClassVar[int] = 2

    def __init__(
        self,
        teacher: Teacher,
        *,
        tags: list[str],
        keep: dict[str, set[str]],
        field: str = "user",
        options: dict[str, Any] | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(name)
        self.teacher = teacher
        self.tags = tags
        self.keep = keep
        self.field = field
        self.options = options or {"temperature": 0.0, "max_tokens": 512}
        self.labels: dict[str, Counter[str]] = {tag: Counter() for tag in tags}
        self.outcomes: Counter[str] = Counter()

    def request(self, tag: str, text: str) -> Request:
        """The request that asks for ``tag`` of ``text`` (always the same for the same text)."""
        prompt, schema = TAGS[tag][0], TAGS[tag][1]
        native = schema if self.teacher.capabilities.json_schema else None
        messages = [{"role": "user", "content": prompt.format(query=text)}]
        return Request(messages=messages, options=dict(self.options), json_schema=native)

    async def check(self, record: Record) -> Verdict:
        text = field_text(record, self.field)
        found = record.meta.get("tags")
        tags: dict[str, Any] = found if isinstance(found, dict) else {}
        record.meta["tags"] = tags
        for tag in self.tags:
            _prompt, schema, key, _allowed, extra = TAGS[tag]
            try:
                response = await self.teacher.complete(self.request(tag, text))
            except (ConfigError, CircuitOpenError):
                raise
            except TeacherError as exc:
                self.outcomes["failed"] += 1
                return Drop("tags_failed", {"tag": tag, "error": str(exc)[:300]})
            try:
                answer = parse(response.text, schema, finish_reason=response.finish_reason)
            except StructuredOutputError as exc:
                self.outcomes["unparseable"] += 1
                detail = {"tag": tag, "problem": exc.reason, "answer": response.text[:300]}
                return Drop("tags_unparseable", detail)
            label = str(answer[key])
            tags[tag] = label
            for source, target in extra.items():
                tags[target] = answer.get(source)
            self.labels[tag][label] += 1
            wanted = self.keep.get(tag)
            if wanted is not None and label not in wanted:
                self.outcomes["dropped"] += 1
                return Drop(f"{tag}:{label}", {"tag": tag, "label": label})
        self.outcomes["kept"] += 1
        return KEEP

    def stats(self) -> dict[str, Any]:
        if not self.outcomes:
            return {}
        labels = {tag: dict(counts.most_common()) for tag, counts in self.labels.items()}
        return {**dict(self.outcomes), "labels": labels}
