"""A small word n-gram language model with seeded sampling, for model-collapse experiments.

The model is the maximum-likelihood n-gram model of its training texts: the next token after the
``order - 1`` previous ones is drawn with probability ``count(context, token) / count(context)``,
texts start after ``order - 1`` start markers and end at an end marker. There is no smoothing on
purpose: a model sampled from its own counts can only produce n-grams it saw, so refitting it on
its own samples loses every rare n-gram that happens not to be drawn, which is exactly the
mechanism of model collapse (sampling error compounding over generations).

Tokens are words (runs of word characters, inner hyphens and apostrophes kept) or single
punctuation marks, case kept; a sampled text is detokenised by joining tokens with spaces and
removing the space before closing punctuation.
"""

from __future__ import annotations

import bisect
import random
import re
from collections.abc import Iterable, Sequence
from itertools import accumulate

__all__ = ["NgramModel", "detokenize", "lm_tokens"]

_TOKEN_RE = re.compile(r"\w+(?:[-'’]\w+)*|[^\w\s]")
_NO_SPACE_BEFORE = re.compile(r" ([,.;:!?%)\]}])")
_NO_SPACE_AFTER = re.compile(r"([(\[{]) ")
_START = "\x02"
_END = "\x03"


def lm_tokens(text: str) -> list[str]:
    """The model's tokens: words (inner hyphens and apostrophes kept) and single punctuation
    marks, case kept."""
    return _TOKEN_RE.findall(text)


def detokenize(tokens: Sequence[str]) -> str:
    """Join tokens with spaces, without the space before closing or after opening punctuation."""
    text = " ".join(tokens)
    return _NO_SPACE_AFTER.sub(r"\1", _NO_SPACE_BEFORE.sub(r"\1", text))


class NgramModel:
    """The maximum-likelihood word n-gram model of a list of texts (see the module docstring)."""

    def __init__(self, order: int = 3) -> None:
        if order < 1:
            raise ValueError("order must be at least 1")
        self.order = order
        self._counts: dict[tuple[str, ...], dict[str, int]] = {}
        self._tables: dict[tuple[str, ...], tuple[list[str], list[int]]] = {}
        self.longest = 0
        self.texts = 0

    @classmethod
    def fit(cls, texts: Iterable[str], order: int = 3) -> NgramModel:
        model = cls(order)
        for text in texts:
            model.add(text)
        return model

    def add(self, text: str) -> None:
        """Count the n-grams of one text (texts without tokens are skipped)."""
        tokens = lm_tokens(text)
        if not tokens:
            return
        self.texts += 1
        self.longest = max(self.longest, len(tokens))
        padded = [_START] * (self.order - 1) + tokens + [_END]
        width = self.order - 1
        for i in range(width, len(padded)):
            context = tuple(padded[i - width : i])
            nexts = self._counts.setdefault(context, {})
            nexts[padded[i]] = nexts.get(padded[i], 0) + 1
        self._tables.clear()

    def ngram_types(self) -> int:
        """Distinct (context, next token) pairs the model can produce."""
        return sum(len(nexts) for nexts in self._counts.values())

    def _table(self, context: tuple[str, ...]) -> tuple[list[str], list[int]]:
        table = self._tables.get(context)
        if table is None:
            nexts = self._counts[context]
            tokens = sorted(nexts)  # a fixed order, so sampling depends on the seed alone
            table = (tokens, list(accumulate(nexts[t] for t in tokens)))
            self._tables[context] = table
        return table

    def sample_tokens(self, rng: random.Random, max_tokens: int | None = None) -> list[str]:
        """One text's tokens; at most ``max_tokens`` (default: twice the longest training text)."""
        if not self._counts:
            raise ValueError("the model has no training text")
        limit = max_tokens if max_tokens is not None else 2 * self.longest
        width = self.order - 1
        context = [_START] * width
        out: list[str] = []
        while len(out) < limit:
            tokens, cumulative = self._table(tuple(context[len(context) - width :]))
            pick = bisect.bisect_right(cumulative, rng.randrange(cumulative[-1]))
            token = tokens[pick]
            if token == _END:
                break
            out.append(token)
            context.append(token)
        return out

    def sample(self, count: int, seed: int, max_tokens: int | None = None) -> list[str]:
        """``count`` texts drawn with ``random.Random(seed)``: the same seed, the same texts."""
        rng = random.Random(seed)
        return [detokenize(self.sample_tokens(rng, max_tokens)) for _ in range(count)]
