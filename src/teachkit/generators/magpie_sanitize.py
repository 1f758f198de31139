"""Cleaning a request that a model wrote after Magpie's pre-query template.

The rules follow the sanitiser of the Magpie repository (``exp/str_utils.py``), kept to the ones
that hold for any model: cut at a template token left in the text, strip, remove a leading role
word (``User:``), numbering (``1.``) or label (``Task:``, ``**Question**``, ``## Prompt:``), cut
before an answer the model started to give (``Answer:``, ``Solution:``, ``## Step 1``), remove
quotes around the whole request. Then a request is dropped when it was cut by the token limit
(``truncated``), is empty (``empty_instruction``), ends with a colon, so that what it asks about
never came (``incomplete``), or has too few or too many words (``too_short``, ``too_long``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from teachkit.filters.rules import length_problem
from teachkit.similarity.text import word_count

__all__ = ["LABELS", "Sanitized", "sanitize"]

#: labels a model may put before the request (Magpie's list)
LABELS = (
    "Task",
    "Prompt",
    "Original Prompt",
    "Question",
    "The Problem",
    "Problem",
    "Scenario",
    "The scenario",
    "Situation",
    "The situation",
    "Context",
    "Challenge",
    "Query",
    "Request",
    "Instructions",
    "Instruction",
    "Descriptions",
    "Description",
)
_ROLE = re.compile(r"^(?:user|human|assistant|system|model|gpt)\s*(?::|\n)\s*", re.IGNORECASE)
_NUMBERING = re.compile(r"^(?:\d+[.)]|[a-z]\))\s+")
_LABEL = re.compile(
    r"^(?:#+\s*|\*\*)?(?:"
    + "|".join(re.escape(label) for label in sorted(LABELS, key=len, reverse=True))
    + r"|Question \d+|Part \d+|Q\d+)(?:\*\*)?\s*[:.]\s*(?:\*\*)?\s*",
    re.IGNORECASE,
)
#: where the model began answering its own request
_ANSWER = re.compile(
    r"\s*(?:\*\*)?\b(?:Answers?|The answer is|Correct answer|The correct answer|Explanation|"
    r"Solution Approach|Solution)(?:\*\*)?:|\s*#{1,3} Step 1\b"
)


@dataclass(slots=True)
class Sanitized:
    """The cleaned request, why it is dropped (None: kept), and what cleaning did."""

    text: str
    reason: str | None = None
    steps: list[str] = field(default_factory=list)
    detail: dict[str, int | str] = field(default_factory=dict)


def _strip_prefixes(text: str, steps: list[str]) -> str:
    """Remove role words, numbering and labels at the start, as often as they repeat."""
    while True:
        for name, pattern in (("role_word", _ROLE), ("numbering", _NUMBERING), ("label", _LABEL)):
            found = pattern.match(text)
            if found and found.end() < len(text):
                text = text[found.end() :].lstrip()
                steps.append(name)
                break
        else:
            return text


def sanitize(
    raw: str,
    *,
    finish_reason: str = "stop",
    tokens: Sequence[str] = (),
    min_words: int | None = None,
    max_words: int | None = None,
    clean: bool = True,
) -> Sanitized:
    """Clean ``raw`` (a model's text after the pre-query template); ``tokens`` are the chat
    template's special tokens, the first of which ends the request. ``clean=False`` only strips
    whitespace before the checks."""
    steps: list[str] = []
    if finish_reason == "length":
        return Sanitized(raw.strip(), "truncated", steps)
    text = raw if clean else raw.strip()
    if clean:
        text = _clean(text, tokens, steps)
    if not text:
        return Sanitized("", "empty_instruction", steps)
    if text.endswith(":"):
        return Sanitized(text, "incomplete", steps)
    words = word_count(text)
    problem = length_problem(words, min_words, max_words)
    if problem is not None:
        return Sanitized(text, problem, steps, {"words": words})
    return Sanitized(text, None, steps)


def _clean(text: str, tokens: Sequence[str], steps: list[str]) -> str:
    cuts = [text.find(token) for token in tokens if token and token in text]
    if cuts:
        text = text[: min(cuts)]
        steps.append("cut_at_token")
    text = _strip_prefixes(text.strip(), steps)
    answer = _ANSWER.search(text)
    if answer is not None and answer.start() > 0:
        text = text[: answer.start()].rstrip()
        steps.append("cut_at_answer")
    for quote in ('"', "**", "\u201c"):
        closing = "\u201d" if quote == "\u201c" else quote
        if len(text) > 2 * len(quote) and text.startswith(quote) and text.endswith(closing):
            inner = text[len(quote) : -len(closing)]
            if quote not in inner:
                text = inner.strip()
                steps.append("quotes")
    return text
