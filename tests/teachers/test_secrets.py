"""A planted API key never shows up in logs, descriptions, statistics or error messages."""

from __future__ import annotations

import logging

import pytest

from teachkit.errors import CircuitOpenError, ConfigError, TeacherError
from teachkit.recipe.base import TeacherConfig
from teachkit.teachers.backend import Request
from teachkit.teachers.limiter import Controller, ControlSettings
from teachkit.teachers.teacher import Teacher
from teachkit.testing import FakeServer, FaultPlan

PLANTED = "sk-planted-Zq81xVw0PLANTEDsecret"
FAST = ControlSettings(backoff_base=0.002, backoff_cap=0.01)


def make(backend: str, server: FakeServer) -> Teacher:
    url = server.base_url if backend == "openai" else server.url
    config = TeacherConfig(backend=backend, model="fake", base_url=url, api_key_env="PLANTED_KEY")
    t = Teacher(config)
    t.controller = Controller(config, settings=FAST)
    return t


def ask() -> Request:
    return Request(messages=[{"role": "user", "content": "hello"}])


@pytest.mark.parametrize("backend", ["openai", "anthropic"])
async def test_planted_key_never_leaks(
    backend: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("PLANTED_KEY", PLANTED)
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="teachkit")
    seen: list[str] = []
    faults = FaultPlan(first=("500", "429", "drop", "malformed"), retry_after=0.01)
    async with FakeServer(api_key=PLANTED, faults=faults) as server:
        t = make(backend, server)
        response = await t.complete(ask())  # authenticated, after four retried failures
        assert response.text
        seen += [repr(t.backend.describe()), repr(t.stats())]
        await t.aclose()
    # a server that refuses the key and echoes it back in its error message
    async with FakeServer(api_key="sk-some-other-key") as server:
        t = make(backend, server)
        with pytest.raises(ConfigError) as refused:
            await t.complete(ask())
        with pytest.raises(CircuitOpenError) as stopped:
            await t.complete(ask())
        seen += [str(refused.value), str(stopped.value), repr(t.stats())]
        await t.aclose()
    assert "PLANTED_KEY" in str(refused.value)
    assert any("HTTP 500" in r.getMessage() for r in caplog.records)  # retries were logged
    everything = "\n".join([*seen, caplog.text, *(r.getMessage() for r in caplog.records)])
    assert PLANTED not in everything
    assert PLANTED[-12:] not in everything


def test_describe_names_the_variable_not_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLANTED_KEY", PLANTED)
    config = TeacherConfig(
        backend="openai", base_url="https://api.example.com/v1", api_key_env="PLANTED_KEY"
    )
    t = Teacher(config)
    assert t.backend.describe() == {
        "backend": "openai",
        "model": "gpt-4o-mini",
        "base_url": "https://api.example.com/v1",
        "api_key_env": "PLANTED_KEY",
    }
    assert PLANTED not in repr(t.stats())


def test_missing_key_message_names_only_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PLANTED_KEY", raising=False)
    config = TeacherConfig(backend="anthropic", api_key_env="PLANTED_KEY")
    with pytest.raises(TeacherError, match="PLANTED_KEY"):
        Teacher(config)
