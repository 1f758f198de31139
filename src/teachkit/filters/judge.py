"""The ``judge`` filter: a language model grades each example against a rubric.

The judge asks its teacher (its own config, typically a cheaper model, or the recipe's teacher)
for JSON ``{"score": 1-10, "reason": "..."}`` about one example, shown through a sandboxed Jinja2
template. A score at or above ``threshold`` keeps the record; the score and reason go to
``meta["scores"][<filter name>]`` either way. Requests are deterministic (temperature 0, sample 0)
so a resumed run finds every judgement already in the request cache.

An answer without a readable score drops the record as ``judge_unparseable``; a request that
fails drops it as ``judge_failed``. A misconfigured judge (no API key) or a judge whose server keeps
failing (open circuit) stops the run instead, which then resumes where it stopped.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from teachkit.errors import CircuitOpenError, ConfigError, RecipeError, TeacherError
from teachkit.filters.base import KEEP, Drop, Filter, FilterContext, FilterSpecBase, Verdict
from teachkit.prompts.templates import Template, compile_template
from teachkit.recipe.base import TeacherConfig
from teachkit.records import Record
from teachkit.teachers.backend import Request
from teachkit.teachers.teacher import Teacher

__all__ = [
    "DEFAULT_RUBRIC",
    "DEFAULT_TEMPLATE",
    "SCORE_SCHEMA",
    "JudgeFilter",
    "JudgeSpec",
    "parse_score",
]

DEFAULT_RUBRIC = """\
Score how good this example is for teaching a smaller model.
- 9-10: the request is clear and the answer fully correct, complete, well organised and concise.
- 7-8: correct and helpful, with small omissions or some wordiness.
- 4-6: partly correct, incomplete, off-target, or hard to follow.
- 1-3: wrong, unsafe, empty, a refusal, or not answering the request."""

DEFAULT_TEMPLATE = """\
You grade examples of training data for a language model.

Rubric:
{{ rubric }}

The example:
{{ conversation }}

