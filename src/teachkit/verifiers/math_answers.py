"""Finding the final answer in a worked solution, and comparing it with a reference.

Pure functions used by the ``math`` verifier's worker processes and by the reasoning generator;
the comparison itself is Math-Verify's, imported only when it runs.
"""

from __future__ import annotations

import re
import sys
from typing import Any, Literal

__all__ = ["Extractor", "as_math", "compare_answers", "extract_answer", "find_boxed"]

Extractor = Literal["boxed", "hashes", "answer_is"]
_EXTRACTORS: tuple[Extractor, ...] = ("boxed", "hashes", "answer_is")

_BOX_START = re.compile(r"\\(?:boxed|fbox)\s*\{")
_BOX_BARE = re.compile(r"\\boxed[ \t]+([^\s${}]+)")
_HASHES = re.compile(r"####[ \t]*(.+?)[ \t]*$", re.MULTILINE)
_ANSWER_IS = re.compile(
    r"\b(?:final[ \t]+)?answer\b[ \t*]*(?:is\b[ \t]*:?|:|=)[ \t*]*(.+)", re.IGNORECASE
)
_NUMBER = re.compile(r"[-+]?\d[\d,]*(?:\.\d+)?")
#: a number followed by plain words ("18 dollars", "1/2 cup", "50 percent")
_NUMBER_WORDS = re.compile(
    r"^(?P<num>[-+]?\d[\d,]*(?:\.\d+)?(?:/\d+)?)\s*(?P<pct>%|percent\b)?\s*[A-Za-z][A-Za-z\s./]*$"
)


# --- extraction ---------------------------------------------------------------------------------
def find_boxed(text: str, which: Literal["last", "first"] = "last") -> str | None:
    """The content of the last (or first) ``\\boxed{...}`` / ``\\fbox{...}`` in ``text``, with
    nested braces and escaped braces (``\\{``) handled; None when there is no balanced box."""
    found: list[tuple[int, str]] = []
    for match in _BOX_START.finditer(text):
        depth, i = 1, match.end()
        while i < len(text) and depth:
            char = text[i]
            if char == "\\":
                i += 2
                continue
            depth += {"{": 1, "}": -1}.get(char, 0)
            i += 1
        if depth == 0:
            found.append((match.start(), text[match.end() : i - 1]))
    found += [(m.start(), m[1]) for m in _BOX_BARE.finditer(text)]
    if not found:
        return None
    found.sort()
    return (found[-1] if which == "last" else found[0])[1]


def _last_group(pattern: re.Pattern[str], text: str) -> str | None:
    last = None
    for match in pattern.finditer(text):
        last = match
    if last is None:
        return None
    if "answer" in pattern.groupindex:
        return last["answer"]
    return last[1] if pattern.groups else last[0]


def _clean(answer: str | None) -> str | None:
    if answer is None:
        return None
    answer = answer.strip().strip("*").strip()
    while answer.endswith((".", ",", ";")) and not answer.endswith("\\."):
        answer = answer[:-1].rstrip()
    return answer or None


def extract_answer(
    text: str,
    *,
    patterns: list[re.Pattern[str]] | None = None,
    extract: list[Extractor] | None = None,
    box: Literal["last", "first"] = "last",
    last_number: bool = False,
) -> tuple[str, str] | None:
    """``(answer, how)``: the final answer of a worked solution and the method that found it.

    The recipe's ``patterns`` are tried first, in order (the group named ``answer``, else group 1,
    else the whole match; the last match in the text wins), then the built-in extractors in the
    order of ``extract`` (default: boxed, hashes, answer_is), then, when ``last_number`` is set,
    the last number in the text. None when nothing is found.
    """
    for index, pattern in enumerate(patterns or []):
        found = _clean(_last_group(pattern, text))
        if found:
            return found, f"pattern:{index}"
    for method in extract if extract is not None else _EXTRACTORS:
        if method == "boxed":
            found = _clean(find_boxed(text, box))
        else:
            found = _clean(_last_group(_HASHES if method == "hashes" else _ANSWER_IS, text))
        if found:
            return found, method
    if last_number:
        found = _clean(_last_group(_NUMBER, text))
        if found:
            return found, "last_number"
    return None


def as_math(answer: str) -> str:
    """The text Math-Verify parses for one answer: LaTeX wrapped in ``$...$`` (unless it already
    has delimiters or a box), a number followed by plain words reduced to the number."""
    answer = answer.strip()
    if "\\boxed" in answer or "\\(" in answer or "\\[" in answer:
        return answer
    unescaped = len(re.findall(r"(?<!\\)\$", answer))
    if unescaped >= 2 and answer.startswith("$"):
        return answer
    if unescaped:  # a currency sign, not a delimiter
        answer = re.sub(r"(?<!\\)\$", r"\\$", answer)
    words = _NUMBER_WORDS.match(answer)
    if words:
        answer = words["num"] + ("\\%" if words["pct"] else "")
    return f"${answer}$"


# --- comparison (any thread; no time bound of its own) ------------------------------------------
def compare_answers(
    answer: str,
    reference: str,
    *,
    float_rounding: int = 6,
    numeric_precision: int = 15,
    strict: bool = True,
) -> str:
    """Compare two final answers with Math-Verify; returns a reason slug: ``passed``,
    ``wrong_answer``, ``unparseable_answer`` or ``bad_reference``.

    Math-Verify's signal-based timeouts are switched off, so this gives the same result in any
    thread, and has no time bound: :class:`MathVerifier` runs it in a worker process it can kill.
    """
    import math_verify  # type: ignore[import-untyped]
    from math_verify import ExprExtractionConfig, LatexExtractionConfig

    for name in ("math_verify.parser", "math_verify.grader"):  # we bound the time ourselves
        module: Any = sys.modules.get(name)
        if hasattr(module, "TIMEOUT_WARNING_SHOWN"):
            module.TIMEOUT_WARNING_SHOWN = True
    config = [LatexExtractionConfig(), ExprExtractionConfig()]
    gold = math_verify.parse(as_math(reference), config, parsing_timeout=None)
    if not gold:
        return "bad_reference"
    target = math_verify.parse(as_math(answer), config, parsing_timeout=None)
    if not target:
        return "unparseable_answer"
    same = math_verify.verify(
        gold,
        target,
        float_rounding=float_rounding,
        numeric_precision=numeric_precision,
        strict=strict,
        timeout_seconds=None,
    )
    return "passed" if same else "wrong_answer"
