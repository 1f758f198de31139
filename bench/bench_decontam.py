"""Decontamination speed: the inverted-index search against full scans, in one process.

Validation inputs: the 427 human-written Self-Instruct tasks (../shared/data). Candidates: copies,
word-dropped edits and mixes of those inputs plus unrelated word salad, so some overlap and most do
not (as in a real export). Three ways to decide "ROUGE-L above 0.7 with some validation input":

* ``pairwise``  – ``rouge_l`` against every validation input (the reference);
* ``vectorised`` – ``RougeLIndex.scores``: every input at once, bit-parallel LCS in C;
* ``decontam``  – ``Decontaminator`` (inverted index, upper bound, ``rouge_l`` on survivors).

All three must agree; the script prints seconds and the speed-up over ``pairwise``.

    python bench/bench_decontam.py [--candidates 3000]
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable
from pathlib import Path

from teachkit.formats.decontam import Decontaminator, user_text
from teachkit.formats.readers import read_records
from teachkit.similarity.rouge import RougeLIndex, rouge_l

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "self-instruct"
THRESHOLD = 0.7


def candidates(references: list[str], count: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    vocabulary = sorted({w for text in references for w in text.split()})
    out: list[str] = []
    while len(out) < count:
        text = rng.choice(references)
        words = text.split()
        kind = rng.random()
        if kind < 0.05:
            out.append(text)
        elif kind < 0.25:
            out.append(" ".join(w for w in words if rng.random() > 0.2))
        elif kind < 0.45:
            other = rng.choice(references).split()
            out.append(" ".join(words[: len(words) // 2] + other[len(other) // 2 :]))
        else:
            out.append(" ".join(rng.choice(vocabulary) for _ in range(rng.randint(8, 60))))
    return out


def timed(label: str, fn: Callable[[str], bool], texts: list[str]) -> tuple[float, list[bool]]:
    start = time.perf_counter()
    flags = [fn(t) for t in texts]
    seconds = time.perf_counter() - start
    print(f"{label:<11} {seconds:8.3f} s   {sum(flags)} contaminated")
    return seconds, flags


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--candidates", type=int, default=3000)
    args = parser.parse_args()
    references = [
        user_text(r)
        for name in ("seed_tasks.jsonl", "user_oriented_instructions.jsonl")
        for r in read_records(DATA / name)
    ]
    texts = candidates(references, args.candidates)
    print(f"{len(texts)} candidates x {len(references)} validation inputs")

    def pairwise(text: str) -> bool:
        return any(rouge_l(text, ref) > THRESHOLD for ref in references)

    index = RougeLIndex(references)

    def vectorised(text: str) -> bool:
        return bool((index.scores(text) > THRESHOLD).any())

    start = time.perf_counter()
    checker = Decontaminator(references, threshold=THRESHOLD, ngram=0)
    build = time.perf_counter() - start

    def pruned(text: str) -> bool:
        return checker.check(text) is not None

    reference_s, expected = timed("pairwise", pairwise, texts)
    vector_s, vector_flags = timed("vectorised", vectorised, texts)
    pruned_s, pruned_flags = timed("decontam", pruned, texts)
    assert vector_flags == expected and pruned_flags == expected, "methods disagree"
    print(
        f"index build {build:.3f} s; rouge_l calls {checker.rouge_calls} "
        f"(pairwise: {len(texts) * len(references)})"
    )
    print(
        f"speed-up over pairwise: vectorised {reference_s / vector_s:.1f}x, "
        f"decontam {reference_s / (pruned_s + build):.1f}x (index build included)"
    )


if __name__ == "__main__":
    main()
