"""Throughput of teachkit's remote-teacher layer against the fake server.

The fake server runs in its own process with a fixed latency, so the bound on throughput is
``concurrency / latency``. In the same run, and alternating with it, a bare aiohttp client (one
queue, C workers, keep-alive, orjson) measures what the machine can do; teachkit is reported as
a fraction of the bound and of the bare client's rate, with process CPU time per request.

Measured layers:

* ``bare``: the reference client;
* ``teacher``: ``Teacher.complete`` (openai backend, request cache on) with C tasks pulling
  from one queue; ``no-cache``: the same without the request cache (what the SQLite cache costs);
* ``pipeline``: a whole ``templated`` recipe through ``teachkit.run`` (when the engine exists).

Usage::

    python bench/throughput.py --requests 2000 --concurrency 64 256 --latency 0.1 --repeat 2
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from teachkit.recipe.base import TeacherConfig
from teachkit.teachers.backend import Request
from teachkit.teachers.cache import RequestCache
from teachkit.teachers.teacher import Teacher
from teachkit.testing import FakeServerProcess

MODEL = "fake-teacher"


def prompt(i: int) -> str:
    return f"Question {i}: explain in two sentences why the sky looks blue at noon."


def options() -> dict[str, Any]:
    return {"temperature": 0.7, "max_tokens": 64}


async def bare(base_url: str, requests: int, concurrency: int) -> None:
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for i in range(requests):
        body = {
            "model": MODEL,
            "messages": [{"role": "user", "content": prompt(i)}],
            **options(),
        }
        queue.put_nowait(orjson.dumps(body))
    url = f"{base_url}/chat/completions"
    headers = {"Content-Type": "application/json"}
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:

        async def worker() -> None:
            while not queue.empty():
                data = queue.get_nowait()
                async with session.post(url, data=data) as resp:
                    body = orjson.loads(await resp.read())
                assert body["choices"], body

        await asyncio.gather(*(worker() for _ in range(concurrency)))


async def teacher(base_url: str, requests: int, concurrency: int, cached: bool = True) -> None:
    config = TeacherConfig(
        backend="openai", model=MODEL, base_url=base_url, max_concurrency=concurrency
    )
    with tempfile.TemporaryDirectory() as tmp:
        cache = RequestCache(Path(tmp) / "cache.sqlite") if cached else None
        t = Teacher(config, cache=cache)
        queue: asyncio.Queue[Request] = asyncio.Queue()
        for i in range(requests):
            messages = [{"role": "user", "content": prompt(i)}]
            queue.put_nowait(Request(messages=messages, options=options()))

        async def worker() -> None:
            while not queue.empty():
                response = await t.complete(queue.get_nowait())
                assert response.texts

        try:
            await asyncio.gather(*(worker() for _ in range(concurrency)))
        finally:
            await t.aclose()
            if cache is not None:
                cache.close()
        assert t.requests == requests, t.stats()


def pipeline_available() -> bool:
    try:
        import teachkit

        return callable(getattr(teachkit, "run", None))
    except ImportError:
        return False


def pipeline(base_url: str, requests: int, concurrency: int) -> float:
    """Run the recipe; return the seconds of its generation call (first request to last
    commit), which leaves out opening the run directory and writing the final manifest."""
    import teachkit
    from teachkit.recipe.models import Recipe

    recipe = Recipe.model_validate(
        {
            "name": "bench",
            "teacher": {
                "backend": "openai",
                "model": MODEL,
                "base_url": base_url,
                "max_concurrency": concurrency,
                "sampling": options(),
            },
            "generator": {
                "kind": "templated",
                "count": requests,
                "prompt": "Question about {{ topic }}: explain why the sky looks blue at noon.",
                "axes": {"topic": [f"topic {i}" for i in range(requests)]},
            },
        }
    )
    with tempfile.TemporaryDirectory() as tmp:
        summary = teachkit.run(recipe, out=Path(tmp) / "run")
    assert summary.accepted == requests, summary
    return float(summary.manifest["sessions"][-1]["generation_s"])


def measure(fn: Callable[[], float | None], requests: int) -> tuple[float, float]:
    """(requests per second, CPU milliseconds per request). A layer may return the seconds of
    its own generation call; otherwise the wall time of the whole call counts."""
    cpu0, wall0 = time.process_time(), time.perf_counter()
    inner = fn()
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    return requests / (inner or wall), 1000 * cpu / requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--no-pipeline", action="store_true")
    args = parser.parse_args()
    n = args.requests
    with FakeServerProcess(latency=args.latency) as server:
        url = server.base_url
        layers: dict[str, Callable[[int], float | None]] = {
            "bare": lambda c: asyncio.run(bare(url, n, c)),
            "teacher": lambda c: asyncio.run(teacher(url, n, c)),
            "no-cache": lambda c: asyncio.run(teacher(url, n, c, cached=False)),
        }
        if not args.no_pipeline and pipeline_available():
            layers["pipeline"] = lambda c: pipeline(url, n, c)
        print(f"{n} requests, fake server latency {args.latency * 1000:g} ms, separate process")
        header = (
            f"{'C':>5} {'layer':>9} {'req/s':>8} {'of bound':>9} {'of bare':>8} {'CPU ms/req':>11}"
        )
        print(header)
        for c in args.concurrency:
            runs: dict[str, list[tuple[float, float]]] = {name: [] for name in layers}
            for _ in range(args.repeat):
                for name, layer in layers.items():
                    runs[name].append(measure(functools.partial(layer, c), n))
            bound = c / args.latency
            base = statistics.median(r for r, _ in runs["bare"])
            for name, results in runs.items():
                rate = statistics.median(r for r, _ in results)
                cpu = statistics.median(m for _, m in results)
                print(
                    f"{c:>5} {name:>9} {rate:>8.0f} {rate / bound:>9.2f} {rate / base:>8.2f} "
                    f"{cpu:>11.2f}   runs: " + ", ".join(f"{r:.0f}" for r, _ in results)
                )


if __name__ == "__main__":
    main()
