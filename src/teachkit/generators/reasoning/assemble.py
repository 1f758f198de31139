"""Turning what the teacher drew for a problem into trace records: the solving prompt, then each
trace parsed, flagged and given its meta (problem, trace index, finish reason, flags, the
reference it is checked against)."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

from teachkit.generators.base import GeneratorContext
from teachkit.generators.reasoning.problems import Problem
from teachkit.generators.reasoning.spec import CODE_PROMPT, MATH_PROMPT, ReasoningSpec
from teachkit.generators.reasoning.traces import (
    CODE_MARKERS,
    MATH_MARKERS,
    Flagged,
    ParsedTrace,
    parse_trace,
    trace_flags,
)
from teachkit.prompts.templates import compile_template
from teachkit.records import Message, Record
from teachkit.verifiers.base import Verdict

__all__ = ["DEFAULT_SAMPLING", "Trace", "TraceBuilder"]

#: what DeepSeek-R1 recommends; a value in the recipe's teacher.sampling wins
DEFAULT_SAMPLING = {"temperature": 0.6, "top_p": 0.95}


@dataclass(slots=True)
class Trace:
    """One drawn trace on its way to a record (``record`` is None when its request failed)."""

    index: int
    drawn: dict[str, Any]
    record: Record | None = None
    parsed: ParsedTrace | None = None
    flagged: Flagged | None = None
    verdict: Verdict | None = None
    judge: dict[str, Any] | None = None


class TraceBuilder:
    """The solving prompt of a problem, and the records of its traces."""

    def __init__(self, spec: ReasoningSpec, ctx: GeneratorContext, *, native: bool) -> None:
        self.spec = spec
        self.ctx = ctx
        self.native = native
        self.prompt = compile_template(
            spec.prompt or (CODE_PROMPT if spec.code else MATH_PROMPT), "generator.prompt"
        )
        self.system = compile_template(spec.system, "generator.system") if spec.system else None
        options = {k: v for k, v in ctx.sampling.items() if k != "n"}
        for name, value in DEFAULT_SAMPLING.items():
            options.setdefault(name, value)
        #: the sampling options of every trace request (``n`` added when drawn natively)
        self.options = options
        markers = spec.parse.markers or list(CODE_MARKERS if spec.code else MATH_MARKERS)
        self.markers = [re.compile(m) for m in markers]
        self.checks = spec.checks.to_checks()

    def check_variables(self, available: set[str]) -> None:
        for template in (self.prompt, self.system):
            if template is not None:
                template.check_variables(available | {"problem", "entry_point"})

    def variables(self, problem: Problem) -> dict[str, Any]:
        return {**problem.fields, "problem": problem.text, "entry_point": problem.entry_point or ""}

    def messages(self, problem: Problem) -> list[Message]:
        variables = self.variables(problem)
        messages: list[Message] = []
        if self.system is not None:
            messages.append({"role": "system", "content": self.system.render(**variables)})
        messages.append({"role": "user", "content": self.prompt.render(**variables)})
        return messages

    def user_turn(self, problem: Problem, sent: str | None = None) -> str:
        """The training example's user turn (``sent``: the prompt as sent, when at hand)."""
        if self.spec.user_turn == "problem":
            return problem.text
        return sent if sent is not None else self.prompt.render(**self.variables(problem))

    def trace(
        self, problem: Problem, index: int, drawn: dict[str, Any], sent: str | None = None
    ) -> Trace:
        trace = Trace(index=index, drawn=drawn)
        if "error" in drawn:
            return trace
        text, finish = str(drawn["text"]), str(drawn.get("finish_reason") or "stop")
        parse = self.spec.parse
        parsed = parse_trace(text, tag=parse.tag, markers=self.markers, mode=parse.mode)
        flagged = trace_flags(text, parsed, finish, problem.text, self.checks)
        trace.parsed, trace.flagged = parsed, flagged
        trace.record = Record(
            messages=[
                {"role": "user", "content": self.user_turn(problem, sent)},
                {"role": "assistant", "content": parsed.answer},
            ],
            reasoning=parsed.reasoning or None,
            meta=self._meta(problem, index, drawn, parsed, flagged),
        )
        return trace

    def _meta(
        self,
        problem: Problem,
        index: int,
        drawn: dict[str, Any],
        parsed: ParsedTrace,
        flagged: Flagged,
    ) -> dict[str, Any]:
        meta = self.ctx.provenance()
        meta["sampling"] = {**self.options, "n": self.spec.traces if self.native else 1}
        meta.update(
            job=drawn["job"],
            stage="sample",
            problem_id=problem.id,
            problem=problem.text,
            # the export's split keeps a problem's traces on one side
            group=f"problem:{problem.id}",
            trace_index=index,
            traces=self.spec.traces,
            finish_reason=drawn.get("finish_reason") or "stop",
            structure=parsed.structure,
            flags=list(flagged.flags),
            template_hash=self.prompt.hash,
            model=drawn.get("model") or self.ctx.teacher_model,
            created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        )
        if flagged.detail:
            meta["flag_detail"] = flagged.detail
        for name in ("answer", "solution", "tests", "entry_point"):
            value = getattr(problem, name)
            if value is not None:
                meta[name] = value
        if problem.source == "teacher":
            meta["axes"] = {k: v for k, v in problem.fields.items() if isinstance(v, str)}
        return meta
