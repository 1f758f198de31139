"""The language filter with Lingua's real models (a few candidate languages keep it quick)."""

from __future__ import annotations

import pytest

from teachkit.errors import RecipeError
from teachkit.filters.base import KEEP, Drop
from teachkit.filters.language import LanguageSpec
from teachkit.records import Record

pytest.importorskip("lingua")


def user(text: str) -> Record:
    return Record([{"role": "user", "content": text}, {"role": "assistant", "content": "ok"}])


async def test_keeps_the_wanted_languages_and_names_the_others() -> None:
    flt = LanguageSpec(languages=["en"], among=["en", "fr", "de", "es"]).build(None)  # type: ignore[arg-type]
    await flt.start()
    english = user("How do I bake a loaf of sourdough bread at home?")
    assert await flt.check(english) == KEEP
    assert english.meta["language"]["code"] == "en"
    french = await flt.check(user("Comment faire du pain au levain à la maison ?"))
    assert isinstance(french, Drop) and french.reason == "language:fr"
    assert await flt.check(user("1234 5678")) == Drop("language:unknown", {"confidence": 0.0})
    assert flt.stats()["detected"] == {"en": 1, "fr": 1, "unknown": 1}


async def test_unknown_can_be_kept_and_low_confidence_counts_as_unknown() -> None:
    flt = LanguageSpec(
        languages=["de"], among=["en", "de"], min_confidence=0.99, keep_unknown=True
    ).build(None)  # type: ignore[arg-type]
    assert await flt.check(user("Hallo")) == KEEP  # too short to be sure


def test_codes_are_checked() -> None:
    with pytest.raises(ValueError, match="two-letter ISO 639-1"):
        LanguageSpec(languages=["english"])
    with pytest.raises(RecipeError, match="no language with the codes"):
        LanguageSpec(languages=["xx"]).build(None)  # type: ignore[arg-type]
