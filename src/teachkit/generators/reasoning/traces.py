"""One trace: split into reasoning and final answer, then checked for the known failures.

A trace is split by think tags (``<think>...</think>``, the tag configurable) when it has them:
the reasoning is inside, the answer after the closing tag. A trace that only closes the tag (the
DeepSeek-R1 chat template opens it in the prompt) reasons up to the closing tag. A trace without
tags is split by its own structure: the answer starts at the line holding the last final-answer
marker (``\\boxed{``, ``#### 42``, "Final answer", a code fence for code problems), and the
reasoning is everything before it. The tags are never stored: the export writes them back in the
template it is asked for.

Flags (:func:`trace_flags`), each also a rejection reason:

* ``truncated``: ``finish_reason`` is ``length``, or the think block never closes;
* ``repetition``: the reasoning or the answer ends in a loop
  (:func:`teachkit.similarity.repetition.trailing_repetition`);
* ``mixed_language``: letters of another script than the problem's
  (:mod:`teachkit.generators.reasoning.language`);
* ``no_answer``: nothing after the reasoning (no closing tag content, no marker);
* ``no_reasoning``: an empty reasoning (an empty think block, or a bare answer).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from teachkit.generators.reasoning.language import mixed_language
from teachkit.similarity.repetition import trailing_repetition

__all__ = [
    "CODE_MARKERS",
    "FLAGS",
    "MATH_MARKERS",
    "Checks",
    "ParsedTrace",
    "parse_trace",
    "trace_flags",
]

#: every flag, in the order that picks a rejected trace's reason
FLAGS = ("truncated", "repetition", "mixed_language", "no_answer", "no_reasoning")

#: where the final answer of a worked math solution starts (the last match wins)
MATH_MARKERS = (
    r"\\boxed\s*\{",
    r"(?m)^[ \t]*####",
    r"(?i)\bfinal answer\b",
    r"(?i)\bthe answer is\b",
)
#: where the solution of a code problem starts: its last fenced code block (a whole block is
#: matched, so an opening fence is never mistaken for a closing one)
CODE_MARKERS = (r"(?ms)^[ \t]*```[^\n]*\n.*?(?:^[ \t]*```|\Z)",)

Structure = Literal["think", "marker", "none"]


@dataclass(frozen=True, slots=True)
class ParsedTrace:
    """A trace split into its parts; ``reasoning`` and ``answer`` hold no tags."""

    reasoning: str
    answer: str
    #: how it was split: think tags, a final-answer marker, or not at all
    structure: Structure
    #: False when a think block opens and never closes
    closed: bool = True


def _strip_tags(text: str, open_tag: str, close_tag: str) -> str:
    return text.replace(open_tag, "").replace(close_tag, "").strip()


def _last_marker(text: str, markers: list[re.Pattern[str]]) -> int | None:
    """The start of the line holding the last marker match, or None."""
    best: int | None = None
    for pattern in markers:
        for match in pattern.finditer(text):
            if best is None or match.start() > best:
                best = match.start()
    if best is None:
        return None
    return text.rfind("\n", 0, best) + 1


def parse_trace(
    text: str,
    *,
    tag: str = "think",
    markers: list[re.Pattern[str]] | None = None,
    mode: Literal["auto", "think", "marker"] = "auto",
) -> ParsedTrace:
    """Split ``text`` into reasoning and answer (see the module docstring)."""
    open_tag, close_tag = f"<{tag}>", f"</{tag}>"
    has_open, has_close = open_tag in text, close_tag in text
    if mode == "think" or (mode == "auto" and (has_open or has_close)):
        if not has_close:
            if not has_open:  # think mode asked for, no tags at all: nothing is reasoning
                return ParsedTrace("", text.strip(), "none")
            start = text.index(open_tag) + len(open_tag)
            return ParsedTrace(_strip_tags(text[start:], open_tag, close_tag), "", "think", False)
        end = text.rindex(close_tag)
        start = text.index(open_tag) + len(open_tag) if has_open else 0
        start = min(start, end)
        reasoning = _strip_tags(text[start:end], open_tag, close_tag)
        answer = _strip_tags(text[end + len(close_tag) :], open_tag, close_tag)
        return ParsedTrace(reasoning, answer, "think")
    split = _last_marker(text, markers or [])
    if split is None:
        return ParsedTrace(text.strip(), "", "none")
    return ParsedTrace(text[:split].strip(), text[split:].strip(), "marker")


@dataclass(frozen=True, slots=True)
class Checks:
    """Which flags are raised, and their thresholds (the recipe's ``checks`` section)."""

    truncation: bool = True
    #: (min_repeats, min_tokens) of a loop, or None: no loop check
    repetition: tuple[float, int] | None = (3.0, 40)
    #: letters of another script that flag a trace, or None: no language check
    mixed_language: int | None = 2
    #: the script family expected (None: the problem's own)
    script: str | None = None
    no_answer: bool = True
    no_reasoning: bool = True


@dataclass(slots=True)
class Flagged:
    flags: list[str] = field(default_factory=list)
    detail: dict[str, Any] = field(default_factory=dict)


def trace_flags(
    text: str, parsed: ParsedTrace, finish_reason: str, problem: str, checks: Checks
) -> Flagged:
    """The flags of one trace, in :data:`FLAGS` order, with what raised each."""
    out = Flagged()
    if checks.truncation and (finish_reason == "length" or not parsed.closed):
        out.flags.append("truncated")
        out.detail["truncated"] = (
            "finish_reason length" if finish_reason == "length" else "the think block never closes"
        )
    if checks.repetition is not None:
        repeats, tokens = checks.repetition
        for part, name in ((parsed.reasoning, "reasoning"), (parsed.answer, "answer")):
            loop = trailing_repetition(part, min_repeats=repeats, min_tokens=tokens)
            if loop is not None:
                out.flags.append("repetition")
                out.detail["repetition"] = {"where": name, **loop.to_dict()}
                break
    if checks.mixed_language is not None:
        mixed = mixed_language(
            text, problem, min_letters=checks.mixed_language, expected=checks.script
        )
        if mixed is not None:
            out.flags.append("mixed_language")
            out.detail["mixed_language"] = mixed.to_dict()
    if checks.no_answer and not parsed.answer and "truncated" not in out.flags:
        out.flags.append("no_answer")
    if checks.no_reasoning and not parsed.reasoning and "truncated" not in out.flags:
        out.flags.append("no_reasoning")
    return out
