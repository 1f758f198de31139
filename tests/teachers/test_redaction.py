"""Every error and answer from a backend passes one redaction point that knows its secrets."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, ClassVar

import orjson
import pytest
import yaml

from teachkit.cli import main
from teachkit.errors import RecipeError, RequestRejectedError, RetryableError, TeacherError
from teachkit.recipe.base import TeacherConfig
from teachkit.recipe.load import parse_recipe
from teachkit.teachers import http
from teachkit.teachers.backend import Backend, Capabilities, Request, Response
from teachkit.teachers.limiter import Controller, ControlSettings
from teachkit.teachers.teacher import Teacher
from teachkit.testing import FakeServer, FaultPlan

PLANTED = "sk-planted-4c1d8e2f9a7b3e5d1c0f"
FAST = ControlSettings(backoff_base=0.001, backoff_cap=0.002)


def ask() -> Request:
    return Request(messages=[{"role": "user", "content": "hello"}])


def teacher(server: FakeServer, **config: Any) -> Teacher:
    config = {"base_url": server.base_url, **config}
    cfg = TeacherConfig(backend="openai", model="fake", api_key_env="PLANTED_KEY", **config)
    t = Teacher(cfg)
    t.controller = Controller(cfg, settings=FAST)
    return t


async def test_key_echoed_in_a_200_error_body_is_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    """HTTP 200 with {"error": ...} and no choices, echoing the key: the 'no choices' error."""
    monkeypatch.setenv("PLANTED_KEY", PLANTED)
    async with FakeServer(faults=FaultPlan(first=("error200",))) as server:
        t = teacher(server, max_retries=0)
        with pytest.raises(RetryableError) as caught:
            await t.complete(ask())
        await t.aclose()
    assert "no choices" in str(caught.value)
    assert PLANTED not in str(caught.value)
    assert PLANTED[-10:] not in repr(caught.value.context)


class Leaky(Backend):
    """A careless plugin: it puts the key in its errors and echoes it in its answers."""

    id = "leaky"
    capabilities: ClassVar[Capabilities] = Capabilities()
    mode: ClassVar[str] = "error"

    def secrets(self) -> tuple[str, ...]:
        return ("hunter2-secret-value",)

    async def generate(self, request: Request) -> Response:
        if Leaky.mode == "error":
            try:
                raise KeyError("token hunter2-secret-value")
            except KeyError as inner:
                raise RequestRejectedError(
                    "refused for hunter2-secret-value (Bearer abcdefghijklmnop)",
                    detail="hunter2-secret-value",
                ) from inner
        return Response(texts=["the key is hunter2-secret-value"], finish_reasons=["stop"])


async def test_no_backend_can_forget_to_mask() -> None:
    cfg = TeacherConfig(backend="leaky", model="m")
    t = Teacher(cfg, backend=Leaky(cfg, Leaky.Options()))
    Leaky.mode = "error"
    with pytest.raises(RequestRejectedError) as caught:
        await t.complete(ask())
    error = caught.value
    assert "hunter2" not in str(error) and "abcdefghijklmnop" not in str(error)
    assert "hunter2" not in str(error.context) and "hunter2" not in str(error.__cause__)
    assert error.context["backend"] == "leaky" and error.context["model"] == "m"
    Leaky.mode = "answer"
    answer = await t.complete(ask())
    assert answer.text == "the key is ***"


async def test_errors_carry_backend_model_and_a_clean_base_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PLANTED_KEY", PLANTED)
    async with FakeServer(faults=FaultPlan(first=("error200",))) as server:
        t = teacher(server, max_retries=0, base_url=f"{server.base_url}?api-version=1")
        with pytest.raises(TeacherError) as caught:
            await t.complete(ask())
        await t.aclose()
    assert caught.value.context["backend"] == "openai"
    assert caught.value.context["model"] == "fake"
    assert caught.value.context["base_url"] == server.base_url  # no query string


def test_cli_run_never_shows_or_writes_the_echoed_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PLANTED_KEY", PLANTED)
    import asyncio

    async def scenario() -> int:
        async with FakeServer(faults=FaultPlan(rate_error200=1.0)) as server:
            recipe = {
                "name": "leak",
                "teacher": {
                    "backend": "openai",
                    "model": "fake",
                    "base_url": server.base_url,
                    "api_key_env": "PLANTED_KEY",
                    "max_retries": 0,
                },
                "generator": {
                    "kind": "templated",
                    "count": 2,
                    "axes": {"x": ["a", "b"]},
                    "prompt": "Say {{ x }}",
                },
                "run": {"max_requests": 4},
            }
            path = tmp_path / "recipe.yaml"
            path.write_text(yaml.safe_dump(recipe))
            args = ["run", str(path), "--out", str(tmp_path / "run"), "--quiet"]
            return await asyncio.to_thread(main, args)

    code = asyncio.run(scenario())
    shown = capsys.readouterr()
    assert code != 0
    assert PLANTED not in shown.out + shown.err
    files = [p for p in (tmp_path / "run").rglob("*") if p.is_file()]
    assert any(p.parent.name == "rejected" for p in files)
    for path in files:
        assert PLANTED.encode() not in path.read_bytes(), f"the key leaked into {path}"
        assert PLANTED[-12:].encode() not in path.read_bytes(), f"part of it leaked into {path}"
    manifest = orjson.loads((tmp_path / "run" / "manifest.json").read_bytes())
    assert manifest  # written, and clean (checked above)


@pytest.mark.parametrize(
    "url",
    [
        "https://user:pass@api.example.com/v1",
        "https://token@api.example.com/v1",
        "https://api.example.com/v1?key=abc",
        "https://api.example.com/v1?x=1&access_token=abc",
        "https://api.example.com/v1#frag",
        "ftp://api.example.com/v1",
        "file:///etc/passwd",
        "api.example.com/v1",
        "http://api.example.com:99999/v1",
        "http://api.example.com/v1\nX-Evil: 1",
    ],
)
def test_base_url_with_secrets_or_nonsense_is_refused(url: str) -> None:
    data = {"teacher": {"backend": "openai", "base_url": url}}
    with pytest.raises(RecipeError, match=r"teacher\.base_url"):
        parse_recipe(data)


async def test_a_plain_query_string_is_kept_after_the_path() -> None:
    async with FakeServer() as server:
        cfg = TeacherConfig(
            backend="openai", model="fake", base_url=f"{server.base_url}?api-version=2024-06-01"
        )
        t = Teacher(cfg)
        response = await t.complete(ask())
        await t.aclose()
        assert response.text
        assert server.requests["/v1/chat/completions"] == 1
        assert t.stats()["base_url"] == server.base_url


async def test_a_key_sent_elsewhere_is_warned_about_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("SOME_OTHER_SECRET", PLANTED)
    monkeypatch.setattr(http, "_WARNED", set())
    caplog.set_level(logging.WARNING, logger="teachkit")
    cfg = TeacherConfig(
        backend="openai",
        base_url="https://collector.example.net/v1",
        api_key_env="SOME_OTHER_SECRET",
    )
    for _ in range(3):
        await Teacher(cfg).aclose()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "SOME_OTHER_SECRET" in warnings[0] and "collector.example.net" in warnings[0]
    assert PLANTED not in caplog.text
    # the provider's own server, or no key at all: no warning
    caplog.clear()
    monkeypatch.setenv("OPENAI_API_KEY", PLANTED)
    await Teacher(TeacherConfig(backend="openai")).aclose()
    monkeypatch.delenv("SOME_OTHER_SECRET")
    await Teacher(
        TeacherConfig(backend="openai", base_url="http://127.0.0.1:9/v1", api_key_env="NOPE_X")
    ).aclose()
    assert not [r for r in caplog.records if r.levelno == logging.WARNING]


@pytest.mark.parametrize("backend", ["openai", "anthropic"])
@pytest.mark.parametrize("header", ["Authorization", "x-api-key", "Cookie", "X-Auth-Token"])
def test_extra_headers_cannot_carry_credentials(backend: str, header: str) -> None:
    from teachkit.teachers.registry import build_backend

    config = TeacherConfig(
        backend=backend, base_url="http://127.0.0.1:9", options={"extra_headers": {header: "v"}}
    )
    with pytest.raises(RecipeError, match="api_key_env"):
        build_backend(config)
