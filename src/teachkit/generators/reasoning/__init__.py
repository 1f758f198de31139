"""The ``reasoning`` generator: several verified reasoning traces per problem (docs/reasoning.md).

Problems come from a JSONL file or are written by the teacher; each gets N traces, each trace is
split into reasoning and final answer, flagged (truncated, repetition, mixed language, ...) and
checked by a verifier (math, python, or a plugin's), optionally graded by the teacher as a second
opinion; every trace is kept, the verified ones in accepted/ by default, with the problem's pass
rate as its difficulty.
"""

from teachkit.generators.reasoning.generator import DEFAULT_SAMPLING, ReasoningGenerator
from teachkit.generators.reasoning.judge import JudgeOptions
from teachkit.generators.reasoning.problems import Problem, load_problems
from teachkit.generators.reasoning.spec import ReasoningSpec
from teachkit.generators.reasoning.traces import ParsedTrace, parse_trace, trace_flags

__all__ = [
    "DEFAULT_SAMPLING",
    "JudgeOptions",
    "ParsedTrace",
    "Problem",
    "ReasoningGenerator",
    "ReasoningSpec",
    "load_problems",
    "parse_trace",
    "trace_flags",
]
