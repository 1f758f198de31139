"""The ``language`` filter: keep records written in the wanted languages.

The language is identified by Lingua (the ``lingua-language-detector`` package, extra ``lang``),
the detector the Magpie authors used to tag their data: n-gram models of 75 languages shipped
inside the package, so nothing is downloaded. A record whose ``field`` (default: the user turns)
is in another language is dropped as ``language:<ISO 639-1 code>`` (``language:fr``); one whose
language cannot be told (too short, mixed, digits only) as ``language:unknown``, unless
``keep_unknown``. The detected code and its confidence go to ``meta["language"]`` either way.

``among`` restricts the candidate languages (faster to load and more accurate when the data can
only be in a few); by default all 75 are considered, whose models take about half a minute to
load on two cores, once per process, when the run starts.
"""

from __future__ import annotations

import asyncio
import importlib.util
import threading
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from teachkit.errors import MissingExtraError, RecipeError
from teachkit.filters.base import KEEP, Drop, Filter, FilterContext, FilterSpecBase, Verdict
from teachkit.records import FieldRef, Record, field_text

__all__ = ["LanguageDetector", "LanguageFilter", "LanguageSpec"]

_LOCK = threading.Lock()
_DETECTORS: dict[tuple[str, ...], Any] = {}


def _code(value: str) -> str:
    return value.strip().lower()


class LanguageSpec(FilterSpecBase):
    """``filters: [{kind: language, languages: [en]}]``"""

    kind: Literal["language"] = "language"
    #: ISO 639-1 codes to keep
    languages: list[str] = Field(min_length=1)
    #: what is identified: user (default), assistant, system, text or meta.<key>
    field: FieldRef = "user"
    #: candidate languages (ISO 639-1); default: every language Lingua knows
    among: list[str] | None = Field(default=None, min_length=1)
    #: the least confidence (0-1) in the detected language; below it the language is unknown
    min_confidence: float = Field(default=0.0, ge=0.0, le=1.0)
    #: keep records whose language cannot be told instead of dropping them
    keep_unknown: bool = False

    @field_validator("languages", "among")
    @classmethod
    def _iso_codes(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        codes = [_code(v) for v in value]
        bad = [c for c in codes if len(c) != 2 or not c.isalpha()]
        if bad:
            raise ValueError(f"languages are two-letter ISO 639-1 codes such as 'en'; got {bad}")
        return codes

    def build(self, ctx: FilterContext) -> LanguageFilter:
        detector = LanguageDetector(self.among or [])
        missing = [c for c in [*self.languages, *(self.among or [])] if not detector.knows(c)]
        if missing:
            raise RecipeError(
                f"The language filter: Lingua knows no language with the codes {missing}. Use "
                "two-letter ISO 639-1 codes of languages Lingua supports (en, fr, de, zh, ...)."
            )
        return LanguageFilter(
            detector,
            languages=self.languages,
            field=self.field,
            min_confidence=self.min_confidence,
            keep_unknown=self.keep_unknown,
            name=self.name,
        )


class LanguageDetector:
    """Lingua's detector over ``among`` (empty: all languages), shared within the process."""

    def __init__(self, among: list[str]) -> None:
        if importlib.util.find_spec("lingua") is None:
            raise MissingExtraError("lingua-language-detector", "lang", "The language filter")
        from lingua import IsoCode639_1

        self._iso = IsoCode639_1
        self.among = tuple(sorted(among))
        self._detector: Any = None

    def knows(self, code: str) -> bool:
        return hasattr(self._iso, code.upper())

    def load(self) -> Any:
        """Build the detector and load its models (slow the first time in a process)."""
        if self._detector is not None:
            return self._detector
        with _LOCK:
            detector = _DETECTORS.get(self.among)
            if detector is None:
                from lingua import Language, LanguageDetectorBuilder

                if self.among:
                    languages = [
                        Language.from_iso_code_639_1(getattr(self._iso, c.upper()))
                        for c in self.among
                    ]
                    builder = LanguageDetectorBuilder.from_languages(*languages)
                else:
                    builder = LanguageDetectorBuilder.from_all_languages()
                detector = builder.with_preloaded_language_models().build()
                _DETECTORS[self.among] = detector
        self._detector = detector
        return detector

    def detect(self, text: str) -> tuple[str | None, float]:
        """(ISO 639-1 code or None, confidence)."""
        detector = self.load()
        if not text.strip():
            return None, 0.0
        language = detector.detect_language_of(text)
        if language is None:
            return None, 0.0
        confidence = float(detector.compute_language_confidence(text, language))
        return _code(language.iso_code_639_1.name), confidence


class LanguageFilter(Filter):
    kind: ClassVar[str] = "language"
    cost: ClassVar[int] = 0

    def __init__(
        self,
        detector: LanguageDetector,
        *,
        languages: list[str],
        field: str = "user",
        min_confidence: float = 0.0,
        keep_unknown: bool = False,
        name: str | None = None,
    ) -> None:
        super().__init__(name)
        self.detector = detector
        self.languages = {_code(c) for c in languages}
        self.field = field
        self.min_confidence = min_confidence
        self.keep_unknown = keep_unknown
        self.seen: dict[str, int] = {}

    async def start(self) -> None:
        await asyncio.to_thread(self.detector.load)

    async def check(self, record: Record) -> Verdict:
        code, confidence = self.detector.detect(field_text(record, self.field))
        if code is not None and confidence < self.min_confidence:
            code = None
        label = code or "unknown"
        self.seen[label] = self.seen.get(label, 0) + 1
        record.meta["language"] = {"code": code, "confidence": round(confidence, 4)}
        if code in self.languages or (code is None and self.keep_unknown):
            return KEEP
        return Drop(f"language:{label}", {"confidence": round(confidence, 4)})

    def stats(self) -> dict[str, Any]:
        return {"detected": dict(sorted(self.seen.items()))} if self.seen else {}
