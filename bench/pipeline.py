"""Pipeline overhead on the embedded teacher: teachkit's whole run against bare llama-cpp-python.

Both sides generate the same prompts with the same sampling options and seeds (so the same
tokens), one request at a time, on the same model file. The pipeline side is a full
``teachkit.run`` (cache, journal, store, filters, manifest); the reference side is a loop over
``Llama.create_chat_completion``. Printed: completion tokens per second of each, and their ratio.

    python bench/pipeline.py --count 20 --max-tokens 96 --repeat 2
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

import teachkit
from teachkit.recipe.load import parse_recipe
from teachkit.teachers.llamacpp import LlamaCppBackend, llama_thread
from teachkit.teachers.registry import build_backend


def make_recipe(count: int, max_tokens: int, threads: int | None) -> teachkit.Recipe:
    options: dict[str, Any] = {"n_threads": threads} if threads else {}
    return parse_recipe(
        {
            "name": "bench-pipeline",
            "teacher": {
                "backend": "llamacpp",
                "sampling": {"temperature": 0.7, "max_tokens": max_tokens},
                "options": options,
            },
            "generator": {
                "kind": "templated",
                "count": count,
                "axes": {
                    "topic": ["tides", "yeast", "magnets", "rainbows", "volcanoes", "bees"],
                    "audience": ["a child", "a student", "a manager", "a farmer"],
                },
                "prompt": "Explain {{ topic }} to {{ audience }} in two or three sentences.",
            },
            "filters": [],
        }
    )


def pipeline(recipe: teachkit.Recipe, out: Path) -> tuple[float, int, list[dict[str, Any]]]:
    started = time.perf_counter()
    summary = teachkit.run(recipe, out, use_cache=False)
    elapsed = time.perf_counter() - started
    tokens = summary.manifest["usage"]["teachers"]["teacher"]["completion_tokens"]
    entries = [orjson.loads(line) for line in (out / "journal.jsonl").read_bytes().splitlines()]
    committed = {e["k"] for e in entries if e["t"] == "c"}
    # answered requests only (a request cancelled when the quota filled is not counted)
    requests = [
        e["job"]["request"] for e in entries if e["t"] == "j" and e["job"]["key"] in committed
    ]
    return elapsed, int(tokens), requests


def bare(recipe: teachkit.Recipe, requests: list[dict[str, Any]]) -> tuple[float, int]:
    """The same requests straight through llama-cpp-python, model load included, called from
    the thread teachkit uses for llama.cpp (a second calling thread would slow both sides)."""
    result: tuple[float, int] = llama_thread().submit(_bare, recipe, requests).result()
    return result


def _bare(recipe: teachkit.Recipe, requests: list[dict[str, Any]]) -> tuple[float, int]:
    from teachkit.teachers.backend import Request

    started = time.perf_counter()
    backend = build_backend(recipe.teacher)
    assert isinstance(backend, LlamaCppBackend)
    llm = backend._load()
    tokens = 0
    for data in requests:
        request = Request.from_dict(data)
        out = llm.create_chat_completion(messages=request.messages, **backend._kwargs(request))
        tokens += int(out["usage"]["completion_tokens"])
    elapsed = time.perf_counter() - started
    llm.close()
    return elapsed, tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--max-tokens", type=int, default=96)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    recipe = make_recipe(args.count, args.max_tokens, args.threads)
    print(f"{args.count} records, max_tokens {args.max_tokens}, embedded SmolLM2-135M-Instruct")
    print(f"{'run':>4} {'pipeline tok/s':>15} {'bare tok/s':>11} {'ratio':>6} {'overhead':>9}")
    requests: list[dict[str, Any]] = []
    for index in range(args.repeat):
        # alternate which side goes first, so drift in machine load does not favour one side
        with tempfile.TemporaryDirectory() as tmp:
            if index % 2 and requests:
                b_time, b_tokens = bare(recipe, requests)
                p_time, p_tokens, requests = pipeline(recipe, Path(tmp) / "run")
            else:
                p_time, p_tokens, requests = pipeline(recipe, Path(tmp) / "run")
                b_time, b_tokens = bare(recipe, requests)
        p_rate, b_rate = p_tokens / p_time, b_tokens / b_time
        ratio = p_rate / b_rate
        print(
            f"{index + 1:>4} {p_rate:>15.1f} {b_rate:>11.1f} {ratio:>6.3f} {1 - ratio:>9.1%}"
            f"   ({p_tokens} vs {b_tokens} tokens, {len(requests)} requests)"
        )


if __name__ == "__main__":
    main()
