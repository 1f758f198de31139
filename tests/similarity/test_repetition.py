"""The loop detector: loops at the end are found, ordinary endings and short echoes are not."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from teachkit.similarity.repetition import loop_tokens, trailing_repetition

PROSE = (
    "First we count the apples in each basket, then we add the baskets together. "
    "Each basket holds seven apples and there are four baskets, so the total is twenty-eight. "
    "We check the sum by counting again: seven, fourteen, twenty-one, twenty-eight."
)


def test_a_sentence_said_over_and_over_is_a_loop() -> None:
    text = PROSE + " " + " ".join(["Wait, let me check that again."] * 12)
    loop = trailing_repetition(text)
    assert loop is not None
    assert loop.period == 6 and loop.unit == "Wait, let me check that again."
    assert loop.repeats == 12
    assert loop.tokens == pytest.approx(loop.period * loop.repeats)


def test_a_loop_cut_short_by_max_tokens_is_found() -> None:
    unit = "so the answer is 12 and then we divide by 3 again "
    text = PROSE + " " + unit * 9 + "so the answer is 12 and"  # the last copy cut mid-unit
    loop = trailing_repetition(text)
    assert loop is not None and loop.period == len(unit.split())
    assert 9 < loop.repeats < 10


def test_a_loop_ending_in_a_word_cut_short_is_found() -> None:
    text = PROSE + " " + "Wait, let me check that again. " * 12 + "Wait, let me chec"
    loop = trailing_repetition(text)
    assert loop is not None and loop.period == 6


def test_repeated_lines_are_a_loop_and_the_unit_keeps_its_line_break() -> None:
    text = PROSE + "\n" + "\n".join(["Let me recompute the total carefully."] * 10)
    loop = trailing_repetition(text)
    assert loop is not None
    assert loop.unit.strip() == "Let me recompute the total carefully."
    assert "\n" in loop_tokens(loop.unit + "\nx")


def test_one_word_repeated_is_a_loop() -> None:
    loop = trailing_repetition(PROSE + " the" * 60)
    assert loop is not None and loop.period == 1 and loop.repeats >= 60


def test_ordinary_text_and_short_echoes_are_not_loops() -> None:
    assert trailing_repetition(PROSE) is None
    assert trailing_repetition(PROSE + " No, no, no.") is None
    assert trailing_repetition(PROSE + " The answer is 5.\nThe answer is 5.") is None  # twice
    assert trailing_repetition("") is None


def test_a_loop_in_the_middle_that_the_text_left_is_not_reported() -> None:
    text = "check again. " * 30 + PROSE
    assert trailing_repetition(text) is None


def test_thresholds_are_the_callers() -> None:
    text = PROSE + " " + "we add seven. " * 4  # 12 tokens in 4 copies
    assert trailing_repetition(text) is None  # fewer than 40 tokens
    loop = trailing_repetition(text, min_tokens=10, min_repeats=4)
    assert loop is not None and loop.period == 3
    assert trailing_repetition(text, min_tokens=10, min_repeats=5) is None
    with pytest.raises(ValueError):
        trailing_repetition(text, min_repeats=0)


def test_only_the_window_is_read() -> None:
    loop = trailing_repetition("word " * 100_000, window=500)
    assert loop is not None and loop.tokens <= 500


@given(
    st.lists(st.sampled_from(["a", "b", "c", "\n", "d1", "e"]), min_size=1, max_size=8),
    st.integers(3, 20),
    st.lists(st.text(min_size=1, max_size=6), max_size=20),
)
def test_any_unit_repeated_enough_is_found_with_a_period_that_divides_it(
    unit: list[str], copies: int, prefix: list[str]
) -> None:
    text = " ".join(prefix) + " " + " ".join(unit * copies)
    loop = trailing_repetition(text, min_tokens=len(unit) * 3, min_repeats=3)
    assert loop is not None
    assert len(unit) % loop.period == 0  # the smallest period of the repeated unit
    assert loop.tokens >= len(unit) * copies


def test_a_loop_longer_than_the_first_look_is_measured_whole() -> None:
    loop = trailing_repetition(PROSE + " " + "we add one more apple. " * 400)
    assert loop is not None and loop.period == 5 and loop.repeats == 400 and loop.tokens == 2000
