"""Problems written by the teacher: a prompt over diversity axes, answered as JSON fields.

``problems: {generate: {...}}`` asks the teacher for one problem per job, with its reference
answer (math) or its unit tests (code), through the same axes and structured-output machinery as
the ``templated`` generator: the axis values for job ``i`` are fixed by ``i``, the answer is
parsed and safely repaired, and an unreadable answer is asked again up to ``max_attempts`` times.
The output fields must include ``problem`` and either ``answer`` or ``tests`` (``entry_point`` is
read too); any other field, and the axis values, become template variables of the solving prompt.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from teachkit.generators.base import GeneratorContext, Job
from teachkit.generators.reasoning.problems import Problem
from teachkit.generators.structured import (
    FieldSpec,
    OutputSpec,
    StructuredOutputError,
    instruction,
    parse,
    schema,
    use_native,
)
from teachkit.prompts.axes import Axes, AxisSampler, AxisSampling
from teachkit.prompts.templates import compile_template
from teachkit.recipe.base import StrictModel
from teachkit.records import Message
from teachkit.teachers.backend import Request, Response

__all__ = ["DEFAULT_WRITE_PROMPT", "ProblemWriter", "ProblemsGenerate"]

DEFAULT_WRITE_PROMPT = (
    "Write one new, self-contained math word problem that takes a few steps of reasoning and "
    "has a single numeric answer. Give the problem and its final answer."
)


def _default_output() -> OutputSpec:
    return OutputSpec(
        fields={
            "problem": FieldSpec(description="the problem statement, complete and unambiguous"),
            "answer": FieldSpec(description="the final answer only (a number or expression)"),
        }
    )


class ProblemsGenerate(StrictModel):
    """``problems: {generate: {prompt: ..., axes: {...}}}``: the teacher writes the problems."""

    #: the teacher's prompt for one problem (a template over the axes)
    prompt: str = Field(default=DEFAULT_WRITE_PROMPT, min_length=1)
    system: str | None = None
    axes: Axes = Field(default_factory=dict)
    axis_sampling: AxisSampling = "cartesian"
    #: the JSON fields asked for: ``problem`` plus ``answer`` or ``tests`` (and ``entry_point``)
    output: OutputSpec = Field(default_factory=_default_output)
    #: write at most this many problems (default: as many as the record count needs)
    count: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _check(self) -> ProblemsGenerate:
        axes = set(self.axes)
        for name, source in (("prompt", self.prompt), ("system", self.system)):
            if source is not None:
                compile_template(source, f"generator.problems.generate.{name}").check_variables(
                    axes
                )
        names = set(self.output.field_names())
        if "problem" not in names or not names & {"answer", "tests"}:
            raise ValueError(
                "the output fields must include 'problem' and 'answer' (or 'tests' for code "
                f"problems); got {sorted(names)}"
            )
        return self


class ProblemWriter:
    """Renders the problem-writing jobs and reads their answers into :class:`Problem`."""

    def __init__(self, spec: ProblemsGenerate, ctx: GeneratorContext) -> None:
        self.spec = spec
        self.sampler = AxisSampler(
            spec.axes,
            spec.axis_sampling,
            seed=ctx.seed,
            base_dir=ctx.base_dir,
            allowed=ctx.allowed_paths,
        )
        self.prompt = compile_template(spec.prompt, "generator.problems.generate.prompt")
        self.system = (
            compile_template(spec.system, "generator.problems.generate.system")
            if spec.system
            else None
        )
        self.schema = schema(spec.output)
        self.native = use_native(spec.output, ctx.capabilities)
        options = {k: v for k, v in ctx.sampling.items() if k != "n"}
        self.options = options
        self.template_hash = self.prompt.hash

    @property
    def max_attempts(self) -> int:
        return self.spec.output.max_attempts

    def job(self, index: int, attempt: int = 0) -> Job:
        axes = self.sampler.values(index)
        user = f"{self.prompt.render(**axes)}\n\n{instruction(self.spec.output)}"
        messages: list[Message] = []
        if self.system is not None:
            messages.append({"role": "system", "content": self.system.render(**axes)})
        messages.append({"role": "user", "content": user})
        request = Request(
            messages=messages,
            options=dict(self.options),
            json_schema=self.schema if self.native else None,
            sample=index * 1000 + attempt,
        )
        key = f"problem:{index:06d}" if attempt == 0 else f"problem:{index:06d}:a{attempt}"
        context = {"index": index, "attempt": attempt, "axes": axes}
        return Job(key=key, stage="problem", request=request, context=context)

    def read(self, job: Job, response: Response) -> Problem:
        """The problem in the answer; raises StructuredOutputError with a short reason."""
        fields = parse(response.text, self.schema, finish_reason=response.finish_reason)
        index = int(job.context["index"])
        statement = str(fields.get("problem") or "").strip()
        if not statement:
            raise StructuredOutputError("schema:min_length:problem", "the problem is empty")
        tests = fields.get("tests")
        answer = fields.get("answer")
        extra: dict[str, Any] = dict(job.context.get("axes") or {})
        extra.update(
            {
                k: v
                for k, v in fields.items()
                if k not in ("problem", "answer", "tests", "entry_point")
                and isinstance(v, str | int | float | bool)
            }
        )
        return Problem(
            id=f"g{index:06d}",
            index=index,
            text=statement,
            answer=None if answer is None else str(answer).strip(),
            tests=[str(t) for t in tests] if isinstance(tests, list) else tests,
            entry_point=str(fields["entry_point"]) if fields.get("entry_point") else None,
            source="teacher",
            fields=extra,
        )

    def coverage(self, axes: list[dict[str, str]]) -> dict[str, Any]:
        if not self.sampler.names:
            return {}
        return self.sampler.coverage(axes).summary()
