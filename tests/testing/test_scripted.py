"""The scripted in-process teacher that users test their recipes and plugins with."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import teachkit
from teachkit.errors import RetryableError
from teachkit.recipe.load import parse_recipe
from teachkit.teachers.backend import Request
from teachkit.testing import ScriptedBackend, echo_answer, last_text


@pytest.fixture(autouse=True)
def _reset() -> Iterator[None]:
    yield
    ScriptedBackend.use()  # leave the default script for the other tests


def _recipe(count: int) -> teachkit.Recipe:
    return parse_recipe(
        {
            "teacher": {"backend": "scripted", "max_concurrency": 2, "max_retries": 2},
            "generator": {
                "kind": "templated",
                "count": count,
                "axes": {"country": ["France", "Peru", "Japan"]},
                "prompt": "What is the capital of {{ country }}?",
            },
        }
    )


def test_a_recipe_runs_on_a_script(tmp_path: Path) -> None:
    capitals = {"France": "Paris.", "Peru": "Lima.", "Japan": "Tokyo."}

    def script(request: Request) -> str:
        country = last_text(request).rsplit(" ", 1)[-1].rstrip("?")
        return f"The capital is {capitals[country]}"

    backend = ScriptedBackend.use(script)
    summary = teachkit.run(_recipe(3), tmp_path / "run")
    assert summary.status == "complete"
    answers = sorted(r.assistant for r in teachkit.read_accepted(tmp_path / "run"))
    assert answers == ["The capital is Lima.", "The capital is Paris.", "The capital is Tokyo."]
    assert len(backend.calls) == 3
    assert {last_text(r) for r in backend.calls} == {
        f"What is the capital of {c}?" for c in capitals
    }


def test_a_script_can_fail_like_a_server(tmp_path: Path) -> None:
    failures: dict[str, int] = {}

    def flaky(request: Request) -> str | Exception:
        prompt = last_text(request)
        failures[prompt] = failures.get(prompt, 0) + 1
        if failures[prompt] == 1:  # every prompt fails once, then is answered
            return RetryableError("busy", status=503, retry_after=0.001)
        return echo_answer(request)

    ScriptedBackend.use(flaky)
    summary = teachkit.run(_recipe(2), tmp_path / "run")
    assert summary.accepted == 2
    assert set(failures.values()) == {2}
    assert len(ScriptedBackend.calls) == 2 * len(failures)


def test_use_forgets_the_previous_calls() -> None:
    ScriptedBackend.calls.append(Request(prompt="x"))
    assert ScriptedBackend.use().calls == []
    ScriptedBackend.use(lambda request: "scripted")
    assert ScriptedBackend.script(Request(prompt="a")) == "scripted"
    ScriptedBackend.use()
    assert ScriptedBackend.script(Request(prompt="a")) == echo_answer(Request(prompt="a"))
