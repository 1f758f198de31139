"""The optional judge: a second opinion on a problem's traces, next to the verifier's.

One request per problem shows the teacher (temperature 0, so a resumed run finds it in the cache)
the problem, the reference answer when there is one, and the final answers of the traces worth
grading (those without a flag), and asks for one score from 1 to 10 each, as JSON
``{"grades": [{"score": 8, "reason": "..."}, ...]}``. Scores are read back with the
structured-output parser; a score at or above ``threshold`` means the judge calls the trace
correct. Each verdict is stored beside the verifier's, with whether the two agree: an LLM judge is
the weaker check (a later Math-Verify pass over one public set flagged tens of thousands of
judge-approved answers), so by default it only records; ``veto: true`` also rejects the traces it
fails.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from teachkit.errors import RecipeError
from teachkit.generators.structured import StructuredOutputError, parse
from teachkit.prompts.templates import Template, compile_template
from teachkit.recipe.base import StrictModel
from teachkit.teachers.backend import Request

__all__ = ["DEFAULT_JUDGE_TEMPLATE", "GRADES_SCHEMA", "JudgeOptions", "TraceJudge"]

DEFAULT_JUDGE_TEMPLATE = """\
You check worked solutions to a problem.

Problem:
{{ problem }}
{% if reference %}

Reference answer: {{ reference }}
{% endif %}
{% for solution in solutions %}

Solution {{ loop.index }}:
{{ solution }}
{% endfor %}

{{ rubric }}

Answer with JSON only: {"grades": [{"score": <integer from 1 to 10>, "reason": "<one short \
sentence>"}, ...]}, exactly {{ count }} grades, one per solution, in order."""

DEFAULT_RUBRIC = (
    "Score each solution from 1 to 10: 10 when its final answer is correct and its reasoning "
    "sound, 5 when the answer is right but the reasoning has gaps, 1 when the answer is wrong."
)

_SYSTEM = "You are a strict, fair grader. You answer with one JSON object and nothing else."

#: the judge's answer: one grade per solution shown
GRADES_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "grades": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"score": {"type": "integer"}, "reason": {"type": "string"}},
                "required": ["score", "reason"],
                "additionalProperties": False,
            },
        }
    },
    "required": ["grades"],
    "additionalProperties": False,
}

_VARIABLES = frozenset({"problem", "reference", "solutions", "count", "rubric"})


class JudgeOptions(StrictModel):
    """``judge: {threshold: 7}`` in a reasoning recipe (the recipe's teacher answers)."""

    #: a score at or above this calls a trace correct
    threshold: int = Field(default=7, ge=1, le=10)
    rubric: str = Field(default=DEFAULT_RUBRIC, min_length=1)
    #: the judge prompt (variables: problem, reference, solutions, count, rubric)
    template: str = Field(default=DEFAULT_JUDGE_TEMPLATE, min_length=1)
    #: show each trace's reasoning too, not only its final answer (longer, costlier prompts)
    show_reasoning: bool = False
    #: reject the traces the judge fails, not only record its verdict
    veto: bool = False
    max_tokens: int = Field(default=1024, ge=16, le=32768)

    @field_validator("template")
    @classmethod
    def _template(cls, value: str) -> str:
        try:
            compile_template(value, "generator.judge.template").check_variables(_VARIABLES)
        except RecipeError as exc:
            raise ValueError(str(exc)) from exc
        return value


class TraceJudge:
    """Builds the judge's request for a problem and reads its grades."""

    def __init__(self, options: JudgeOptions, *, native_json: bool) -> None:
        self.options = options
        self.template: Template = compile_template(options.template, "generator.judge.template")
        self.native_json = native_json

    def request(
        self, problem: str, reference: str | None, solutions: list[tuple[str, str]]
    ) -> Request:
        """The request grading ``solutions`` (pairs of reasoning and final answer), in order."""
        shown = [
            f"{reasoning}\n\nFinal answer:\n{answer}"
            if self.options.show_reasoning and reasoning
            else answer
            for reasoning, answer in solutions
        ]
        prompt = self.template.render(
            problem=problem,
            reference=reference or "",
            solutions=shown,
            count=len(shown),
            rubric=self.options.rubric,
        )
        return Request(
            messages=[{"role": "system", "content": _SYSTEM}, {"role": "user", "content": prompt}],
            options={"temperature": 0.0, "max_tokens": self.options.max_tokens},
            json_schema=GRADES_SCHEMA if self.native_json else None,
            sample=0,
        )

    def grades(self, text: str, count: int) -> list[dict[str, Any]] | None:
        """``count`` grades ``{score, reason, passed}`` from the judge's answer, or None."""
        try:
            found = parse(text, GRADES_SCHEMA)
        except StructuredOutputError:
            return None
        grades = found.get("grades")
        if not isinstance(grades, list) or len(grades) != count:
            return None
        out: list[dict[str, Any]] = []
        for grade in grades:
            score = grade.get("score")
            if not isinstance(score, int) or not 1 <= score <= 10:
                return None
            reason = str(grade.get("reason") or "")[:300]
            passed = score >= self.options.threshold
            out.append({"passed": passed, "score": score, "reason": reason})
        return out
