"""Prices, cost and the rough token estimator."""

from __future__ import annotations

import pytest

from teachkit.recipe.base import Prices, TeacherConfig
from teachkit.teachers.backend import Request
from teachkit.teachers.cost import (
    estimate_cost,
    estimate_request_tokens,
    estimate_tokens,
    price_for,
)
from teachkit.teachers.teacher import Teacher
from teachkit.testing import FakeServer


def test_recipe_prices_win_over_the_table() -> None:
    mine = Prices(input_per_mtok=1.0, output_per_mtok=2.0)
    assert price_for("openai", "gpt-4o", mine) is mine


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("gpt-4o", (2.5, 10.0)),
        ("gpt-4o-mini-2024-07-18", (0.15, 0.60)),  # a snapshot of the longer prefix
        ("gpt-4o-2024-08-06", (2.5, 10.0)),
        ("openai/gpt-4.1-mini", (0.40, 1.60)),  # router-style names
        ("o1-mini", (1.10, 4.40)),
        ("claude-3-5-haiku-20241022", (0.80, 4.0)),
        ("claude-sonnet-4-5-20250929", (3.0, 15.0)),
    ],
)
def test_builtin_table_matches_families(model: str, expected: tuple[float, float]) -> None:
    prices = price_for("openai", model, None)
    assert prices is not None
    assert (prices.input_per_mtok, prices.output_per_mtok) == expected


def test_unknown_models_have_no_price_and_local_backends_are_free() -> None:
    assert price_for("openai", "meta-llama/Llama-3.1-70B-Instruct", None) is None
    assert price_for("openai", "gpt-4omni", None) is None  # a prefix must end at a dash
    from teachkit.teachers.registry import backend_class

    local = backend_class("llamacpp").capabilities.local  # the backend declares itself free
    free = price_for("llamacpp", "SmolLM2-135M-Instruct", None, local=local)
    assert free is not None
    assert estimate_cost(10**6, 10**6, free) == 0.0


def test_estimate_cost() -> None:
    prices = Prices(input_per_mtok=3.0, output_per_mtok=15.0)
    assert estimate_cost(1_000_000, 200_000, prices) == pytest.approx(6.0)
    assert estimate_cost(5, 5, None) == 0.0


def test_estimate_tokens_counts_bytes_not_characters() -> None:
    assert estimate_tokens("") == 0
    assert estimate_tokens("a") == 1
    english = "The quick brown fox jumps over the lazy dog. " * 10
    assert 80 <= estimate_tokens(english) <= 150  # about 100 real tokens
    chinese = "机器学习是人工智能的一个分支" * 10  # about one token per character
    assert estimate_tokens(chinese) >= len(chinese) * 0.6


def test_estimate_request_tokens_adds_message_overhead() -> None:
    text = "Explain photosynthesis to a child."
    chat = Request(
        messages=[{"role": "system", "content": "Be kind."}, {"role": "user", "content": text}]
    )
    assert estimate_request_tokens(chat) > estimate_tokens(text) + estimate_tokens("Be kind.")
    assert estimate_request_tokens(Request(prompt=text)) == estimate_tokens(text)


async def test_teacher_cost_follows_usage(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    async with FakeServer({"": "one two three four"}) as server:
        prices = Prices(input_per_mtok=1_000_000.0, output_per_mtok=2_000_000.0)
        config = TeacherConfig(
            backend="openai", model="fake", base_url=server.base_url, prices=prices
        )
        t = Teacher(config)
        await t.complete(Request(messages=[{"role": "user", "content": "a b c"}]))
        await t.aclose()
    assert t.usage.prompt_tokens == 3
    assert t.usage.completion_tokens == 4
    assert t.cost_usd == pytest.approx(3 * 1.0 + 4 * 2.0)
    assert t.stats()["cost_usd"] == pytest.approx(11.0)
    assert t.stats()["priced"] is True