Answer with JSON only: {"score": <integer from 1 to 10>, "reason": "<one short sentence>"}"""

_SYSTEM = "You are a strict, fair grader. You answer with one JSON object and nothing else."

SCORE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "score": {"type": "integer", "minimum": 1, "maximum": 10},
        "reason": {"type": "string"},
    },
    "required": ["score", "reason"],
    "additionalProperties": False,
}

#: what a judge template may use
TEMPLATE_VARIABLES = frozenset(
    {
        "rubric",
        "conversation",
        "messages",
        "system",
        "user",
        "assistant",
        "reasoning",
        "chosen",
        "rejected",
        "meta",
    }
)

_FENCED = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL | re.IGNORECASE)
_SCORE = re.compile(r"\bscore\b[\"'*\s]*[:=]?[\"'*\s]*(\d{1,2}(?:\.\d+)?)", re.IGNORECASE)
_SLASH = re.compile(r"\b(\d{1,2}(?:\.\d+)?)\s*/\s*10\b")
_REASON = re.compile(r"\breason\b[\"'*\s]*[:=][\"'*\s]*([^\n\"]+)", re.IGNORECASE)


class JudgeSpec(FilterSpecBase):
    """``filters: [{kind: judge, threshold: 7, teacher: {backend: openai, model: gpt-4o-mini}}]``"""

    kind: Literal["judge"] = "judge"
    #: the judge's own teacher; unset: the recipe's teacher
    teacher: TeacherConfig | None = None
    #: what a good example is (default: DEFAULT_RUBRIC)
    rubric: str | None = Field(default=None, min_length=1)
    #: keep a record when its score is at least this
    threshold: int = Field(default=7, ge=1, le=10)
    #: the judge prompt, a Jinja2 template (variables: rubric, conversation, messages, system,
    #: user, assistant, reasoning, chosen, rejected, meta)
    template: str | None = Field(default=None, min_length=1)
    max_tokens: int = Field(default=256, ge=16, le=8192)

    @field_validator("template")
    @classmethod
    def _template_compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                compile_template(value, "judge.template").check_variables(TEMPLATE_VARIABLES)
            except RecipeError as exc:
                raise ValueError(str(exc)) from exc
        return value

    def build(self, ctx: FilterContext) -> JudgeFilter:
        teacher = ctx.teacher_factory(self.teacher, self.name or "judge")
        options = self.teacher.sampling.as_options() if self.teacher is not None else {}
        options.pop("n", None)
        options.setdefault("temperature", 0.0)
        options["max_tokens"] = self.max_tokens
        return JudgeFilter(
            teacher,
            rubric=self.rubric or DEFAULT_RUBRIC,
            threshold=self.threshold,
            template=compile_template(self.template or DEFAULT_TEMPLATE, "judge.template"),
            options=options,
            name=self.name,
        )


class JudgeFilter(Filter):
    kind: ClassVar[str] = "judge"
    cost: ClassVar[int] = 2

    def __init__(
        self,
        teacher: Teacher,
        *,
        rubric: str = DEFAULT_RUBRIC,
        threshold: float = 7,
        template: Template | None = None,
        options: dict[str, Any] | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(name)
        self.teacher = teacher
        self.rubric = rubric
        self.threshold = threshold
        self.template = template or compile_template(DEFAULT_TEMPLATE, "judge.template")
        self.options = options if options is not None else {"temperature": 0.0, "max_tokens": 256}
        self.outcomes: Counter[str] = Counter()
        self._score_sum = 0.0

    def request(self, record: Record) -> Request:
        """The judge's request for ``record`` (the same record always gives the same request)."""
        prompt = self.template.render(
            rubric=self.rubric,
            conversation=conversation(record),
            messages=record.messages,
            system=record.system,
            user=record.user,
            assistant=record.assistant,
            reasoning=record.reasoning or "",
            chosen=record.chosen or "",
            rejected=record.rejected or "",
            meta=record.meta,
        )
        schema = SCORE_SCHEMA if self.teacher.capabilities.json_schema else None
        messages = [{"role": "system", "content": _SYSTEM}, {"role": "user", "content": prompt}]
        return Request(messages=messages, options=dict(self.options), json_schema=schema, sample=0)

    async def check(self, record: Record) -> Verdict:
        try:
            response = await self.teacher.complete(self.request(record))
        except (ConfigError, CircuitOpenError):
            raise  # every later record would fail the same way: stop the run, resume later
        except TeacherError as exc:
            self.outcomes["failed"] += 1
            return Drop("judge_failed", {"error": str(exc)[:300]})
        parsed = parse_score(response.text)
        if parsed is None:
            self.outcomes["unparseable"] += 1
            return Drop("judge_unparseable", {"answer": response.text[:300]})
        score, reason = parsed
        self._score_sum += score
        scores = record.meta.get("scores")
        if not isinstance(scores, dict):
            scores = record.meta["scores"] = {}
        scores[self.name] = {"score": score, "reason": reason}
        if score >= self.threshold:
            self.outcomes["kept"] += 1
            return KEEP
        self.outcomes["low_score"] += 1
        return Drop("low_score", {"score": score, "threshold": self.threshold, "reason": reason})

    def stats(self) -> dict[str, Any]:
        graded = self.outcomes["kept"] + self.outcomes["low_score"]
        if not graded and not self.outcomes:
            return {}
        mean = round(self._score_sum / graded, 3) if graded else None
        return {**dict(self.outcomes), "mean_score": mean}


def conversation(record: Record) -> str:
    """The example as the judge sees it: one ``ROLE: text`` block per turn."""
    blocks = [f"{m['role'].upper()}: {m['content']}" for m in record.messages]
    has_answer = any(m["role"] == "assistant" for m in record.messages)
    if record.chosen is not None and not has_answer:
        blocks.append(f"ASSISTANT: {record.chosen}")
    return "\n\n".join(blocks)


def parse_score(text: str) -> tuple[int | float, str] | None:
    """``(score, reason)`` from a judge's answer, or None when no score from 1 to 10 is found.

    Tries, in order: a JSON object (also inside code fences or surrounded by prose), then
    ``score: 7``-like text, then ``7/10``.
    """
    candidates = [m[1] for m in _FENCED.finditer(text)] + [text]
    for candidate in candidates:
        found = _first_object(candidate)
        if found is not None and "score" in found:
            score = _as_score(found["score"])
            if score is not None:
                reason = found.get("reason", "")
                return score, reason if isinstance(reason, str) else json.dumps(reason)
    loose = _SCORE.search(text) or _SLASH.search(text)
    score = _as_score(loose[1]) if loose else None
    if score is None:
        return None
    why = _REASON.search(text)
    return score, why[1].strip() if why else ""


def _first_object(text: str) -> dict[str, Any] | None:
    decoder = json.JSONDecoder()
    start = text.find("{")
    tries = 0
    while start != -1 and tries < 20:
        try:
            value, _ = decoder.raw_decode(text, start)
        except ValueError:
            value = None
        if isinstance(value, dict):
            return value
        start = text.find("{", start + 1)
        tries += 1
    return None


def _as_score(value: Any) -> int | float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if not isinstance(value, int | float) or not 1 <= value <= 10:
        return None
    return int(value) if float(value).is_integer() else float(value)
