"""The engine end to end with an in-process scripted teacher."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest

import teachkit
from support import echo_answer, last_text, shard_rows
from teachkit.errors import RunDirError
from teachkit.recipe.load import parse_recipe
from teachkit.teachers.backend import Request


def recipe(count: int = 10, **generator: Any) -> teachkit.Recipe:
    data: dict[str, Any] = {
        "name": "unit",
        "teacher": {"backend": "scripted", "max_concurrency": 4},
        "generator": {
            "kind": "templated",
            "count": count,
            "axes": {"topic": ["rain", "snow", "wind", "sun"], "tone": ["plain", "fun"]},
            "prompt": "Explain {{ topic }} in a {{ tone }} tone.",
            **generator,
        },
    }
    return parse_recipe(data)


def lines(path: Path) -> list[dict[str, Any]]:
    return shard_rows(path.parent, path.name)


def test_run_writes_exactly_count_records(tmp_path: Path, scripted: Any) -> None:
    summary = teachkit.run(recipe(10), tmp_path / "run")
    assert summary.status == "complete"
    assert summary.accepted == 10
    accepted = lines(tmp_path / "run" / "accepted")
    assert len(accepted) == 10
    assert len({r["id"] for r in accepted}) == 10
    first = accepted[0]
    assert [m["role"] for m in first["messages"]] == ["user", "assistant"]
    meta = first["meta"]
    assert meta["source"] == "synthetic"
    assert meta["teacher"] == {"backend": "scripted", "model": "scripted-1"}
    assert meta["depth"] == 0
    assert set(meta["axes"]) == {"topic", "tone"}
    assert meta["template_hash"].startswith("t1:")
    manifest = orjson.loads((tmp_path / "run" / "manifest.json").read_bytes())
    assert manifest["status"] == "complete"
    assert manifest["accepted"] == 10
    assert manifest["usage"]["stages"]["generate"]["answers"] >= 10
    assert manifest["versions"]["teachkit"]
    resolved = (tmp_path / "run" / "recipe.resolved.yaml").read_text()
    assert "max_concurrency: 4" in resolved  # defaults and values filled in


def test_second_run_does_nothing(tmp_path: Path, scripted: Any) -> None:
    teachkit.run(recipe(6), tmp_path / "run")
    calls = len(scripted.calls)
    again = teachkit.run(recipe(6), tmp_path / "run")
    assert again.status == "already_complete"
    assert "nothing to do" in again.message
    assert len(scripted.calls) == calls
    assert len(lines(tmp_path / "run" / "accepted")) == 6


def test_raising_count_extends_without_paying_twice(tmp_path: Path, scripted: Any) -> None:
    teachkit.run(recipe(5), tmp_path / "run")
    first_calls = {(last_text(r), r.sample) for r in scripted.calls}
    teachkit.run(recipe(9), tmp_path / "run")
    assert len(lines(tmp_path / "run" / "accepted")) == 9
    all_calls = [(last_text(r), r.sample) for r in scripted.calls]
    assert len(all_calls) == len(set(all_calls)), "a request was sent twice"
    assert first_calls <= set(all_calls)


def test_cache_rerun_in_new_directory_makes_zero_calls(tmp_path: Path, scripted: Any) -> None:
    cache = str(tmp_path / "shared-cache.sqlite")
    teachkit.run(recipe(8), tmp_path / "a", cache_path=cache)
    before = len(scripted.calls)
    summary = teachkit.run(recipe(8), tmp_path / "b", cache_path=cache)
    assert summary.accepted == 8
    assert len(scripted.calls) == before, "the re-run called the teacher"
    assert summary.manifest["usage"]["teachers"]["teacher"]["cached"] >= 8
    a = [r["id"] for r in lines(tmp_path / "a" / "accepted")]
    b = [r["id"] for r in lines(tmp_path / "b" / "accepted")]
    assert sorted(a) == sorted(b)


def test_no_cache_calls_again(tmp_path: Path, scripted: Any) -> None:
    teachkit.run(recipe(4), tmp_path / "a", use_cache=False)
    teachkit.run(recipe(4), tmp_path / "b", use_cache=False)
    assert len(scripted.calls) == 8
    assert not (tmp_path / "a" / "cache.sqlite").exists()


def test_rejections_keep_record_and_reason(tmp_path: Path, scripted: Any) -> None:
    def script(request: Request) -> str:
        return "" if "snow" in last_text(request) else echo_answer(request)

    scripted.script = staticmethod(script)
    summary = teachkit.run(recipe(6), tmp_path / "run")
    assert summary.accepted == 6
    rejected = lines(tmp_path / "run" / "rejected")
    assert rejected, "empty answers must be rejected"
    assert {r["reason"] for r in rejected} == {"empty_answer"}
    assert all("snow" in r["record"]["messages"][0]["content"] for r in rejected)
    assert summary.drops == {"generator": {"empty_answer": len(rejected)}}


def test_teacher_failures_become_rejections(tmp_path: Path, scripted: Any) -> None:
    from teachkit.errors import RequestRejectedError

    def script(request: Request) -> str | Exception:
        if "wind" in last_text(request):
            return RequestRejectedError("content policy", status=400)
        return echo_answer(request)

    scripted.script = staticmethod(script)
    summary = teachkit.run(recipe(6), tmp_path / "run")
    assert summary.accepted == 6
    reasons = Counter(r["reason"] for r in lines(tmp_path / "run" / "rejected"))
    assert set(reasons) - {"quota_reached"} == {"teacher_rejected"}


def test_max_requests_stops_incomplete(tmp_path: Path, scripted: Any) -> None:
    scripted.script = staticmethod(lambda request: "")
    data = recipe(5).model_dump()
    data["run"] = {"max_requests": 7}
    summary = teachkit.run(parse_recipe(data), tmp_path / "run")
    assert summary.status == "incomplete"
    assert summary.accepted == 0
    assert len(scripted.calls) == 7
    assert "max_requests" in summary.message


def test_structured_output_with_retries(tmp_path: Path, scripted: Any) -> None:
    def script(request: Request) -> str:
        if request.sample % 1000 == 0 and "rain" in last_text(request):
            return 'Sure! Here it is: {"question": "Why rain?"'  # truncated JSON
        topic = last_text(request).split()[1]
        answer = f"{topic} is weather (draw {request.sample})."
        return orjson.dumps({"question": f"What is {topic}?", "answer": answer}).decode()

    scripted.script = staticmethod(script)
    r = recipe(
        8,
        output={"fields": {"question": "a question", "answer": "its answer"}},
        messages={"user": "{{ question }}", "assistant": "{{ answer }}"},
    )
    summary = teachkit.run(r, tmp_path / "run")
    assert summary.accepted == 8
    accepted = lines(tmp_path / "run" / "accepted")
    assert all(row["messages"][0]["content"].startswith("What is") for row in accepted)
    rejected = [r for r in lines(tmp_path / "run" / "rejected") if r["filter"] != "quota"]
    assert rejected and all(r["filter"] == "structured_output" for r in rejected)
    assert all(r["detail"]["retrying"] for r in rejected)
    retried = [c for c in scripted.calls if c.sample % 1000 == 1]
    assert retried, "a failed parse must be retried with a new sample"


def test_run_dir_refuses_a_different_recipe(tmp_path: Path, scripted: Any) -> None:
    teachkit.run(recipe(3), tmp_path / "run")
    other = recipe(3, prompt="Describe {{ topic }} ({{ tone }}).")
    with pytest.raises(RunDirError, match="different recipe"):
        teachkit.run(other, tmp_path / "run")


def test_followup_and_quota_are_exact(tmp_path: Path, scripted: Any) -> None:
    # concurrency larger than the count: the quota still ends at exactly count
    data = recipe(3).model_dump()
    data["teacher"]["max_concurrency"] = 16
    summary = teachkit.run(parse_recipe(data), tmp_path / "run")
    assert summary.accepted == 3
    assert len(lines(tmp_path / "run" / "accepted")) == 3
