"""Mixed language in a trace: letters of another writing system than the problem's.

Reasoning models drift into another language mid-trace (DeepSeek-R1-Zero's "language mixing",
Chinese words inside English reasoning). The check here is cheap and needs no model: the problem's
letters fix the expected script family (Latin, Cyrillic, CJK, ...); a trace holding at least
``min_letters`` letters of another family is flagged. What is never counted:

* Latin letters in a trace of a non-Latin problem (variables, LaTeX, code);
* short runs of Greek letters (at most two: ``\\pi``, ``\\alpha\\beta`` written as symbols);
* letters that appear in the problem itself (a problem about the character 水);
* letter-like and mathematical symbols (``ℝ``, ``𝑥``) and anything outside the table.

It cannot tell two languages of one script apart (English and French are both Latin).
"""

from __future__ import annotations

import bisect
from collections import Counter
from dataclasses import dataclass

__all__ = ["SCRIPTS", "MixedLanguage", "dominant_script", "mixed_language", "script_of"]

#: (first code point, last code point, script family), sorted by first code point
_RANGES: tuple[tuple[int, int, str], ...] = (
    (0x0041, 0x005A, "latin"),
    (0x0061, 0x007A, "latin"),
    (0x00C0, 0x024F, "latin"),
    (0x0370, 0x03FF, "greek"),
    (0x0400, 0x052F, "cyrillic"),
    (0x0530, 0x058F, "armenian"),
    (0x0590, 0x05FF, "hebrew"),
    (0x0600, 0x06FF, "arabic"),
    (0x0750, 0x077F, "arabic"),
    (0x0900, 0x097F, "devanagari"),
    (0x0980, 0x09FF, "bengali"),
    (0x0B80, 0x0BFF, "tamil"),
    (0x0E00, 0x0E7F, "thai"),
    (0x10A0, 0x10FF, "georgian"),
    (0x1100, 0x11FF, "hangul"),
    (0x1E00, 0x1EFF, "latin"),
    (0x1F00, 0x1FFF, "greek"),
    (0x3040, 0x30FF, "cjk"),
    (0x3100, 0x312F, "cjk"),
    (0x3130, 0x318F, "hangul"),
    (0x3400, 0x4DBF, "cjk"),
    (0x4E00, 0x9FFF, "cjk"),
    (0xAC00, 0xD7AF, "hangul"),
    (0xF900, 0xFAFF, "cjk"),
    (0xFF66, 0xFF9F, "cjk"),
    (0x20000, 0x2FA1F, "cjk"),
)
#: the script families :func:`script_of` knows
SCRIPTS: tuple[str, ...] = tuple(sorted({name for _start, _end, name in _RANGES}))
_STARTS = [start for start, _end, _name in _RANGES]
#: Greek runs this short are read as math symbols, not as Greek words
_SYMBOL_RUN = 2


def script_of(char: str) -> str | None:
    """The script family of a letter, or None (not a letter, or a script not in the table)."""
    code = ord(char)
    if code < 0x80:
        return "latin" if char.isalpha() else None
    if not char.isalpha():
        return None
    slot = bisect.bisect_right(_STARTS, code) - 1
    if slot >= 0:
        start, end, name = _RANGES[slot]
        if start <= code <= end:
            return name
    return None


def _counts(text: str) -> Counter[str]:
    counts: Counter[str] = Counter()
    if text.isascii():
        counts["latin"] = sum(1 for c in text if c.isalpha())
        return counts
    for char in text:
        family = script_of(char)
        if family is not None:
            counts[family] += 1
    return counts


def dominant_script(text: str, default: str = "latin") -> str:
    """The script family most of ``text``'s letters belong to (``default`` when it has none).
    Greek only wins when nothing else is written."""
    counts = _counts(text)
    ranked = [name for name, _n in counts.most_common() if name != "greek"] or list(counts)
    return ranked[0] if ranked else default


@dataclass(frozen=True, slots=True)
class MixedLanguage:
    """Letters of other script families found in a trace."""

    expected: str
    #: family -> letters counted
    found: dict[str, int]
    #: the first foreign run, for the reader of rejected/
    sample: str

    @property
    def letters(self) -> int:
        return sum(self.found.values())

    def to_dict(self) -> dict[str, object]:
        return {"expected": self.expected, "found": self.found, "sample": self.sample}


def mixed_language(
    text: str, reference: str, *, min_letters: int = 2, expected: str | None = None
) -> MixedLanguage | None:
    """Whether ``text`` mixes in another script than ``reference`` (the problem) is written in.

    ``expected`` fixes the family instead of reading it from ``reference``.
    """
    if text.isascii():
        return None
    family = expected or dominant_script(reference)
    allowed = {family, "latin"}
    known = set(reference)
    found: Counter[str] = Counter()
    sample = ""
    run_family: str | None = None
    run: list[str] = []

    def close() -> None:
        nonlocal sample
        if run_family is None or run_family in allowed:
            return
        if run_family == "greek" and len(run) <= _SYMBOL_RUN:
            return
        letters = [c for c in run if c not in known]
        if letters:
            found[run_family] += len(letters)
            sample = sample or "".join(run)[:40]

    for char in text:
        current = script_of(char)
        if current != run_family:
            close()
            run_family, run = current, []
        if current is not None:
            run.append(char)
    close()
    if sum(found.values()) < min_letters:
        return None
    return MixedLanguage(expected=family, found=dict(found), sample=sample)
