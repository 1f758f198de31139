"""Text normalisation shared by dedup, rules, novelty and quality metrics."""

from __future__ import annotations

import unicodedata

__all__ = ["normalize", "word_count"]

#: typographic quotes and dashes mapped to their plain forms
_PLAIN = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-"})


def normalize(text: str) -> str:
    """Unicode NFKC, case folded, plain quotes, whitespace runs collapsed to one space, trimmed.

    Two texts that differ only in case, spacing or typographic quotes normalise to the same
    string, which is what exact dedup hashes and near-duplicate dedup shingles.
    """
    if text.isascii():
        return " ".join(text.lower().split())
    text = unicodedata.normalize("NFKC", text).translate(_PLAIN).casefold()
    return " ".join(text.split())


def word_count(text: str) -> int:
    return len(text.split())
