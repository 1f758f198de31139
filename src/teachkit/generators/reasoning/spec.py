"""The recipe keys of the ``reasoning`` generator (see docs/reasoning.md)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, field_validator, model_validator

from teachkit.filters.verify import VerifierSpec
from teachkit.generators.reasoning.judge import JudgeOptions
from teachkit.generators.reasoning.language import SCRIPTS
from teachkit.generators.reasoning.problems import ProblemsFile
from teachkit.generators.reasoning.traces import Checks
from teachkit.generators.reasoning.writing import ProblemsGenerate
from teachkit.prompts.templates import compile_template
from teachkit.recipe.base import StrictModel
from teachkit.recipe.kinds import GeneratorSpecBase, VerifierSpecBase
from teachkit.recipe.paths import InputPath
from teachkit.verifiers.math import MathSpec

if TYPE_CHECKING:
    from teachkit.generators.base import GeneratorContext
    from teachkit.generators.reasoning.generator import ReasoningGenerator

__all__ = [
    "CODE_PROMPT",
    "MATH_PROMPT",
    "ChecksSpec",
    "LanguageCheck",
    "ParseSpec",
    "ProblemsSpec",
    "ReasoningSpec",
    "RepetitionCheck",
]

#: DeepSeek-R1's recommended instruction for math problems
MATH_PROMPT = (
    "{{ problem }}\n\nPlease reason step by step, and put your final answer within \\boxed{}."
)
CODE_PROMPT = (
    "{{ problem }}\n\nThink it through step by step, then give your complete solution as one "
    "Python code block (```python ... ```)."
)


class ProblemsSpec(ProblemsFile):
    """``problems: {file: ...}`` (a JSONL file) or ``problems: {generate: {...}}`` (the teacher
    writes them)."""

    file: InputPath | None = Field(default=None, min_length=1)  # type: ignore[assignment]
    generate: ProblemsGenerate | None = None

    @model_validator(mode="after")
    def _one_source(self) -> ProblemsSpec:
        if (self.file is None) == (self.generate is None):
            raise ValueError(
                "give exactly one of 'file' (a JSONL file of problems) and 'generate' "
                "(the teacher writes the problems)"
            )
        if self.generate is not None:
            used = [k for k in ProblemsFile.model_fields if k != "file" and getattr(self, k)]
            if used:
                raise ValueError(f"{', '.join(used)} only apply to problems read from a file")
        return self


class ParseSpec(StrictModel):
    """How a trace is split into reasoning and final answer."""

    #: the think tag (``think`` -> ``<think>...</think>``)
    tag: str = Field(default="think", pattern=r"^[A-Za-z_][\w\-]*$")
    #: ``auto``: think tags when the trace has them, else the final-answer markers
    mode: Literal["auto", "think", "marker"] = "auto"
    #: regexes where the final answer starts (the last match wins; default: boxed, ####,
    #: "final answer", "the answer is" for math, a code fence for code)
    markers: list[str] | None = None

    @field_validator("markers")
    @classmethod
    def _compile(cls, value: list[str] | None) -> list[str] | None:
        for pattern in value or []:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"the marker {pattern!r} is not a valid regex: {exc}") from exc
        return value


class RepetitionCheck(StrictModel):
    #: a loop repeats its unit at least this many times...
    min_repeats: float = Field(default=3.0, ge=1.5, le=1000)
    #: ...and covers at least this many tokens at the end of the reasoning or the answer
    min_tokens: int = Field(default=40, ge=2, le=100_000)


class LanguageCheck(StrictModel):
    #: letters of another script that flag a trace
    min_letters: int = Field(default=2, ge=1)
    #: the script family expected (default: the problem's own)
    script: str | None = None

    @field_validator("script")
    @classmethod
    def _known(cls, value: str | None) -> str | None:
        if value is not None and value not in SCRIPTS:
            raise ValueError(f"unknown script {value!r}; use one of {', '.join(SCRIPTS)}")
        return value


class ChecksSpec(StrictModel):
    """Which flags reject a trace (``false`` switches a check off)."""

    truncation: bool = True
    repetition: RepetitionCheck | bool = True
    mixed_language: LanguageCheck | bool = True
    no_answer: bool = True
    no_reasoning: bool = True

    def to_checks(self) -> Checks:
        repetition = RepetitionCheck() if self.repetition is True else self.repetition
        language = LanguageCheck() if self.mixed_language is True else self.mixed_language
        return Checks(
            truncation=self.truncation,
            repetition=(repetition.min_repeats, repetition.min_tokens) if repetition else None,
            mixed_language=language.min_letters if language else None,
            script=language.script if language else None,
            no_answer=self.no_answer,
            no_reasoning=self.no_reasoning,
        )


class ReasoningSpec(GeneratorSpecBase):
    """``generator: {kind: reasoning, problems: {...}, traces: 4, verifier: {kind: math}}``."""

    kind: Literal["reasoning"] = "reasoning"
    problems: ProblemsSpec
    #: traces drawn per problem (native ``n`` where the backend has it)
    traces: int = Field(default=4, ge=1, le=64)
    #: system prompt sent with each problem (DeepSeek-R1 recommends none)
    system: str | None = None
    #: the solving prompt (variables: problem, entry_point and the problem's other fields);
    #: default: R1's "reason step by step ... \\boxed{}" for math, a code-block request for code
    prompt: str | None = Field(default=None, min_length=1)
    #: the training example's user turn: the prompt as sent, or the bare problem
    user_turn: Literal["prompt", "problem"] = "prompt"
    parse: ParseSpec = Field(default_factory=ParseSpec)
    checks: ChecksSpec = Field(default_factory=ChecksSpec)
    #: what checks a trace's final answer (``null``: no verifier, flags only)
    verifier: VerifierSpec | None = Field(default_factory=MathSpec)
    #: a second opinion by the teacher, recorded beside the verifier's verdict
    judge: JudgeOptions | None = None
    #: accepted records: the verified traces, or every trace (flags and verdicts in meta)
    keep: Literal["verified", "all"] = "verified"
    #: let the python verifier run with a weaker sandbox when the full one is not available
    allow_weak_sandbox: bool = False

    @model_validator(mode="after")
    def _templates(self) -> ReasoningSpec:
        for name in ("prompt", "system"):
            source = getattr(self, name)
            if source is not None:
                compile_template(source, f"generator.{name}")  # syntax now, names at build
        return self

    @property
    def code(self) -> bool:
        """Code problems (unit tests) rather than math (a final answer)."""
        verifier: Any = self.verifier
        if isinstance(verifier, VerifierSpecBase) and verifier.kind == "python":
            return True
        if self.problems.generate is not None:
            return "tests" in self.problems.generate.output.field_names()
        return (
            self.problems.preset in ("humaneval", "mbpp") or self.problems.tests_field is not None
        )

    def build(self, ctx: GeneratorContext) -> ReasoningGenerator:
        from teachkit.generators.reasoning.generator import ReasoningGenerator

        return ReasoningGenerator(self, ctx)
