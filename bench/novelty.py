"""ROUGE-L novelty filtering: the original one-at-a-time loop against teachkit's batched filter.

The original approach (Alpaca's ``generate_instruction.py``, after Self-Instruct) scores each
candidate against the whole pool with ``rouge_score`` in a ``multiprocessing.Pool``, drops it when
the best F-measure is above 0.7, else appends it to the pool. teachkit's
``novel_by_rouge_l`` must make exactly the same decisions; this script checks that and times both
in the same process.

Candidates are instruction-like strings made at run time from the 175 Self-Instruct seed tasks
and the 252 user-oriented instructions in ``../shared/data/self-instruct``: splices of two
instructions, near-copies (a word or two dropped or swapped) and extensions, so that a share of
them is rejected.

    python bench/novelty.py --candidates 1000                     # original measured in full
    python bench/novelty.py --candidates 20000 --original-limit 1000
        # original measured on the first 1,000 candidates only; its full time is extrapolated by
        # pair count (clearly labelled), while the decisions are compared on that prefix
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import statistics
import sys
import time
from functools import partial
from pathlib import Path

import numpy as np
from rouge_score import rouge_scorer

from teachkit.similarity import novel_by_rouge_l

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "self-instruct"
THRESHOLD = 0.7


def read(name: str) -> list[str]:
    lines = (DATA / name).read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["instruction"] for line in lines if line.strip()]


def make_candidates(texts: list[str], n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    out: list[str] = []
    while len(out) < n:
        words = rng.choice(texts).split()
        roll = rng.random()
        if roll < 0.25:  # near-copy: drop or swap a word or two
            for _ in range(rng.randint(1, 2)):
                i = rng.randrange(len(words))
                if rng.random() < 0.5 and len(words) > 4:
                    words.pop(i)
                else:
                    j = rng.randrange(len(words))
                    words[i], words[j] = words[j], words[i]
        elif roll < 0.85:  # splice two instructions at random cut points
            other = rng.choice(texts).split()
            words = (
                words[: rng.randint(2, max(2, len(words)))]
                + other[rng.randint(0, len(other) - 1) :]
            )
        else:  # extend with the opening of another instruction
            words = words + rng.choice(texts).split()[: rng.randint(2, 6)]
        out.append(" ".join(words))
    return out


def original(
    candidates: list[str], seeds: list[str], workers: int, kept_pool: bool, scoring: str
) -> tuple[list[bool], list[tuple[int, float]]]:
    """The original loop; returns the decisions and (pool size, seconds) for each candidate.

    scoring "alpaca": the pool is tokenized once and ``rouge_scorer._score_lcs`` scores token
    lists (Alpaca); "self-instruct": ``scorer.score(candidate, text)`` tokenizes both texts for
    every pair (Self-Instruct).
    """
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    pool_texts = list(seeds)
    pool_tokens = [scorer._tokenizer.tokenize(t) for t in seeds]
    keep: list[bool] = []
    costs: list[tuple[int, float]] = []
    shared = multiprocessing.Pool(workers) if kept_pool else None
    try:
        for candidate in candidates:
            start = time.perf_counter()
            tokens = scorer._tokenizer.tokenize(candidate)
            if scoring == "alpaca":
                work, items = partial(rouge_scorer._score_lcs, tokens), pool_tokens
            else:
                work, items = partial(scorer.score, candidate), pool_texts
            if shared is not None:
                scores = shared.map(work, items)
            else:
                with multiprocessing.Pool(workers) as p:
                    scores = p.map(work, items)
            values = [s.fmeasure if scoring == "alpaca" else s["rougeL"].fmeasure for s in scores]
            costs.append((len(items), time.perf_counter() - start))
            if max(values) > THRESHOLD:
                keep.append(False)
            else:
                keep.append(True)
                pool_tokens.append(tokens)
                pool_texts.append(candidate)
    finally:
        if shared is not None:
            shared.close()
            shared.join()
    return keep, costs


def extrapolate(costs: list[tuple[int, float]], decisions: list[bool], n_seeds: int) -> float:
    """Fit seconds = a + b * pool size on the measured candidates, sum it over all candidates."""
    sizes = np.array([size for size, _ in costs], dtype=float)
    seconds = np.array([sec for _, sec in costs])
    slope, intercept = (
        np.polyfit(sizes, seconds, 1) if len(set(sizes)) > 1 else (0.0, seconds.mean())
    )
    pool, total = n_seeds, 0.0
    for kept in decisions:
        total += max(0.0, intercept + slope * pool)
        pool += kept
    return total


def pair_count(decisions: list[bool], n_seeds: int) -> int:
    pool, pairs = n_seeds, 0
    for kept in decisions:
        pairs += pool
        pool += kept
    return pairs


def timed_teachkit(
    candidates: list[str], seeds: list[str], repeat: int
) -> tuple[list[bool], list[float]]:
    times: list[float] = []
    decisions: list[bool] = []
    for _ in range(repeat):
        start = time.perf_counter()
        decisions = novel_by_rouge_l(candidates, seeds, THRESHOLD)
        times.append(time.perf_counter() - start)
    return decisions, times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--candidates", type=int, default=1000, help="how many candidates")
    parser.add_argument(
        "--original-limit",
        type=int,
        default=None,
        help="run the original loop on this prefix only (0: skip it); default: all candidates",
    )
    parser.add_argument(
        "--original-mode",
        choices=["kept", "per-candidate"],
        default="kept",
        help="kept: one multiprocessing pool for the whole run; per-candidate: a new pool per "
        "candidate, as Alpaca's script does",
    )
    parser.add_argument(
        "--original-scoring",
        choices=["alpaca", "self-instruct"],
        default="alpaca",
        help="alpaca: pool tokenized once (faster); self-instruct: scorer.score per pair",
    )
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--repeat", type=int, default=3, help="teachkit timing repeats (min is used)"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    seeds = read("seed_tasks.jsonl")
    texts = seeds + read("user_oriented_instructions.jsonl")
    candidates = make_candidates(texts, args.candidates, args.seed)
    limit = (
        args.candidates
        if args.original_limit is None
        else min(args.original_limit, args.candidates)
    )

    print(
        f"# {len(seeds)} seeds, {len(candidates)} candidates, threshold {THRESHOLD}, "
        f"{os.cpu_count()} CPUs"
    )
    decisions, times = timed_teachkit(candidates, seeds, args.repeat)
    best = min(times)
    pairs = pair_count(decisions, len(seeds))
    print(
        f"teachkit novel_by_rouge_l: {best:.3f} s (min of {args.repeat}; median "
        f"{statistics.median(times):.3f} s), kept {sum(decisions)}/{len(decisions)}, "
        f"{pairs:,} pairs"
    )
    if limit <= 0:
        return 0

    prefix = candidates[:limit]
    prefix_decisions, prefix_times = timed_teachkit(prefix, seeds, args.repeat)
    assert prefix_decisions == decisions[:limit]  # a sequential filter: a prefix decides alike
    start = time.perf_counter()
    reference, costs = original(
        prefix, seeds, args.workers, args.original_mode == "kept", args.original_scoring
    )
    elapsed = time.perf_counter() - start
    same = reference == prefix_decisions
    label = (
        f"original ({args.original_scoring} scoring, {args.original_mode} pool, "
        f"{args.workers} workers)"
    )
    print(
        f"{label} on the first {limit}: {elapsed:.2f} s, kept {sum(reference)}/{limit}, "
        f"{pair_count(reference, len(seeds)):,} pairs"
    )
    print(f"identical decisions on those {limit}: {same}")
    print(
        f"speed-up on the first {limit} (same run): {elapsed / min(prefix_times):,.0f}x "
        f"(teachkit {min(prefix_times):.4f} s)"
    )
    if limit < len(candidates):
        estimate = extrapolate(costs, decisions, len(seeds))
        print(
            f"original on all {len(candidates)}: EXTRAPOLATED, not measured (per-candidate time "
            f"fitted as a + b * pool size on the first {limit}): ~{estimate:,.0f} s -> "
            f"speed-up ~{estimate / best:,.0f}x"
        )
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
