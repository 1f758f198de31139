"""The quality panel on 100,000 records: time, peak memory growth, and the encode rate apart.

    python bench/quality.py                                  # sizes 10k, 50k, 100k
    python bench/quality.py --sizes 100000 --exact-neighbours  # also all-pairs neighbours at 100k
    python bench/quality.py --encode                          # fill the embedding cache first

Records: instruction-like texts sampled at run time from a trigram model (teachkit's
``NgramModel``) fitted on the 427 real Self-Instruct instructions in ``../shared/data``
(``seed 0``: the same texts every run; about 40% repeat exactly, as unfiltered synthetic data
does), each with ``meta.axes``. The reference ("real data") is those 427 instructions.

Embeddings are an input of the panel: MiniLM encodes tens of texts per second on this machine, so
the vectors of every text are computed once into a cache (``--cache``, a ``CachedEncoder`` file,
as a run would keep beside its directory) and the panel is timed with them given. The encode rate
is measured separately on texts the cache does not hold. ``--vectors random`` replaces MiniLM by a
seeded random unit vector per distinct text (same repeat structure, no semantics) when the cache
is not filled; its figures are labelled as such.

Each size runs in a fresh process: RSS is sampled every 10 ms during the panel, the growth is the
peak minus the RSS once the inputs (texts, vectors) are loaded; a second pass under tracemalloc
gives the peak of Python and numpy allocations made by the panel.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import subprocess
import sys
import threading
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from teachkit.quality import CachedEncoder, PanelConfig, quality_panel
from teachkit.quality.ngram import NgramModel
from teachkit.records import Record

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "self-instruct"
CACHE = Path.home() / ".cache" / "teachkit" / "bench-quality.npz"
TARGET_SECONDS = 60.0
PERSONAS = ["a student", "a nurse", "a developer", "a lawyer", "a farmer", "a retiree"]
TASKS = ["explain", "rewrite", "classify", "summarise", "plan", "compare", "list", "translate"]


def real_texts() -> list[str]:
    out = []
    for name in ("seed_tasks.jsonl", "user_oriented_instructions.jsonl"):
        for line in (DATA / name).read_text(encoding="utf-8").splitlines():
            if line.strip():
                out.append(json.loads(line)["instruction"])
    return out


def synthetic_texts(real: list[str], n: int) -> list[str]:
    return NgramModel.fit(real, 3).sample(n, seed=0)


def records(texts: list[str]) -> Iterator[Record]:
    for i, text in enumerate(texts):
        axes = {"persona": PERSONAS[i * 7 % len(PERSONAS)], "task": TASKS[i * 13 % len(TASKS)]}
        yield Record(messages=[{"role": "user", "content": text}], meta={"axes": axes})


def random_vectors(texts: list[str], dim: int = 384) -> np.ndarray:
    """A seeded random unit vector per distinct text (the same text, the same vector)."""
    out = np.empty((len(texts), dim), dtype=np.float32)
    for i, text in enumerate(texts):
        seed = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")
        out[i] = np.random.default_rng(seed).standard_normal(dim)
    return out / np.linalg.norm(out, axis=1, keepdims=True)


class NotEncoded(Exception):
    pass


def cached_vectors(texts: list[str], cache: Path) -> np.ndarray:
    def refuse(batch: object) -> np.ndarray:
        raise NotEncoded("the cache lacks some texts: run with --encode (or --vectors random)")

    return CachedEncoder(refuse, cache)(texts)


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class PeakRSS:
    def __init__(self) -> None:
        self.peak = rss_mb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, rss_mb())

    def __enter__(self) -> PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_mb())


def worker(size: int, vectors: str, cache: Path, exact: bool) -> dict[str, Any]:
    real = real_texts()
    texts = synthetic_texts(real, size)
    if vectors == "minilm":
        syn, ref = cached_vectors(texts, cache), cached_vectors(real, cache)
    else:
        syn, ref = random_vectors(texts), random_vectors(real)
    config = PanelConfig()
    out: dict[str, Any] = {"records": size, "vectors": vectors, "distinct_texts": len(set(texts))}
    # lexical alone, then the whole panel (lexical + embedding + drift), then tracemalloc
    start = time.perf_counter()
    lexical = quality_panel(records(texts), records(real), config=PanelConfig(embed=False))
    out["lexical_seconds"] = time.perf_counter() - start
    base = rss_mb()
    with PeakRSS() as peak:
        start = time.perf_counter()
        panel = quality_panel(
            records(texts), records(real), config=config, embeddings=syn, reference_embeddings=ref
        )
        out["panel_seconds"] = time.perf_counter() - start
    out["rss_before_mb"] = base
    out["rss_peak_mb"] = peak.peak
    out["rss_growth_mb"] = peak.peak - base
    out["ru_maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    tracemalloc.start()
    quality_panel(
        records(texts), records(real), config=config, embeddings=syn, reference_embeddings=ref
    )
    out["tracemalloc_peak_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    out["inputs_mb"] = (syn.nbytes + ref.nbytes) / 2**20
    out["figures"] = {
        "distinct_2": panel["diversity"]["distinct"]["2"]["value"],
        "self_rouge_l": panel["diversity"]["self_rouge_l"]["mean_max"],
        "vendi": panel["embedding"]["vendi"],
        "dispersion": panel["embedding"]["dispersion"],
        "repeat_share": panel["embedding"]["neighbours"]["repeat_share"],
        "neighbours_exact": panel["embedding"]["neighbours"]["exact"],
        "mmd2": panel["drift"]["embedding"]["mmd"]["mmd2"],
        "mmd_p": panel["drift"]["embedding"]["mmd"]["p_value"],
        "clusters_reached": panel["drift"]["embedding"]["clusters"]["reached_share"],
        "vocabulary_js": lexical["drift"]["vocabulary_js"],
    }
    if exact:
        from teachkit.quality import repeat_clusters

        start = time.perf_counter()
        found = repeat_clusters(syn, threshold=config.repeat_threshold)
        out["exact_neighbours_seconds"] = time.perf_counter() - start
        out["exact_clusters"] = found["clusters"]
    return out


def encode_rate(cache: Path, count: int) -> dict[str, Any]:
    """Texts per second of the packaged MiniLM on texts the cache does not hold (not saved)."""
    from teachkit.quality.encode import default_encoder, encode_batches

    real = real_texts()
    texts = [t for t in synthetic_texts(real, 200_000)[100_000:] if t][:count]
    start = time.perf_counter()
    encoder = default_encoder()
    load = time.perf_counter() - start
    start = time.perf_counter()
    encode_batches(texts, encoder, batch=256)
    seconds = time.perf_counter() - start
    return {
        "texts": len(texts),
        "load_seconds": load,
        "seconds": seconds,
        "rate": len(texts) / seconds,
    }


def fill_cache(cache: Path, size: int) -> None:
    from teachkit.quality.encode import default_encoder

    real = real_texts()
    encoder = CachedEncoder(default_encoder(), cache)
    texts = real + synthetic_texts(real, size)
    start = time.perf_counter()
    for a in range(0, len(texts), 4096):
        encoder(texts[a : a + 4096])
        encoder.save()
        print(f"{a + 4096} texts, {encoder.misses} encoded, {time.perf_counter() - start:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 50_000, 100_000])
    parser.add_argument("--vectors", choices=["minilm", "random"], default="minilm")
    parser.add_argument("--cache", type=Path, default=CACHE)
    parser.add_argument("--encode", action="store_true", help="fill the cache first")
    parser.add_argument("--encode-rate", type=int, default=512, help="texts timed (0: skip)")
    parser.add_argument("--exact-neighbours", action="store_true")
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        result = worker(args.worker, args.vectors, args.cache, args.exact_neighbours)
        print(json.dumps(result))
        return
    if args.encode:
        fill_cache(args.cache, max(args.sizes))
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    results = []
    for size in args.sizes:
        command = [sys.executable, __file__, "--worker", str(size), "--vectors", args.vectors]
        command += ["--cache", str(args.cache)]
        if args.exact_neighbours and size == max(args.sizes):
            command.append("--exact-neighbours")
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode:
            sys.exit(done.stderr.strip().splitlines()[-1] if done.stderr else "worker failed")
        result = json.loads(done.stdout.strip().splitlines()[-1])
        results.append(result)
        print(
            f"{size:>7,} records ({result['distinct_texts']:,} distinct, {args.vectors} vectors): "
            f"panel {result['panel_seconds']:.1f} s (lexical alone {result['lexical_seconds']:.1f}"
            f" s), RSS growth {result['rss_growth_mb']:.0f} MB over {result['rss_before_mb']:.0f}"
            f" MB (inputs {result['inputs_mb']:.0f} MB), peak RSS {result['rss_peak_mb']:.0f} MB,"
            f" tracemalloc peak {result['tracemalloc_peak_mb']:.0f} MB"
        )
        if "exact_neighbours_seconds" in result:
            print(
                f"         all-pairs neighbours and repeat clusters at {size:,}: "
                f"{result['exact_neighbours_seconds']:.1f} s "
                f"({result['exact_clusters']:,} clusters)"
            )
        print(f"         figures: {json.dumps(result['figures'])}")
    largest = results[-1]
    verdict = "holds" if largest["panel_seconds"] < TARGET_SECONDS else "MISSED"
    print(
        f"target: panel and drift on {largest['records']:,} records under {TARGET_SECONDS:.0f} s: "
        f"{verdict} ({largest['panel_seconds']:.1f} s)"
    )
    if args.encode_rate:
        rate = encode_rate(args.cache, args.encode_rate)
        print(
            f"MiniLM encode rate: {rate['rate']:.1f} texts/s ({rate['texts']} texts in "
            f"{rate['seconds']:.1f} s, model load {rate['load_seconds']:.1f} s): 100,000 texts "
            f"take about {100_000 / rate['rate'] / 60:.0f} min"
        )


if __name__ == "__main__":
    main()
