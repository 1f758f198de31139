"""Cost: budget_usd stops a run cleanly (and it resumes), and a dry run needs no key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

import teachkit
from teachkit.engine import plan
from teachkit.errors import BudgetExceededError
from teachkit.recipe.load import parse_recipe
from teachkit.testing import FakeServer


def recipe(base_url: str, budget: float) -> teachkit.Recipe:
    data: dict[str, Any] = {
        "name": "budget",
        "teacher": {
            "backend": "openai",
            "model": "fake",
            "base_url": base_url,
            "max_concurrency": 2,
            # one dollar per thousand completion tokens: each answer costs a few cents
            "prices": {"input_per_mtok": 0.0, "output_per_mtok": 1000.0},
        },
        "generator": {
            "kind": "templated",
            "count": 40,
            "axes": {"x": [str(i) for i in range(40)]},
            "prompt": "Tell me about {{ x }}",
        },
        "run": {"budget_usd": budget},
    }
    return parse_recipe(data)


async def test_budget_stops_cleanly_and_the_run_resumes(tmp_path: Path) -> None:
    async with FakeServer() as server:
        with pytest.raises(BudgetExceededError, match=r"budget of \$0\.2000"):
            await teachkit.run_async(recipe(server.base_url, 0.2), tmp_path / "run")
        manifest = orjson.loads((tmp_path / "run" / "manifest.json").read_bytes())
        assert manifest["status"] == "stopped"
        assert 0.2 <= manifest["cost_usd"] < 0.4
        stopped_at = manifest["accepted"]
        assert 0 < stopped_at < 40
        calls = server.stats()["answered"]
        summary = await teachkit.run_async(recipe(server.base_url, 100.0), tmp_path / "run")
        assert summary.status == "complete" and summary.accepted == 40
        # the resumed run paid only for what was missing
        assert server.stats()["answered"] - calls <= 40 - stopped_at + 2
        assert summary.manifest["cost_usd"] > manifest["cost_usd"]


def test_dry_run_needs_no_key_and_prices_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    r = parse_recipe(
        {
            "name": "dry",
            "teacher": {
                "backend": "openai",
                "model": "gpt-4o-mini",
                "sampling": {"max_tokens": 200},
            },
            "generator": {"kind": "templated", "count": 1000, "prompt": "Write a haiku."},
        }
    )
    estimate = plan(r)
    assert estimate.requests == 1000
    assert estimate.completion_tokens == 200_000
    assert estimate.prompt_tokens > 0
    assert estimate.cost_usd is not None and estimate.cost_usd > 0  # a built-in price
