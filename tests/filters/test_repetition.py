"""The repetition filter: back-to-back loops and repeated n-grams, word by word or character by
character."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from support import check_now
from teachkit.filters.base import KEEP, Drop
from teachkit.filters.repetition import RepetitionSpec, find_loop, repeated_fraction, units
from teachkit.records import Record


def answer(text: str) -> Record:
    return Record([{"role": "user", "content": "Tell me."}, {"role": "assistant", "content": text}])


def build(**spec: object) -> object:
    return RepetitionSpec(**spec).build(None)  # type: ignore[arg-type]


def test_a_loop_is_dropped_with_its_phrase() -> None:
    looping = "Sure. " + "And then the cat sat down, " * 5 + "the end."
    verdict = check_now(build(field="assistant"), answer(looping))
    assert verdict == Drop("repetition_loop", {"phrase": "and then the cat sat down", "period": 6,
                                               "repeats": 4})  # fmt: skip


def test_ordinary_text_and_short_repeats_are_kept() -> None:
    flt = build(field="assistant")
    assert check_now(flt, answer("It was very very very very cold, and we went home.")) == KEEP
    prose = "The river runs past the mill, then under the bridge, then out to the sea."
    assert check_now(flt, answer(prose)) == KEEP


def test_repeated_ngrams_without_a_back_to_back_loop() -> None:
    text = "one two three alpha one two three beta one two three gamma one two three delta"
    flt = build(field="assistant", max_repeated_ngram_fraction=0.2)
    verdict = check_now(flt, answer(text))
    assert isinstance(verdict, Drop) and verdict.reason == "repeated_ngrams"
    assert verdict.detail["fraction"] > 0.2
    assert check_now(build(field="assistant"), answer(text)) == KEEP


def test_text_without_spaces_is_read_by_character() -> None:
    looping = "我喜欢吃苹果" * 6
    assert units(looping)[:3] == ["我", "喜", "欢"]
    verdict = check_now(build(field="assistant"), answer(looping))
    assert isinstance(verdict, Drop) and verdict.detail["period"] == 6


@given(st.lists(st.sampled_from(["a", "b", "c", "d"]), min_size=1, max_size=6), st.integers(4, 9))
def test_any_phrase_repeated_enough_is_found(phrase: list[str], repeats: int) -> None:
    tokens = ["start", *phrase * repeats, "stop"]
    loop = find_loop(tokens, max_period=6, min_repeats=4, min_words=4)
    assert loop is not None and loop.repeats >= 4
    assert repeated_fraction(["x", "y", "z"], 3) == 0.0
