"""The request cache: versioned keys over the canonical request, durable across processes."""

from __future__ import annotations

from pathlib import Path

from teachkit.teachers.backend import Request, Response, Usage, request_key
from teachkit.teachers.cache import RequestCache


def test_key_covers_everything_that_changes_the_answer() -> None:
    base = Request(messages=[{"role": "user", "content": "hi"}], options={"temperature": 0.5})
    key = request_key("openai", "m", base)
    assert key.startswith("c1:")
    assert key == request_key("openai", "m", Request(**base.to_dict()))
    variants = [
        request_key("anthropic", "m", base),
        request_key("openai", "m2", base),
        request_key(
            "openai",
            "m",
            Request(messages=[{"role": "user", "content": "hi!"}], options={"temperature": 0.5}),
        ),
        request_key("openai", "m", Request(messages=base.messages, options={"temperature": 0.6})),
        request_key("openai", "m", Request(messages=base.messages, options=base.options, sample=1)),
        request_key("openai", "m", Request(prompt="hi", options=base.options)),
        request_key(
            "openai",
            "m",
            Request(messages=base.messages, options=base.options, json_schema={"type": "object"}),
        ),
    ]
    assert len({key, *variants}) == len(variants) + 1


def test_put_get_survives_reopen(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    cache = RequestCache(path)
    response = Response(
        texts=["a", "b"], finish_reasons=["stop", "length"], usage=Usage(3, 4), model="m"
    )
    assert cache.get("k") is None
    cache.put("k", "openai", "m", response)
    cache.close()
    again = RequestCache(path)
    hit = again.get("k")
    assert hit is not None and hit.cached
    assert hit.texts == ["a", "b"] and hit.finish_reasons == ["stop", "length"]
    assert (hit.usage.prompt_tokens, hit.usage.completion_tokens) == (3, 4)
    assert len(again) == 1 and again.hits == 1
    again.close()


def test_answers_survive_a_killed_process(tmp_path: Path) -> None:
    """Answers written just before a hard exit (no flush, no close) are found next time."""
    import subprocess
    import sys

    path = tmp_path / "c.sqlite"
    code = f"""
import os
from teachkit.teachers.backend import Response, Usage
from teachkit.teachers.cache import RequestCache
cache = RequestCache({str(path)!r}, batch=10_000, flush_every=3600)
for i in range(50):
    cache.put(f"k{{i}}", "openai", "m", Response([f"a{{i}}"], ["stop"], Usage(1, 1), "m"))
os._exit(0)  # like SIGKILL: nothing flushed to SQLite, nothing closed
"""
    subprocess.run([sys.executable, "-c", code], check=True)
    cache = RequestCache(path)
    assert all(cache.get(f"k{i}") is not None for i in range(50))
    hit = cache.get("k7")
    assert hit is not None and hit.texts == ["a7"]
    assert len(cache) == 50
    cache.close()
    assert not cache.log_path.exists()


def test_second_process_writes_through(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    first = RequestCache(path)
    second = RequestCache(path)  # the log is taken: this one writes straight to SQLite
    second.put("k", "openai", "m", Response(["x"], ["stop"], Usage(1, 1), "m"))
    assert first.get("k") is not None
    first.put("j", "openai", "m", Response(["y"], ["stop"], Usage(1, 1), "m"))
    first.flush()
    assert second.get("j") is not None
    second.close()
    first.close()
