"""Repetition loops: a text that ends by saying the same thing over and over.

Sampled models, reasoning models above all, sometimes fall into a loop ("Wait, let me check.
Wait, let me check. ...") that only ``max_tokens`` ends. :func:`trailing_repetition` finds such a
loop at the end of a text: the longest tail made of one unit (a word, a phrase, a line, a
paragraph) repeated back to back, the last copy possibly cut short.

Tokens are whitespace-separated words, with every line break kept as a token of its own, so a
repeated line is a repeated run of tokens too. The check reads only the end of the text
(``window`` tokens) and stops at the first period that qualifies, so it stays cheap on long
traces and on the long loops it is looking for.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Repetition", "loop_tokens", "trailing_repetition"]

_TOKEN = re.compile(r"\n|[^\s]+")
#: characters read from the end of the text before tokenising (about ``window`` tokens)
_CHARS_PER_TOKEN = 12
#: tokens at the very end that may differ from the loop (a word cut short by max_tokens)
_RAGGED = 2


@dataclass(frozen=True, slots=True)
class Repetition:
    """A loop at the end of a text."""

    #: the repeated unit, as text (one period)
    unit: str
    #: tokens in one unit
    period: int
    #: how many times the unit is repeated (fractional when the last copy is cut short)
    repeats: float
    #: tokens the loop covers at the end of the text
    tokens: int

    def to_dict(self) -> dict[str, object]:
        return {
            "unit": self.unit[:200],
            "period": self.period,
            "repeats": round(self.repeats, 2),
            "tokens": self.tokens,
        }


def loop_tokens(text: str) -> list[str]:
    """The tokens the loop check compares: words and line breaks."""
    return _TOKEN.findall(text)


def trailing_repetition(
    text: str,
    *,
    min_repeats: float = 3.0,
    min_tokens: int = 40,
    max_period: int = 256,
    window: int = 4096,
) -> Repetition | None:
    """The loop the text ends with, or None.

    A loop is a unit of at most ``max_period`` tokens repeated back to back at least
    ``min_repeats`` times and covering at least ``min_tokens`` tokens at the end of the text
    (so "no, no, no" is not a loop, a sentence said ten times is). The loop may be followed by
    up to two stray tokens (a word cut short by ``max_tokens``). The smallest unit that
    qualifies is reported. Only the last ``window`` tokens are read.
    """
    if min_repeats < 1 or min_tokens < 1 or max_period < 1:
        raise ValueError("min_repeats, min_tokens and max_period must be at least 1")
    # a loop that qualifies at the end of the window also qualifies at the end of any tail of
    # at least max_period * min_repeats (and min_tokens) tokens: look there first, which is
    # all most texts need, and measure the whole loop only when there is one
    probe = min(window, max(min_tokens, int(max_period * min_repeats) + 1) + _RAGGED)
    for size in dict.fromkeys((probe, window)):
        tokens = loop_tokens(text[-size * _CHARS_PER_TOKEN :])[-size:]
        # a loop cut by max_tokens may end in a partial word: allow a short ragged end
        found = None
        for ragged in range(_RAGGED + 1):
            found = _loop(tokens[: len(tokens) - ragged], min_repeats, min_tokens, max_period)
            if found is not None:
                break
        if found is None or size == window or found.tokens < len(tokens) - _RAGGED:
            return found
    return None


def _loop(
    tokens: list[str], min_repeats: float, min_tokens: int, max_period: int
) -> Repetition | None:
    count = len(tokens)
    if count < min_tokens:
        return None
    for period in range(1, min(max_period, int(count / min_repeats)) + 1):
        # the tail where every token equals the one a period before it
        run, position = 0, count - 1
        while position >= period and tokens[position] == tokens[position - period]:
            run += 1
            position -= 1
        span = run + period
        if span >= min_tokens and span / period >= min_repeats:
            unit = tokens[count - period :]
            return Repetition(unit=_join(unit), period=period, repeats=span / period, tokens=span)
    return None


def _join(tokens: list[str]) -> str:
    out: list[str] = []
    for token in tokens:
        if token == "\n" or not out or out[-1] == "\n":
            out.append(token)
        else:
            out.append(" " + token)
    return "".join(out).strip(" ")
