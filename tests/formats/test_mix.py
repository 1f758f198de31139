from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from teachkit.formats.mix import mix_real, real_needed

from .conftest import synthetic


@given(
    s=st.integers(min_value=0, max_value=5000),
    fraction=st.floats(min_value=0.0, max_value=0.9, allow_nan=False),
)
def test_real_needed_reaches_the_fraction(s: int, fraction: float) -> None:
    real = real_needed(s, fraction)
    total = s + real
    # within half a row of the exact share (real / total = fraction)
    assert abs(real - fraction * total) <= 0.5 / (1 - fraction) + 1e-9


def test_real_needed_examples() -> None:
    assert real_needed(80, 0.2) == 20
    assert real_needed(100, 0.0) == 0
    assert real_needed(90, 0.1) == 10
    with pytest.raises(ValueError):
        real_needed(10, 1.0)


def test_mix_is_seeded_and_keeps_every_synthetic_row() -> None:
    train = synthetic(80, seed=1)
    real = synthetic(50, seed=2, start=1000)
    for record in real:
        record.meta["source"] = "real"
    mixed = mix_real(train, real, 0.2, seed=7)
    assert mixed.real_used == mixed.real_wanted == 20
    assert mixed.real_fraction == pytest.approx(0.2)
    assert {r.id for r in train} <= {r.id for r in mixed.train}
    assert sum(r.meta["source"] == "real" for r in mixed.train) == 20
    again = mix_real(list(reversed(train)), list(reversed(real)), 0.2, seed=7)
    assert [r.id for r in again.train] == [r.id for r in mixed.train]
    other = mix_real(train, real, 0.2, seed=8)
    assert {r.id for r in other.train} != {r.id for r in mixed.train}
    # real rows are spread through train, not appended at its end
    positions = [i for i, r in enumerate(mixed.train) if r.meta["source"] == "real"]
    assert positions[0] < len(mixed.train) - 20


def test_mix_uses_all_real_rows_when_too_few(caplog: pytest.LogCaptureFixture) -> None:
    train = synthetic(40)
    real = synthetic(5, seed=3, start=500)
    mixed = mix_real(train, real, 0.5, seed=0)
    assert (mixed.real_used, mixed.real_wanted) == (5, 40)
    assert mixed.real_fraction == pytest.approx(5 / 45)
    assert "only 5 are available" in caplog.text
