"""Does execution-based verification slow generation? A templated run with and without ``verify``.

The fake server runs in its own process with a fixed latency and answers every prompt with a
Python function in a fenced block, alternating a correct and a wrong one, so exactly half of the
records pass their test. Both runs are whole ``teachkit.run`` calls of the same ``templated``
recipe at the same concurrency, one after the other, in this process:

* ``plain``: no filters (the reference);
* ``verify``: a ``verify`` filter with the ``python`` verifier, every sandbox layer on (the script
  refuses to report when ``teachkit sandbox check`` finds a layer off), each program run against
  its test in the warm sandbox pool.

Throughput is answers committed (accepted + rejected) per second of the generation phase (first
request to last commit); the ratio is the verify run's against the plain run of the same repeat.
The script exits non-zero when the verdict counts are not exactly half and half.

    python bench/verify_throughput.py --requests 2000 --concurrency 64 --latency 1.0 --repeat 3
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

import teachkit
from teachkit.recipe.models import Recipe
from teachkit.sandbox import SandboxPool, SandboxReport
from teachkit.testing import FakeServerProcess

PROMPT = "Write a Python function named add"
RIGHT = "Here it is:\n```python\ndef add(a, b):\n    return a + b\n```"
WRONG = "Here it is:\n```python\ndef add(a, b):\n    return a - b\n```"
TEST = "assert add(2, 3) == 5\nassert add(-1, 1) == 0"


def recipe(
    base_url: str, requests: int, concurrency: int, verify: bool, workers: int | None = None
) -> dict[str, Any]:
    filters: list[dict[str, Any]] = []
    if verify:
        filters = [
            {
                "kind": "verify",
                "max_concurrency": 8,
                "verifier": {
                    "kind": "python",
                    "tests_field": "meta.axes.tests",
                    "workers": workers,
                },
            }
        ]
    return {
        "name": "bench-verify",
        "teacher": {
            "backend": "openai",
            "model": "fake-teacher",
            "base_url": base_url,
            "max_concurrency": concurrency,
            "sampling": {"max_tokens": 64},
        },
        "generator": {
            "kind": "templated",
            # every answer is committed either way: half of them pass, the others are dropped
            "count": requests // 2 if verify else requests,
            "prompt": PROMPT + " (case {{ case }}).",
            "axes": {"case": [str(i) for i in range(requests)], "tests": [TEST]},
        },
        "filters": filters,
    }


async def sandbox_layers() -> SandboxReport:
    async with SandboxPool(size=1) as pool:
        return await pool.start()


def run(spec: dict[str, Any]) -> tuple[float, dict[str, Any], float]:
    parsed = Recipe.model_validate(spec)
    cpu = time.process_time()
    with tempfile.TemporaryDirectory() as tmp:
        summary = teachkit.run(parsed, out=Path(tmp) / "run")
    manifest = summary.manifest
    return float(manifest["sessions"][-1]["generation_s"]), manifest, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--latency", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--workers", type=int, default=None, help="sandbox workers (default: cores)"
    )
    args = parser.parse_args()
    if args.requests % 2:
        parser.error("--requests must be even (half the answers are right)")
    report = asyncio.run(sandbox_layers())
    if not report.strong or report.missing:
        raise SystemExit(f"sandbox layers off: {report.missing}; the figure would not be fair")
    failures: list[str] = []
    ratios: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "script.yaml"
        script.write_text(yaml.safe_dump({PROMPT: [RIGHT, WRONG]}))
        with FakeServerProcess(latency=args.latency, script=script) as server:
            print(
                f"{args.requests} requests, concurrency {args.concurrency}, fake server latency "
                f"{args.latency * 1000:g} ms (bound {args.concurrency / args.latency:.0f} req/s)"
            )
            for repeat in range(args.repeat):
                rates = {}
                for name, verify in (("plain", False), ("verify", True)):
                    spec = recipe(
                        server.base_url, args.requests, args.concurrency, verify, args.workers
                    )
                    seconds, manifest, cpu = run(spec)
                    done = manifest["accepted"] + manifest["rejected"]
                    rates[name] = done / seconds
                    print(
                        f"  {repeat + 1} {name}: {rates[name]:.1f} answers/s ({seconds:.1f} s), "
                        f"accepted {manifest['accepted']}, rejected {manifest['rejected']}, "
                        f"CPU of this process {1000 * cpu / done:.2f} ms/answer"
                    )
                    # the verify run stops at its quota: a wrong answer still in flight then is
                    # not committed, so up to the window's worth of rejections may be missing
                    half = args.requests // 2
                    if not verify and done != args.requests:
                        failures.append(f"plain: {done} answers committed, not {args.requests}")
                    if verify and (
                        manifest["accepted"] != half
                        or abs(manifest["rejected"] - half) > args.concurrency
                    ):
                        failures.append(f"verify kept {manifest['accepted']} of {done}, not half")
                ratios.append(rates["verify"] / rates["plain"])
                print(f"  {repeat + 1} verify / plain: {ratios[-1]:.3f}")
    runs = ", ".join(f"{r:.3f}" for r in ratios)
    print(f"median ratio {statistics.median(ratios):.3f} (runs: {runs})")
    if failures:
        raise SystemExit("\n".join(failures))


if __name__ == "__main__":
    main()
