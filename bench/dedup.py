"""MinHash dedup throughput: teachkit's streaming index beside datasketch, in the same run.

Documents are short (8-40 words) and made at run time from the words of the real texts in
``shared/data`` (Self-Instruct instructions, inputs and outputs), with planted near duplicates
(light edits of recent documents) and exact copies. Both sides see the same normalised texts and
the same shingles (character 5-grams), use 128 permutations and threshold 0.8, keep the first
document and drop a later one whose estimated Jaccard similarity with a kept document that shares
an LSH band is at least 0.8 (datasketch: ``MinHashLSH.query`` then ``MinHash.jaccard``).

    python bench/dedup.py --docs 100000
    python bench/dedup.py --docs 1000000 --datasketch-limit 100000

With ``--datasketch-limit`` below ``--docs``, datasketch runs on that prefix only; its time for all
documents is extrapolated from its rate on the prefix and labelled so. Agreement is measured on
the documents both sides processed: |drops_ours & drops_ds| / |drops_ds| and the reverse.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from teachkit.similarity.minhash import MinHashIndex
from teachkit.similarity.text import normalize

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "self-instruct"
THRESHOLD, NUM_PERM, NGRAM = 0.8, 128, 5


def vocabulary() -> list[str]:
    words: list[str] = []
    for name in ("seed_tasks.jsonl", "user_oriented_instructions.jsonl"):
        for line in (DATA / name).read_text(encoding="utf-8").splitlines():
            task = json.loads(line)
            words += task["instruction"].split()
            for instance in task["instances"]:
                words += instance["input"].split() + instance["output"].split()
    return words


def documents(count: int, seed: int, words: list[str]) -> Iterator[str]:
    """Fresh documents, light edits of recent ones (10%) and copies with other case/spacing (2%)."""
    rng = random.Random(seed)
    recent: deque[str] = deque(maxlen=5000)
    for _ in range(count):
        roll = rng.random()
        if recent and roll < 0.02:
            doc = rng.choice(recent)
            doc = doc.upper() if rng.random() < 0.5 else "  " + doc.replace(" ", "  ")
        elif recent and roll < 0.12:
            doc = edit(rng.choice(recent), rng, words)
        else:
            doc = " ".join(rng.choices(words, k=rng.randint(8, 40)))
        recent.append(doc)
        yield doc


def edit(doc: str, rng: random.Random, words: list[str]) -> str:
    tokens = doc.split()
    for _ in range(rng.choice((1, 1, 2))):
        at = rng.randrange(len(tokens))
        kind = rng.randrange(5)
        if kind == 0:
            tokens[at] = rng.choice(words)
        elif kind == 1 and len(tokens) > 8:
            del tokens[at]
        elif kind == 2:
            tokens.insert(at, rng.choice(words))
        elif kind == 3 and at + 1 < len(tokens):
            tokens[at], tokens[at + 1] = tokens[at + 1], tokens[at]
        else:
            tokens[at] = tokens[at].rstrip(".,!?") + rng.choice(("", ".", ",", "!"))
    return " ".join(tokens)


def rss_mb(field: str = "VmRSS") -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run_ours(
    count: int, seed: int, words: list[str], batch: int, group: float | None
) -> dict[str, Any]:
    index = MinHashIndex(THRESHOLD, num_perm=NUM_PERM, ngram=NGRAM, group_threshold=group)
    drops = np.zeros(count, dtype=bool)
    busy, done, texts = 0.0, 0, []
    checkpoints: list[tuple[int, float, float]] = [(0, 0.0, rss_mb())]
    step = 100_000
    for doc in documents(count, seed, words):
        texts.append(doc)
        if len(texts) == batch or done + len(texts) == count:
            started = time.perf_counter()
            decisions = index.add_many(
                [normalize(t) for t in texts], [str(done + i) for i in range(len(texts))]
            )
            busy += time.perf_counter() - started
            drops[done : done + len(texts)] = [d.duplicate_of is not None for d in decisions]
            done += len(texts)
            texts = []
            if done // step > checkpoints[-1][0] // step or done == count:
                checkpoints.append((done, busy, rss_mb()))
                print(
                    f"  ours: {done:>9,} docs  {busy:7.1f} s  RSS {checkpoints[-1][2]:7.0f} MB",
                    file=sys.stderr,
                )
    return {
        "drops": drops,
        "seconds": busy,
        "checkpoints": checkpoints,
        "bytes": index.nbytes(),
        "indexed": len(index),
        "peak": rss_mb("VmHWM"),
    }


def run_datasketch(count: int, seed: int, words: list[str]) -> dict[str, Any]:
    from datasketch import MinHash, MinHashLSH

    shingler = MinHashIndex(THRESHOLD, num_perm=NUM_PERM, ngram=NGRAM).hasher  # same shingles
    lsh = MinHashLSH(threshold=THRESHOLD, num_perm=NUM_PERM)
    kept: dict[int, MinHash] = {}
    drops = np.zeros(count, dtype=bool)
    busy = 0.0
    for i, doc in enumerate(documents(count, seed, words)):
        started = time.perf_counter()
        sketch = MinHash(num_perm=NUM_PERM)
        sketch.update_batch([s.encode("utf-8") for s in shingler.shingles(normalize(doc))])
        best = max((sketch.jaccard(kept[k]) for k in lsh.query(sketch)), default=0.0)
        if best >= THRESHOLD:
            drops[i] = True
        else:
            lsh.insert(i, sketch)
            kept[i] = sketch
        busy += time.perf_counter() - started
        if (i + 1) % 25_000 == 0:
            print(f"  datasketch: {i + 1:>9,} docs  {busy:7.1f} s", file=sys.stderr)
    return {"drops": drops, "seconds": busy}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument(
        "--datasketch-limit",
        type=int,
        default=None,
        help="run datasketch on this prefix only and extrapolate",
    )
    parser.add_argument("--batch", type=int, default=4096, help="documents per index call")
    parser.add_argument(
        "--group-threshold", type=float, default=0.6, help="0 disables the group bands"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    words = vocabulary()
    group = args.group_threshold or None
    started = time.perf_counter()
    sum(1 for _ in documents(args.docs, args.seed, words))
    making = time.perf_counter() - started

    ours = run_ours(args.docs, args.seed, words, args.batch, group)
    prefix = min(args.docs, args.datasketch_limit or args.docs)
    ds = run_datasketch(prefix, args.seed, words)

    report(args.docs, prefix, making, args.batch, group, ours, ds)


def report(
    docs: int,
    prefix: int,
    making: float,
    batch: int,
    group: float | None,
    ours: dict[str, Any],
    ds: dict[str, Any],
) -> None:
    our_drops, ds_drops = ours["drops"][:prefix], ds["drops"]
    both = int(np.sum(our_drops & ds_drops))
    rate = docs / ours["seconds"]
    cps = ours["checkpoints"]
    prefix_seconds = float(np.interp(prefix, [c[0] for c in cps], [c[1] for c in cps]))
    ds_rate = prefix / ds["seconds"]
    label = "measured" if prefix == docs else f"EXTRAPOLATED from the first {prefix:,} documents"
    growth = ", ".join(f"{g:.0f}" for g in np.diff([c[2] for c in cps]))
    per_doc = ours["bytes"] / ours["indexed"]
    lines = [
        f"documents: {docs:,} ({making:.1f} s to make them, not timed); batch {batch}; "
        f"threshold {THRESHOLD}, {NUM_PERM} permutations, char {NGRAM}-grams; "
        f"group_threshold {group}",
        f"teachkit MinHashIndex: {ours['seconds']:.1f} s, {rate:,.0f} docs/s, "
        f"{int(ours['drops'].sum()):,} dropped",
        f"datasketch MinHashLSH: {ds['seconds']:.1f} s for {prefix:,} docs, {ds_rate:,.0f} docs/s; "
        f"for all {docs:,} docs: {docs / ds_rate:.0f} s ({label})",
        f"speed-up on the same {prefix:,} documents: {ds['seconds'] / prefix_seconds:.1f}x; "
        f"rate over the whole run vs datasketch's: {rate / ds_rate:.1f}x",
        f"agreement on {prefix:,} docs: |ours & ds| / |ds| = {both / max(1, ds_drops.sum()):.4f}, "
        f"|ours & ds| / |ours| = {both / max(1, our_drops.sum()):.4f} "
        f"(dropped: datasketch {int(ds_drops.sum()):,}, teachkit {int(our_drops.sum()):,})",
        f"index state: {per_doc:.0f} bytes per kept document "
        f"({ours['bytes'] / 2**20:.0f} MiB for {ours['indexed']:,})",
        f"RSS growth per 100k docs (the first includes caches): {growth} MB; "
        f"peak RSS during the teachkit run {ours['peak']:.0f} MB",
    ]
    print("\n" + "\n".join(lines))


if __name__ == "__main__":
    main()
