"""The ``templated`` generator: render a prompt per job from diversity axes, keep the answer.

Each job ``i`` picks axis values deterministically for index ``i`` (so a resumed run renders the
same prompts), renders the teacher's system and user prompts, and turns the answer into a
training example. Without ``output`` the example is (rendered prompt -> answer). With ``output``
the teacher answers JSON fields, which the ``messages`` templates map onto the training turns;
an answer that does not parse is retried a bounded number of times, else rejected with the reason.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any, Literal

from pydantic import Field, model_validator

from teachkit.generators.base import Generator, GeneratorContext, Job, Outcome
from teachkit.generators.structured import (
    OutputSpec,
    StructuredOutputError,
    instruction,
    parse,
    use_native,
)
from teachkit.generators.structured import schema as output_schema
from teachkit.prompts.axes import Axes, AxisSampler, AxisSampling
from teachkit.prompts.templates import Template, compile_template
from teachkit.recipe.base import StrictModel
from teachkit.recipe.kinds import GeneratorSpecBase
from teachkit.records import Message, Record, Rejection
from teachkit.teachers.backend import Request, Response

__all__ = ["MessageTemplates", "TemplatedGenerator", "TemplatedSpec"]

#: variables every ``messages`` template may use besides the axes and output fields
_BUILTINS = ("prompt", "answer", "system")


class MessageTemplates(StrictModel):
    """How an answer becomes training turns (Jinja2 templates)."""

    system: str | None = None
    user: str = "{{ prompt }}"
    assistant: str = "{{ answer }}"


class TemplatedSpec(GeneratorSpecBase):
    kind: Literal["templated"] = "templated"
    #: system prompt sent to the teacher (template; optional)
    system: str | None = None
    #: user prompt sent to the teacher (template over the axes)
    prompt: str = Field(min_length=1)
    #: diversity axes: name -> values (inline list, weighted values, or a file)
    axes: Axes = Field(default_factory=dict)
    axis_sampling: AxisSampling = "cartesian"
    #: fields the teacher must answer as JSON (a field list or a JSON schema)
    output: OutputSpec | None = None
    #: training turns built from the answer; default: user = the prompt, assistant = the answer
    messages: MessageTemplates = Field(default_factory=MessageTemplates)

    @model_validator(mode="after")
    def _check_templates(self) -> TemplatedSpec:
        axes = set(self.axes)
        for name, source in (("generator.prompt", self.prompt), ("generator.system", self.system)):
            if source is not None:
                compile_template(source, name).check_variables(axes)
        fields = set(self.output.field_names()) if self.output else set()
        available = axes | fields | set(_BUILTINS)
        for role in ("system", "user", "assistant"):
            source = getattr(self.messages, role)
            if source is not None:
                compile_template(source, f"generator.messages.{role}").check_variables(available)
        return self

    def build(self, ctx: GeneratorContext) -> TemplatedGenerator:
        return TemplatedGenerator(self, ctx)


class TemplatedGenerator(Generator):
    kind = "templated"
    spec: TemplatedSpec

    def __init__(self, spec: TemplatedSpec, ctx: GeneratorContext) -> None:
        super().__init__(spec, ctx)
        self.sampler = AxisSampler(
            spec.axes,
            spec.axis_sampling,
            seed=ctx.seed,
            base_dir=ctx.base_dir,
            allowed=ctx.allowed_paths,
        )
        self.prompt = compile_template(spec.prompt, "generator.prompt")
        self.system = compile_template(spec.system, "generator.system") if spec.system else None
        self.turns: dict[str, Template] = {
            role: compile_template(source, f"generator.messages.{role}")
            for role in ("system", "user", "assistant")
            if (source := getattr(spec.messages, role)) is not None
        }
        self.schema = output_schema(spec.output) if spec.output else None
        self.native = spec.output is not None and use_native(spec.output, ctx.capabilities)
        self.template_hash = self.prompt.hash
        self.next_index = 0
        self.accepted_axes: list[dict[str, str]] = []
        self.parse_failures: Counter[str] = Counter()
        self._request(0, self.sampler.values(0), 0)  # a prompt that cannot render fails here

    # --- jobs -------------------------------------------------------------------------------
    def restore(self, state: Any) -> None:
        roots = [
            job for job in state.jobs if job.stage == "generate" and job.context["attempt"] == 0
        ]
        self.next_index = max((job.context["index"] + 1 for job in roots), default=0)
        self.accepted_axes = [dict(r.meta.get("axes") or {}) for r in state.accepted]

    def _request(self, index: int, axes: dict[str, str], attempt: int) -> Request:
        user = self.prompt.render(**axes)
        if self.schema is not None and not self.native:
            user = f"{user}\n\n{instruction(self.spec.output)}" if self.spec.output else user
        messages: list[Message] = []
        if self.system is not None:
            messages.append({"role": "system", "content": self.system.render(**axes)})
        messages.append({"role": "user", "content": user})
        return Request(
            messages=messages,
            options=dict(self.ctx.sampling),
            json_schema=self.schema if self.native else None,
            # distinct per job, so a prompt repeated by a later axis cycle gets a fresh draw
            sample=index * 1000 + attempt,
        )

    def _job(self, index: int, attempt: int) -> Job:
        axes = self.sampler.values(index)
        key = f"gen:{index:06d}" if attempt == 0 else f"gen:{index:06d}:a{attempt}"
        return Job(
            key=key,
            stage="generate",
            request=self._request(index, axes, attempt),
            context={"index": index, "attempt": attempt, "axes": axes},
        )

    def next_job(self) -> Job | None:
        job = self._job(self.next_index, 0)
        self.next_index += 1
        return job

    # --- answers ----------------------------------------------------------------------------
    def on_response(self, job: Job, response: Response) -> Outcome:
        axes: dict[str, str] = job.context["axes"]
        answer = response.text.strip()
        variables: dict[str, Any] = dict(axes)
        sent = job.request.messages or []
        if self.schema is not None and not self.native:  # the prompt carries the JSON instruction
            prompt_text = self.prompt.render(**axes)
        else:  # the rendered prompt is the user turn that was sent
            prompt_text = sent[-1]["content"]
        variables.update(prompt=prompt_text, answer=answer)
        variables["system"] = sent[0]["content"] if self.system is not None else ""
        meta = self._meta(job, response)
        if self.schema is not None:
            repairs: list[str] = []
            try:
                fields = parse(
                    answer, self.schema, finish_reason=response.finish_reason, repairs=repairs
                )
            except StructuredOutputError as exc:
                return self._parse_failure(job, variables, meta, exc.reason)
            variables.update(fields)
            meta["fields"] = fields
            if repairs:
                meta["repairs"] = repairs
        elif response.finish_reason == "length" or not answer:
            reason = "truncated" if answer else "empty_answer"
            record = self._record(variables, meta, fallback=True)
            return Outcome(rejected=[Rejection(record, "generator", reason)])
        return Outcome(candidates=[self._record(variables, meta)])

    def _parse_failure(
        self, job: Job, variables: dict[str, Any], meta: dict[str, Any], reason: str
    ) -> Outcome:
        self.parse_failures[reason] += 1
        attempt = int(job.context["attempt"]) + 1
        limit = self.spec.output.max_attempts if self.spec.output else 1
        record = self._record(variables, meta, fallback=True)
        detail = {"attempt": attempt, "retrying": attempt < limit}
        outcome = Outcome(rejected=[Rejection(record, "structured_output", reason, detail)])
        if attempt < limit:
            outcome.jobs.append(self._job(int(job.context["index"]), attempt))
        return outcome

    def _meta(self, job: Job, response: Response) -> dict[str, Any]:
        meta = self.ctx.provenance()
        meta.update(
            job=job.key,
            axes=job.context["axes"],
            template_hash=self.template_hash,
            finish_reason=response.finish_reason,
            model=response.model or self.ctx.teacher_model,
            created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        )
        return meta

    def _record(
        self, variables: dict[str, Any], meta: dict[str, Any], fallback: bool = False
    ) -> Record:
        messages: list[Message] = []
        for role in ("system", "user", "assistant"):
            template = self.turns.get(role)
            if template is None:
                continue
            try:
                content = template.render(**variables)
            except Exception:
                if not fallback:
                    raise
                content = str(variables.get("answer" if role == "assistant" else "prompt", ""))
            if content or role != "system":
                messages.append({"role": role, "content": content})
        return Record(messages=messages, meta=meta)

    def on_accepted(self, record: Record) -> None:
        self.accepted_axes.append(dict(record.meta.get("axes") or {}))

    def stats(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.sampler.names:
            out["axes"] = self.sampler.coverage(self.accepted_axes).summary()
        if self.parse_failures:
            out["parse_failures"] = dict(self.parse_failures)
        return out
