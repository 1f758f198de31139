"""Throughput of the ``preference`` generator against a plain ``templated`` run, on the fake server.

The fake server runs in its own process with a fixed latency. In the same process, one after the
other, the script runs

* ``templated``: ``--prompts`` prompts, one answer each (the reference);
* ``preference``: the same prompts, ``--candidates`` answers each (native ``n``: one request per
  prompt), every candidate scored by the fake reward model (``/pooling``);
* ``preference-single`` (with ``--single``): the same, one request per candidate
  (``supports_n: false``),

all at the same ``max_concurrency``, cache on, then exports the preference run with each pairing
policy and prints the pair and drop counts by reason. Throughput is teacher answers (candidates)
per second, against the templated run's answers per second.

Usage::

    python bench/preference.py --prompts 2000 --candidates 4 --concurrency 64 --latency 0.05
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import teachkit
from teachkit.engine.export import export
from teachkit.recipe.load import parse_recipe
from teachkit.testing import FakeServerProcess

AXES = {
    "topic": [f"topic {i}" for i in range(50)],
    "style": [f"style {i}" for i in range(50)],
}
PROMPT = "Write two sentences about {{ topic }} in {{ style }}."


def teacher(base_url: str, concurrency: int, single: bool = False) -> dict[str, Any]:
    config: dict[str, Any] = {
        "backend": "openai",
        "model": "fake",
        "base_url": base_url,
        "max_concurrency": concurrency,
        "sampling": {"temperature": 0.9, "max_tokens": 64},
    }
    if single:
        config["options"] = {"supports_n": False}
    return config


def templated(base_url: str, prompts: int, concurrency: int) -> dict[str, Any]:
    return {
        "name": "bench-templated",
        "teacher": teacher(base_url, concurrency),
        "generator": {"kind": "templated", "count": prompts, "prompt": PROMPT, "axes": AXES},
    }


def preference(
    base_url: str, root: str, prompts: int, candidates: int, concurrency: int, single: bool
) -> dict[str, Any]:
    return {
        "name": "bench-preference",
        "teacher": teacher(base_url, concurrency, single),
        "generator": {
            "kind": "preference",
            "count": prompts,
            "prompts": {"template": PROMPT, "axes": AXES},
            "candidates": candidates,
            "keep_uninformative": True,
            "scorers": [
                {
                    "kind": "reward",
                    "base_url": root,
                    "endpoint": "pooling",
                    "max_concurrency": concurrency,
                }
            ],
        },
        "run": {"max_requests": prompts + 10},
    }


def timed(recipe: dict[str, Any], out: Path) -> tuple[float, Any]:
    started = time.perf_counter()
    summary = teachkit.run(parse_recipe(recipe), out)
    elapsed = time.perf_counter() - started
    if summary.status != "complete":
        raise SystemExit(f"the run did not complete: {summary.status}: {summary.message}")
    return elapsed, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prompts", type=int, default=2000)
    parser.add_argument("--candidates", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--single", action="store_true", help="also one request per candidate")
    args = parser.parse_args()
    results: dict[str, Any] = {}
    with FakeServerProcess(latency=args.latency) as server, tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        seconds, _ = timed(templated(server.base_url, args.prompts, args.concurrency), root / "t")
        results["templated"] = {
            "seconds": round(seconds, 2),
            "answers_per_s": args.prompts / seconds,
        }
        variants = [("preference", False)] + ([("preference-single", True)] if args.single else [])
        for name, single in variants:
            server.reset()
            recipe = preference(
                server.base_url, server.url, args.prompts, args.candidates, args.concurrency, single
            )
            seconds, _summary = timed(recipe, root / name)
            answers = args.prompts * args.candidates
            stats = server.stats()["requests"]
            results[name] = {
                "seconds": round(seconds, 2),
                "answers_per_s": answers / seconds,
                "prompts_per_s": args.prompts / seconds,
                "chat_requests": stats.get("/v1/chat/completions", 0),
                "reward_requests": stats.get("/pooling", 0),
                "ratio_vs_templated": (answers / seconds) / results["templated"]["answers_per_s"],
            }
        pairing: dict[str, Any] = {}
        for policy in (
            "best_vs_random_lower",
            "best_vs_worst",
            "best_vs_second",
            "all_above_margin",
        ):
            out = export(
                root / "preference",
                root / f"data-{policy}",
                format="preference",
                val_fraction=0.0,
                pairing={"policy": policy, "min_margin": 0.2},
            )
            report = out.pairs or {}
            pairing[policy] = {
                "pairs": report.get("pairs"),
                "skipped_prompts": report.get("skipped_prompts"),
                "dropped_pairs": report.get("dropped_pairs"),
                "excluded_candidates": report.get("excluded_candidates"),
                "length_difference_median": report.get("length_difference", {}).get("median"),
            }
        results["pairing (min_margin 0.2)"] = pairing
    for name, figures in results.items():
        print(name, json.dumps(figures, default=lambda v: round(v, 2)))


if __name__ == "__main__":
    main()
