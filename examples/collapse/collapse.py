"""Reproduce model collapse (Shumailov et al., Nature 2024): a Gaussian and a text experiment.

    python examples/collapse/collapse.py                      # everything, figures in figures/
    python examples/collapse/collapse.py --embed off --quick  # lexical metrics, fewer repetitions

1. Gaussian: fit (mean, std) with np.std (ddof=0) to M points, sample M points from the fit,
   refit, for M = 100, 1,000 and 10,000, many seeded repetitions; the median fitted sigma is
   compared with the law derived in ``teachkit.quality.collapse`` and with exp(-n/M) and
   exp(-n/(2M)). Variants: accumulate all data so far; keep 10% / 30% real points.
2. Text: a trigram model fitted on the real Self-Instruct instructions (read at run time from
   ``--data``; their text is not stored here), refitted on its own samples for 10 generations with
   0%, 10% and 30% real texts kept each generation, every generation measured by the quality panel
   against the real instructions.

Writes ``results.json`` (figures only: no text of the data), ``results.md`` (the tables) and SVG
charts under ``--out`` (default: ``figures/`` beside this script).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from teachkit.errors import MissingExtraError
from teachkit.quality import CachedEncoder, PanelBuilder, PanelConfig
from teachkit.quality.collapse import collapse_law, gaussian_generations, text_generations
from teachkit.quality.encode import Encoder, default_encoder
from teachkit.quality.svg import PALETTE, Series, histogram, line_chart

HERE = Path(__file__).resolve().parent
DATA = HERE.parents[1] / ".." / "shared" / "data" / "self-instruct"
FILES = ("seed_tasks.jsonl", "user_oriented_instructions.jsonl")
SIZES = (100, 1_000, 10_000)
CHECKPOINTS = (10, 100, 1000)


def read_instructions(folder: Path) -> list[str]:
    texts = []
    for name in FILES:
        for line in (folder / name).read_text(encoding="utf-8").splitlines():
            if line.strip():
                texts.append(json.loads(line)["instruction"])
    return texts


# --- 1. Gaussian ---------------------------------------------------------------------------
def gaussian(generations: int, reps: dict[int, int], seed: int) -> dict[str, Any]:
    out: dict[str, Any] = {
        "generations": generations,
        "curve_step": STEP,
        "sizes": {},
        "variants": {},
    }
    for m in SIZES:
        start = time.perf_counter()
        sigmas = gaussian_generations(m, generations, reps[m], seed=seed)
        median = np.median(sigmas, axis=0)
        rows = []
        for n in CHECKPOINTS:
            if n > generations:
                continue
            law = collapse_law(m, n)
            rows.append(
                {
                    "n": n,
                    "median_sigma": float(median[n]),
                    "law_median_sigma": law["median_sigma"],
                    "exp_minus_n_over_m": math.exp(-n / m),
                    "exp_minus_n_over_2m": math.exp(-n / (2 * m)),
                    "median_sigma2": float(np.median(sigmas[:, n] ** 2)),
                    "law_median_sigma2": law["median_sigma2"],
                    "mean_sigma": float(sigmas[:, n].mean()),
                    "law_mean_sigma": law["mean_sigma"],
                    "mean_sigma2": float((sigmas[:, n] ** 2).mean()),
                    "law_mean_sigma2": law["mean_sigma2"],
                }
            )
        out["sizes"][str(m)] = {
            "repetitions": reps[m],
            "median_curve": _rounded(median),
            "checkpoints": rows,
            "seconds": time.perf_counter() - start,
        }
        print(f"gaussian M={m}: {reps[m]} repetitions, {time.perf_counter() - start:.1f} s")
    m = 100
    variants = {
        "replace": {"mode": "replace"},
        "accumulate": {"mode": "accumulate"},
        "mix 10% real": {"mode": "mix", "real_fraction": 0.1},
        "mix 30% real": {"mode": "mix", "real_fraction": 0.3},
    }
    for name, options in variants.items():
        sigmas = gaussian_generations(m, generations, reps[m], seed=seed + 1, **options)  # type: ignore[arg-type]
        median = np.median(sigmas, axis=0)
        out["variants"][name] = {
            "m": m,
            "median_curve": _rounded(median),
            "final_median": float(median[-1]),
        }
    return out


#: the stored and drawn curves keep every STEP-th generation (the tables use every generation)
STEP = 5


def _rounded(values: np.ndarray) -> list[float]:
    return [float(f"{v:.6g}") for v in values[::STEP].tolist()]


# --- 2. Text --------------------------------------------------------------------------------
def lean(panel: dict[str, Any]) -> dict[str, Any]:
    """The figures of a panel worth a row, without any text of the data."""
    diversity, lengths = panel["diversity"], panel["lengths"]
    rouge = diversity["self_rouge_l"] or {}
    row: dict[str, Any] = {
        "distinct_1": diversity["distinct"]["1"]["value"],
        "distinct_2": diversity["distinct"]["2"]["value"],
        "distinct_3": diversity["distinct"]["3"]["value"],
        "self_rouge_l": rouge.get("mean_max"),
        "self_rouge_l_pairwise": rouge.get("mean_pairwise"),
        "opener_3_top_share": diversity["openers"]["3"]["top_share"],
        "opener_5_top_share": diversity["openers"]["5"]["top_share"],
        "openers_3_distinct": diversity["openers"]["3"]["distinct"],
        "vocabulary": diversity["vocabulary"],
        "words_mean": lengths["words"]["mean"],
        "words_p95": (lengths["words"]["quantiles"] or {}).get("p95"),
        "word_histogram": lengths["words"]["histogram"],
    }
    drift = panel["drift"]
    if drift is not None:
        row["vocabulary_js"] = drift["vocabulary_js"]
        row["length_js_words"] = drift["length_js"]["words"]
    embedding = panel["embedding"]
    if embedding["available"]:
        row["dispersion"] = embedding["dispersion"]
        row["vendi"] = embedding["vendi"]
        row["repeat_share"] = embedding["neighbours"]["repeat_share"]
        if drift is not None and drift["embedding"]["available"]:
            emb = drift["embedding"]
            row["centroid_distance"] = emb["centroid_distance"]
            row["mmd2"] = emb["mmd"]["mmd2"]
            row["mmd_p"] = emb["mmd"]["p_value"]
            row["clusters_reached"] = emb["clusters"]["reached_share"]
            row["clusters_missed"] = len(emb["clusters"]["missed"])
            row["clusters_tv"] = emb["clusters"]["total_variation"]
    return row


def text(
    real: list[str], generations: int, fractions: list[float], seed: int, encoder: Encoder | None
) -> dict[str, Any]:
    config = PanelConfig(embed=encoder is not None, seed=seed, clusters=20, mmd_permutations=200)

    def measure(samples: list[str]) -> dict[str, Any]:
        builder = PanelBuilder(config, encoder=encoder, model="all-MiniLM-L6-v2")
        builder.add_texts(samples)
        builder.add_reference_texts(real)
        return lean(builder.result())

    builder = PanelBuilder(config, encoder=encoder, model="all-MiniLM-L6-v2")
    builder.add_texts(real)
    builder.add_reference_texts(real)
    out: dict[str, Any] = {"real": lean(builder.result()), "runs": {}}
    for fraction in fractions:
        start = time.perf_counter()
        rows = text_generations(
            real, generations=generations, real_fraction=fraction, seed=seed, measure=measure
        )
        out["runs"][f"{fraction:.0%}"] = rows
        print(f"text, {fraction:.0%} real: {time.perf_counter() - start:.1f} s")
    return out


# --- output -----------------------------------------------------------------------------------
def figures(results: dict[str, Any], out: Path) -> list[str]:
    written = []

    def save(name: str, svg: str) -> None:
        (out / name).write_text(svg, encoding="utf-8")
        written.append(name)

    gauss = results["gaussian"]
    n = gauss["generations"]
    xs = list(range(0, n + 1, STEP))
    series = []
    for i, m in enumerate(SIZES):
        curve = gauss["sizes"][str(m)]["median_curve"]
        law = [collapse_law(m, g)["median_sigma"] for g in xs]
        series.append(Series(f"M = {m:,}: simulated median", curve, xs, colour=PALETTE[i]))
        series.append(Series(f"M = {m:,}: law", law, xs, dashed=True, colour=PALETTE[i]))
    save(
        "gaussian_sigma.svg",
        line_chart(
            series,
            title="Fitted sigma over generations (np.std, ddof=0)",
            x_label="generation n",
            y_label="median fitted sigma (log scale)",
            log_y=True,
            width=900,
            height=420,
        ),
    )
    variants = [
        Series(name, v["median_curve"], xs) for name, v in results["gaussian"]["variants"].items()
    ]
    save(
        "gaussian_variants.svg",
        line_chart(
            variants,
            title="M = 100: replacing the data vs accumulating or mixing in real data",
            x_label="generation n",
            y_label="median fitted sigma",
            y_range=(0.0, 1.1),
            width=820,
            height=400,
        ),
    )
    runs = results["text"]["runs"]
    real = results["text"]["real"]
    metrics = [
        ("distinct_2", "distinct-2"),
        ("self_rouge_l", "self-ROUGE-L (mean of max)"),
        ("vocabulary_js", "vocabulary JS divergence vs real (bits)"),
        ("opener_3_top_share", "share of the most common 3-word opener"),
    ]
    if "vendi" in real:
        metrics += [
            ("vendi", "Vendi score (MiniLM, cosine)"),
            ("clusters_reached", "share of real k-means clusters reached"),
        ]
    for key, label in metrics:
        lines = [Series(f"{name} real kept", [r[key] for r in rows]) for name, rows in runs.items()]
        if key in real and key not in ("vocabulary_js", "clusters_reached"):
            count = len(next(iter(runs.values())))
            lines.append(Series("real data", [real[key]] * count, dashed=True, colour="#777777"))
        save(
            f"text_{key}.svg",
            line_chart(
                lines,
                title=label,
                x_label="generation",
                y_label=label,
                width=640,
                height=360,
            ),
        )
    last = runs["0%"][-1]["word_histogram"]
    edges = real["word_histogram"]["edges"]
    edges = edges if len(edges) >= len(last["edges"]) else last["edges"]
    bins = len(edges) - 1

    def padded(counts: list[int]) -> list[int]:
        return counts + [0] * (bins - len(counts))

    save(
        "text_lengths.svg",
        histogram(
            edges,
            {
                "real": padded(real["word_histogram"]["counts"]),
                "generation 10, 0% real": padded(last["counts"]),
            },
            density=True,
            title="Words per instruction: real vs the last generation without real data",
            x_label="words",
            y_label="density",
            width=640,
            height=360,
        ),
    )
    return written


def tables(results: dict[str, Any]) -> str:
    lines = ["## Gaussian: median fitted sigma after n generations", ""]
    lines += [
        "| M | repetitions | n | simulated median sigma | law exp(n s_M) | exp(-n/M) | "
        "exp(-n/2M) | simulated median sigma^2 | law | simulated mean sigma^2 | ((M-1)/M)^n |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for m, info in results["gaussian"]["sizes"].items():
        for row in info["checkpoints"]:
            lines.append(
                f"| {int(m):,} | {info['repetitions']:,} | {row['n']:,} | "
                f"{row['median_sigma']:.4g} | {row['law_median_sigma']:.4g} | "
                f"{row['exp_minus_n_over_m']:.4g} | {row['exp_minus_n_over_2m']:.4g} | "
                f"{row['median_sigma2']:.4g} | {row['law_median_sigma2']:.4g} | "
                f"{row['mean_sigma2']:.4g} | {row['law_mean_sigma2']:.4g} |"
            )
    lines += ["", "## Gaussian variants (M = 100): median sigma at the last generation", ""]
    lines += ["| variant | median sigma |", "| --- | --- |"]
    for name, info in results["gaussian"]["variants"].items():
        lines.append(f"| {name} | {info['final_median']:.4g} |")
    real = results["text"]["real"]
    columns = [
        ("distinct_1", "distinct-1"),
        ("distinct_2", "distinct-2"),
        ("distinct_3", "distinct-3"),
        ("self_rouge_l", "self-ROUGE-L"),
        ("opener_3_top_share", "top 3-word opener"),
        ("words_mean", "mean words"),
        ("length_js_words", "length JS"),
        ("vocabulary_js", "vocabulary JS"),
    ]
    if "vendi" in real:
        columns += [
            ("vendi", "Vendi"),
            ("dispersion", "dispersion"),
            ("centroid_distance", "centroid dist."),
            ("mmd2", "MMD^2"),
            ("clusters_reached", "clusters reached"),
            ("clusters_missed", "clusters missed"),
        ]
    header = "| generation | n-gram types | " + " | ".join(c[1] for c in columns) + " |"
    rule = "| --- " * (len(columns) + 2) + "|"
    for name, rows in results["text"]["runs"].items():
        lines += ["", f"## Text, {name} real data kept each generation", "", header, rule]
        lines.append("| real data | | " + " | ".join(_cell(real.get(k)) for k, _ in columns) + " |")
        for row in rows:
            cells = " | ".join(_cell(row.get(k)) for k, _ in columns)
            lines.append(f"| {row['generation']} | {row['ngram_types']:,} | {cells} |")
    return "\n".join(lines) + "\n"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, int):
        return f"{value:,}"
    text = f"{value:.3f}"
    return "0.000" if text == "-0.000" else text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--out", type=Path, default=HERE / "figures")
    parser.add_argument("--generations", type=int, default=10, help="text generations")
    parser.add_argument("--gaussian-generations", type=int, default=1000)
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.0, 0.1, 0.3])
    parser.add_argument("--embed", choices=["auto", "on", "off"], default="auto")
    parser.add_argument(
        "--cache",
        type=Path,
        default=Path.home() / ".cache" / "teachkit" / "collapse-embeddings.npz",
        help="embedding cache (vectors of real and generated texts)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="fewer Gaussian repetitions")
    args = parser.parse_args()

    reps = {100: 2000, 1_000: 500, 10_000: 100}
    if args.quick:
        reps = {100: 400, 1_000: 100, 10_000: 20}
    real = read_instructions(args.data)
    print(f"{len(real)} real instructions from {args.data}")
    encoder: CachedEncoder | None = None
    if args.embed != "off":
        try:
            encoder = CachedEncoder(default_encoder(), args.cache)
        except MissingExtraError as exc:  # no 'embed' extra: lexical metrics only
            if args.embed == "on":
                raise
            print(f"embedding metrics off: {exc}")
    start = time.perf_counter()
    results: dict[str, Any] = {
        "gaussian": gaussian(args.gaussian_generations, reps, args.seed),
        "text": text(real, args.generations, args.fractions, args.seed, encoder),
    }
    if encoder is not None:
        encoder.save()
    results["seconds"] = time.perf_counter() - start
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    (args.out / "results.md").write_text(tables(results))
    written = figures(results, args.out)
    print(f"wrote results.json, results.md and {', '.join(written)} to {args.out}")
    print(tables(results))


if __name__ == "__main__":
    main()
