"""``teachkit serve-fake`` in a process of its own, and its command-line checks."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from teachkit.cli.serve import register
from teachkit.recipe.base import TeacherConfig
from teachkit.teachers.backend import Request
from teachkit.teachers.limiter import Controller, ControlSettings
from teachkit.teachers.teacher import Teacher
from teachkit.testing import FakeServerProcess, FaultPlan


@pytest.mark.slow
def test_subprocess_server_answers_scripts_and_faults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    script = tmp_path / "script.yaml"
    script.write_text("'capital of France': Paris.\n", encoding="utf-8")
    faults = FaultPlan(first=("500", "ok"), retry_after=None)

    async def ask(base_url: str) -> str:
        config = TeacherConfig(backend="openai", model="fake", base_url=base_url)
        t = Teacher(config)
        t.controller = Controller(config, settings=ControlSettings(backoff_base=0.002))
        try:
            answer = await t.complete(
                Request(messages=[{"role": "user", "content": "The capital of France?"}])
            )
        finally:
            await t.aclose()
        return answer.text

    with FakeServerProcess(latency=0.01, script=script, faults=faults) as server:
        assert server.url.startswith("http://127.0.0.1:")
        assert asyncio.run(ask(server.base_url)) == "Paris."
        stats = server.stats()
        assert stats["calls"] == 2
        assert stats["faults"] == {"500": 1}
        server.reset()
        assert server.stats()["calls"] == 0
        pid = server.pid
    assert pid is not None
    assert server.pid is None  # stopped


def app() -> typer.Typer:
    root = typer.Typer()

    @root.callback()
    def main() -> None:
        """Root."""

    register(root)
    return root


def test_serve_fake_is_registered_with_its_options() -> None:
    result = CliRunner().invoke(app(), ["serve-fake", "--help"])
    assert result.exit_code == 0
    for option in ("--latency", "--script", "--rate-429", "--rate-drop", "--first", "--port"):
        assert option in result.output


def test_serve_fake_rejects_bad_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    result = runner.invoke(app(), ["serve-fake", "--first", "429,teapot"])
    assert result.exit_code != 0
    assert "unknown faults" in result.output
    monkeypatch.delenv("FAKE_KEY", raising=False)
    result = runner.invoke(app(), ["serve-fake", "--api-key-env", "FAKE_KEY"])
    assert result.exit_code != 0
    assert "FAKE_KEY" in result.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("[1, 2]\n", encoding="utf-8")
    result = runner.invoke(app(), ["serve-fake", "--script", str(bad)])
    assert result.exit_code != 0
    assert "mapping of regular expressions" in result.output
