"""A planted API key reaches the server but never the run directory, cache, manifest or logs."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

import teachkit
from teachkit.errors import ConfigError
from teachkit.recipe.load import parse_recipe
from teachkit.testing import FakeServer

KEY = "sk-planted-7f3a9c1e5b2d4f6a8c0e"


def recipe(base_url: str) -> teachkit.Recipe:
    return parse_recipe(
        {
            "name": "secret",
            "teacher": {
                "backend": "openai",
                "model": "fake",
                "base_url": base_url,
                "api_key_env": "TEACHKIT_TEST_KEY",
            },
            "generator": {
                "kind": "templated",
                "count": 12,
                "axes": {"x": ["a", "b", "c", "d"]},
                "prompt": "Say {{ x }}",
            },
            "filters": [{"kind": "judge", "threshold": 1}],
        }
    )


async def test_planted_key_never_lands_anywhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("TEACHKIT_TEST_KEY", KEY)
    caplog.set_level(logging.DEBUG, logger="teachkit")
    async with FakeServer(api_key=KEY) as server:
        summary = await teachkit.run_async(recipe(server.base_url), tmp_path / "run")
        assert server.stats()["auth"].get("bearer", 0) >= 12  # the key was sent, and accepted
    assert summary.accepted == 12
    files = [p for p in (tmp_path / "run").rglob("*") if p.is_file()]
    assert any(p.name == "cache.sqlite" for p in files)
    for path in files:
        assert KEY.encode() not in path.read_bytes(), f"the key leaked into {path}"
    assert "TEACHKIT_TEST_KEY" in (tmp_path / "run" / "manifest.json").read_text()
    assert KEY not in caplog.text


async def test_missing_key_fails_before_any_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TEACHKIT_TEST_KEY", raising=False)
    r = recipe("https://api.example.invalid/v1")
    with pytest.raises(ConfigError, match="TEACHKIT_TEST_KEY"):
        await teachkit.run_async(r, tmp_path / "run")
    assert not (tmp_path / "run" / "journal.jsonl").exists()
