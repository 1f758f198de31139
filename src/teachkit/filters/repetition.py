"""The ``repetition`` filter: drop text that loops.

Models sampled at high temperature, and small models at any temperature, fall into loops: the
same phrase again and again ("and then the cat and then the cat and then the cat ..."). Two
checks, on the words of ``field`` (lower-cased, punctuation around words ignored):

* ``repetition_loop``: some phrase of 1 to ``max_period`` words comes back to back at least
  ``min_repeats`` times, and the run covers at least ``min_loop_words`` words (detail: the
  phrase, its length in words, the repeats);
* ``repeated_ngrams`` (off unless ``max_repeated_ngram_fraction`` is set): the share of word
  ``ngram``-grams that already occurred earlier in the text is above that fraction (the
  duplicated n-gram measure of the Gopher rules), which catches loops that are not back to back.

Text without spaces (Chinese, Japanese, Thai) is read character by character instead of word by
word, so the same checks apply.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar, Literal, NamedTuple

from pydantic import Field

from teachkit.filters.base import KEEP, Drop, Filter, FilterContext, FilterSpecBase, Verdict
from teachkit.records import FieldRef, Record, field_text

__all__ = ["Loop", "RepetitionFilter", "RepetitionSpec", "find_loop", "repeated_fraction", "units"]

_EDGES = re.compile(r"^\W+|\W+$")


class RepetitionSpec(FilterSpecBase):
    """``filters: [{kind: repetition, field: assistant, min_repeats: 4}]``"""

    kind: Literal["repetition"] = "repetition"
    #: what is read: text (default: every turn), user, assistant, system or meta.<key>
    field: FieldRef = "text"
    #: longest looping phrase looked for, in words
    max_period: int = Field(default=16, ge=1, le=200)
    #: back-to-back occurrences of a phrase that make a loop
    min_repeats: int = Field(default=4, ge=2, le=1000)
    #: words a loop must cover (so "very very very very" alone is no loop)
    min_loop_words: int = Field(default=12, ge=1)
    #: drop when more than this share of n-grams repeat an earlier one (None: off)
    max_repeated_ngram_fraction: float | None = Field(default=None, gt=0.0, lt=1.0)
    ngram: int = Field(default=3, ge=1, le=20)

    def build(self, ctx: FilterContext) -> RepetitionFilter:
        return RepetitionFilter(
            field=self.field,
            max_period=self.max_period,
            min_repeats=self.min_repeats,
            min_loop_words=self.min_loop_words,
            max_repeated_ngram_fraction=self.max_repeated_ngram_fraction,
            ngram=self.ngram,
            name=self.name,
        )


def units(text: str) -> list[str]:
    """The words of ``text`` (lower-cased, edge punctuation dropped), or its characters when it
    is written without spaces."""
    words = [w for w in (_EDGES.sub("", w.lower()) for w in text.split()) if w]
    if words and len(text) / len(words) > 12:  # a script without spaces between words
        return [c for c in text if not c.isspace()]
    return words


class Loop(NamedTuple):
    """Where a back-to-back repetition starts (token index), its phrase length and repeats."""

    start: int
    period: int
    repeats: int


def find_loop(tokens: list[str], max_period: int, min_repeats: int, min_words: int) -> Loop | None:
    """The first phrase of at most ``max_period`` tokens that repeats back to back at least
    ``min_repeats`` times over at least ``min_words`` tokens (None: no loop). O(n * max_period)."""
    n = len(tokens)
    for period in range(1, min(max_period, n // min_repeats) + 1):
        run = 0  # positions i with tokens[i] == tokens[i - period], in a row
        for i in range(period, n):
            if tokens[i] == tokens[i - period]:
                run += 1
                covered = run + period
                repeats = covered // period
                if repeats >= min_repeats and covered >= min_words:
                    return Loop(i - run - period + 1, period, repeats)
            else:
                run = 0
    return None


def repeated_fraction(tokens: list[str], n: int) -> float:
    """The share of n-grams of ``tokens`` that already occurred earlier (0 for short texts)."""
    grams = [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
    if len(grams) < 2:
        return 0.0
    return 1.0 - len(set(grams)) / len(grams)


class RepetitionFilter(Filter):
    kind: ClassVar[str] = "repetition"
    cost: ClassVar[int] = 0

    def __init__(
        self,
        *,
        field: str = "text",
        max_period: int = 16,
        min_repeats: int = 4,
        min_loop_words: int = 12,
        max_repeated_ngram_fraction: float | None = None,
        ngram: int = 3,
        name: str | None = None,
    ) -> None:
        super().__init__(name)
        self.field = field
        self.max_period = max_period
        self.min_repeats = min_repeats
        self.min_loop_words = min_loop_words
        self.max_fraction = max_repeated_ngram_fraction
        self.ngram = ngram

    async def check(self, record: Record) -> Verdict:
        tokens = units(field_text(record, self.field))
        loop = find_loop(tokens, self.max_period, self.min_repeats, self.min_loop_words)
        if loop is not None:
            phrase = " ".join(tokens[loop.start : loop.start + loop.period])
            detail: dict[str, Any] = {
                "phrase": phrase[:200],
                "period": loop.period,
                "repeats": loop.repeats,
            }
            return Drop("repetition_loop", detail)
        if self.max_fraction is not None:
            fraction = repeated_fraction(tokens, self.ngram)
            if fraction > self.max_fraction:
                return Drop(
                    "repeated_ngrams", {"fraction": round(fraction, 4), "ngram": self.ngram}
                )
        return KEEP
