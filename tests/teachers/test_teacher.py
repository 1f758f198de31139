"""The Teacher layer over the fake server: cache first, then the controlled backend."""

from __future__ import annotations

from pathlib import Path

import pytest

from teachkit.errors import RequestRejectedError
from teachkit.recipe.base import TeacherConfig
from teachkit.teachers.backend import Request
from teachkit.teachers.cache import RequestCache
from teachkit.teachers.teacher import Teacher
from teachkit.testing import FakeServer

pytestmark = pytest.mark.usefixtures("no_api_keys")


def ask(text: str, **options: object) -> Request:
    return Request(messages=[{"role": "user", "content": text}], options=dict(options))


async def test_cached_answers_make_zero_teacher_calls(tmp_path: Path) -> None:
    async with FakeServer() as server:
        config = TeacherConfig(backend="openai", model="fake", base_url=server.base_url)
        cache = RequestCache(tmp_path / "cache.sqlite")
        first = Teacher(config, cache=cache)
        answers = [await first.complete(ask(f"q{i}", seed=1)) for i in range(3)]
        await first.aclose()
        assert server.calls == 3
        again = Teacher(config, cache=cache)  # a resumed run
        replay = [await again.complete(ask(f"q{i}", seed=1)) for i in range(3)]
        assert again.lookup(ask("q0", seed=1)) is not None
        assert again.lookup(ask("never asked")) is None
        await again.aclose()
        cache.close()
        assert server.calls == 3  # nothing paid twice
    assert [r.texts for r in replay] == [r.texts for r in answers]
    assert all(r.cached for r in replay)
    assert again.cached == 3
    assert again.requests == 0
    assert again.cost_usd == 0.0


async def test_stats_count_requests_usage_and_failures() -> None:
    async with FakeServer({"": "three words here"}) as server:
        config = TeacherConfig(backend="openai", model="gpt-4o-mini", base_url=server.base_url)
        t = Teacher(config)
        await t.complete(ask("one two"))
        await t.complete(ask("one two", n=2))
        t.backend._completions_url = server.url + "/nowhere"  # type: ignore[attr-defined]
        with pytest.raises(RequestRejectedError):
            await t.complete(Request(prompt="raw"))
        await t.aclose()
    stats = t.stats()
    assert stats["requests"] == 2
    assert stats["failed"] == 1
    assert stats["prompt_tokens"] == 4
    assert stats["completion_tokens"] == 9
    assert stats["priced"] is True  # gpt-4o-mini is in the built-in table
    assert stats["cost_usd"] > 0
    assert stats["window"] == 16
    assert stats["circuit"] == "closed"
    assert t.model == "gpt-4o-mini"
    assert t.backend_id == "openai"
    assert t.capabilities.n is True
