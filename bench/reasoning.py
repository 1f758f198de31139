"""Throughput of the reasoning generator against a plain templated run, on the fake server.

The fake server runs in its own process with a fixed latency and a script that answers the
solving prompt with eight kinds of trace in turn (correct in think tags, correct in the model's
own structure, wrong, cut off by max_tokens, unclosed think block, a loop, mixed language, no
answer), so the verdict counts are known exactly: with a number of traces divisible by eight each
kind comes back the same number of times, whatever the order. Every problem's answer is 7.

Measured, alternating, at the same concurrency:

* ``templated``: a ``templated`` recipe writing as many records as the reasoning runs write
  traces (one request each): the reference;
* ``reasoning/n``: the ``reasoning`` generator, native ``n`` (one request per problem);
* ``reasoning/1``: the same with ``supports_n: false`` (one request per trace, the requests the
  reference sends);

each a whole ``teachkit.run`` timed over its generation call (first request to last commit).
Throughput is records (traces) per second; the ratio is against the templated run of the same
repeat. The script exits non-zero when a verdict count is not the expected one.

    python bench/reasoning.py --problems 1000 --traces 4 --concurrency 64 --latency 0.1 --repeat 2
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import yaml

import teachkit
from teachkit.recipe.models import Recipe
from teachkit.testing import FakeServerProcess

MODEL = "fake-teacher"
MAX_TOKENS = 120
#: the script's traces in turn, and what each must become: (outcome, verified answer passes)
TRACES: list[tuple[str, str, bool | None]] = [
    ("<think>\nFirst add 7, then take the number away again: 7 remain.\n</think>\n\n"
     "So \\boxed{7} are left.", "passed", True),
    ("Add 7 to the box, then take the same number away.\nThat leaves 7.\nFinal answer: 7",
     "passed", True),
    ("<think>\nAdding and removing gives 8.\n</think>\n\n\\boxed{8}", "wrong_answer", False),
    ("<think>\n" + " ".join(f"step{i}" for i in range(2 * MAX_TOKENS)), "truncated", None),
    ("<think>\nLet me count the apples one at a", "truncated", None),
    ("<think>\n" + "Wait, let me check again. " * 12 + "\n</think>\n\\boxed{7}",
     "repetition", True),
    ("<think>\n加上七再减去，因此是 7。\n</think>\n\n\\boxed{7}", "mixed_language", True),
    ("<think>\nAdd 7 and take away the rest: 7.\n</think>\n", "no_answer", None),
]  # fmt: skip
SOLVE = "Please reason step by step"


def expected(traces: int) -> tuple[Counter[str], Counter[str]]:
    """(outcomes, verdict reasons) of ``traces`` traces."""
    per_kind = traces // len(TRACES)
    outcomes: Counter[str] = Counter()
    verdicts: Counter[str] = Counter()
    for _text, outcome, verified in TRACES:
        outcomes[outcome] += per_kind
        if verified is not None:
            verdicts["passed" if verified else "wrong_answer"] += per_kind
    return outcomes, verdicts


def write_inputs(folder: Path, problems: int) -> tuple[Path, Path]:
    script = folder / "script.yaml"
    script.write_text(yaml.safe_dump({SOLVE: [text for text, _o, _v in TRACES]}))
    rows = [
        {"question": f"Problem {i}: a box holds {i} apples; add 7, then take {i} away. How many "
         "are left?", "answer": f"{i} + 7 - {i} = 7\n#### 7"}
        for i in range(problems)
    ]  # fmt: skip
    data = folder / "problems.jsonl"
    data.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    return script, data


def teacher(base_url: str, concurrency: int, native: bool = True) -> dict[str, Any]:
    return {
        "backend": "openai",
        "model": MODEL,
        "base_url": base_url,
        "max_concurrency": concurrency,
        "sampling": {"max_tokens": MAX_TOKENS},
        "options": {"supports_n": native},
    }


#: CPU seconds of this process (not the fake server's, not the verifier's workers) per run
CPU: list[float] = []


def run(recipe: dict[str, Any], base_dir: Path) -> tuple[float, dict[str, Any]]:
    parsed = Recipe.model_validate(recipe)
    parsed.set_base_dir(str(base_dir))
    cpu = time.process_time()
    with tempfile.TemporaryDirectory() as tmp:
        summary = teachkit.run(parsed, out=Path(tmp) / "run")
    CPU.append(time.process_time() - cpu)
    return float(summary.manifest["sessions"][-1]["generation_s"]), summary.manifest


def templated(base_url: str, records: int, concurrency: int, base_dir: Path) -> float:
    seconds, manifest = run(
        {
            "name": "bench-templated",
            "teacher": teacher(base_url, concurrency),
            "generator": {
                "kind": "templated",
                "count": records,
                "prompt": "Question about {{ topic }}: explain why the sky looks blue at noon.",
                "axes": {"topic": [f"topic {i}" for i in range(records)]},
            },
        },
        base_dir,
    )
    assert manifest["accepted"] == records, manifest["status"]
    return seconds


def reasoning(
    base_url: str, problems: int, traces: int, concurrency: int, native: bool, base_dir: Path
) -> tuple[float, dict[str, Any]]:
    return run(
        {
            "name": "bench-reasoning",
            "teacher": teacher(base_url, concurrency, native),
            "generator": {
                "kind": "reasoning",
                "count": problems * traces,
                "traces": traces,
                "problems": {"file": "problems.jsonl", "preset": "gsm8k"},
                "verifier": {"kind": "math", "workers": 2},
            },
        },
        base_dir,
    )


def check(stats: dict[str, Any], traces: int) -> list[str]:
    outcomes, verdicts = expected(traces)
    problems = []
    if stats["outcomes"] != dict(outcomes):
        problems.append(f"outcomes {stats['outcomes']} != expected {dict(outcomes)}")
    if stats["verdicts"] != dict(verdicts):
        problems.append(f"verdicts {stats['verdicts']} != expected {dict(verdicts)}")
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--problems", type=int, default=1000)
    parser.add_argument("--traces", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    total = args.problems * args.traces
    if total % len(TRACES):
        parser.error(f"problems x traces must be a multiple of {len(TRACES)}")
    failures: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        script, _data = write_inputs(folder, args.problems)
        with FakeServerProcess(latency=args.latency, script=script) as server:
            url = server.base_url
            print(
                f"{args.problems} problems x {args.traces} traces, concurrency "
                f"{args.concurrency}, fake server latency {args.latency * 1000:g} ms"
            )
            rates: dict[str, list[float]] = {"templated": [], "reasoning/n": [], "reasoning/1": []}
            cpu: dict[str, list[float]] = {name: [] for name in rates}
            ratios: dict[str, list[float]] = {"reasoning/n": [], "reasoning/1": []}
            for _ in range(args.repeat):
                started = time.perf_counter()
                reference = total / templated(url, total, args.concurrency, folder)
                rates["templated"].append(reference)
                cpu["templated"].append(1000 * CPU[-1] / total)
                for name, native in (("reasoning/n", True), ("reasoning/1", False)):
                    seconds, manifest = reasoning(
                        url, args.problems, args.traces, args.concurrency, native, folder
                    )
                    stats = manifest["generator"]
                    failures += [f"{name}: {p}" for p in check(stats, total)]
                    rate = total / seconds
                    cpu[name].append(1000 * CPU[-1] / total)
                    rates[name].append(rate)
                    ratios[name].append(rate / reference)
                    print(
                        f"  {name}: {rate:.0f} traces/s ({rate / reference:.2f} of templated "
                        f"{reference:.0f} records/s); accepted {manifest['accepted']}, "
                        f"outcomes {stats['outcomes']}, verdicts {stats['verdicts']}"
                    )
                print(f"  (repeat took {time.perf_counter() - started:.1f} s)")
    print(
        f"{'run':>12} {'records/s (median)':>19} {'of templated':>13} {'CPU ms/record':>14}   runs"
    )
    for name, values in rates.items():
        ratio = statistics.median(ratios[name]) if name in ratios else 1.0
        runs = ", ".join(f"{v:.0f}" for v in values)
        ms = statistics.median(cpu[name])
        print(f"{name:>12} {statistics.median(values):>19.0f} {ratio:>13.2f} {ms:>14.2f}   {runs}")
    if failures:
        raise SystemExit("verdict counts differ from the script's:\n" + "\n".join(failures))
    print("verdict counts: exact")


if __name__ == "__main__":
    main()
