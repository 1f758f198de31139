"""The report's sections about diversity: the quality panel's figures, nearest-neighbour
similarity and the 2-D map of the records.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from teachkit.quality.charts import scatter
from teachkit.quality.projection import nearest_similarity, pca_2d
from teachkit.quality.report_sections import chart, no_panel, note, section
from teachkit.quality.reportdata import ReportData, esc, fmt, pct
from teachkit.quality.svg import PALETTE, histogram

__all__ = ["diversity_section", "map_section", "similarity_section"]


_METRICS: list[tuple[str, str, str]] = [
    ("records", "records", "texts measured"),
    ("distinct-1", "d1", "distinct words / all words"),
    ("distinct-2", "d2", "distinct word pairs / all pairs: low means repeated phrasing"),
    ("distinct-3", "d3", "distinct word triples / all triples"),
    (
        "self-ROUGE-L",
        "rouge",
        "mean over texts of the ROUGE-L to the most similar other text: high means near copies",
    ),
    (
        "top 3-word opener",
        "opener",
        "share of texts starting with the most common first three words",
    ),
    ("Vendi score", "vendi", "effective number of distinct texts (embeddings)"),
    ("dispersion", "dispersion", "mean cosine distance between two texts (embeddings)"),
    ("near repeats", "repeats", "share of texts with a neighbour at cosine similarity 0.9 or more"),
]


def _values(panel: dict[str, Any] | None, embedding: dict[str, Any] | None) -> dict[str, Any]:
    if not panel:
        return {}
    div = panel["diversity"]
    rouge = div.get("self_rouge_l") or {}
    opener = (div.get("openers") or {}).get("3") or {}
    out: dict[str, Any] = {
        "records": panel["records"],
        "d1": div["distinct"].get("1", {}).get("value"),
        "d2": div["distinct"].get("2", {}).get("value"),
        "d3": div["distinct"].get("3", {}).get("value"),
        "rouge": rouge.get("mean_max"),
        "opener": opener.get("top_share"),
    }
    if embedding:
        out["vendi"] = embedding.get("vendi")
        out["dispersion"] = embedding.get("dispersion")
        neighbours = embedding.get("neighbours") or {}
        out["repeats"] = neighbours.get("repeat_share")
    return out


def diversity_section(data: ReportData) -> str:
    quality = data.quality
    if quality is None:
        return section("diversity", "Diversity", note(no_panel()))
    heads, columns = [], []
    for name, panel in quality["fields"].items():
        emb = panel["embedding"] if panel["embedding"].get("available") else None
        heads.append(f"{esc(name)}<br><small>synthetic</small>")
        columns.append(_values(panel, emb))
        if panel.get("reference"):
            heads.append(f"{esc(name)}<br><small>real</small>")
            columns.append(_values(panel["reference"], panel["reference"].get("embedding")))
    rows = [
        "<table class='metrics'><thead><tr><th>metric</th>"
        + "".join(f"<th class='num'>{h}</th>" for h in heads)
        + "<th>meaning</th></tr></thead><tbody>"
    ]
    for label, key, meaning in _METRICS:
        cells = "".join(f"<td class='num'>{fmt(col.get(key))}</td>" for col in columns)
        rows.append(f"<tr><th>{esc(label)}</th>{cells}<td class='meaning'>{esc(meaning)}</td></tr>")
    rows.append("</tbody></table>")
    main = data.panel()
    if main:
        drift = main.get("drift") or {}
        facts = []
        if drift:
            facts.append(
                "vocabulary JS divergence from the real texts: "
                f"<b>{fmt(drift.get('vocabulary_js'))}</b> (0 = same words, 1 = none shared)"
            )
            emb = drift.get("embedding") or {}
            if emb.get("available"):
                mmd = emb.get("mmd") or {}
                clusters = emb.get("clusters") or {}
                facts.append(
                    f"MMD² {fmt(mmd.get('mmd2'), 4)} (permutation p = {fmt(mmd.get('p_value'))})"
                )
                if clusters:
                    facts.append(
                        f"real clusters reached: {pct(clusters.get('reached_share'))} of the real "
                        "mass; "
                        f"{len(clusters.get('missed') or [])} of {clusters.get('k')} clusters "
                        "missed"
                    )
        top = ((main["diversity"].get("openers") or {}).get("3") or {}).get("top") or []
        if top:
            listed = ", ".join(f"“{esc(t['opener'])}” ({pct(t['share'])})" for t in top[:5])
            facts.append(f"most common openers of {esc(quality['main_field'])}: {listed}")
        if not main["embedding"].get("available"):
            facts.append(
                f"embedding metrics: not computed — {esc(main['embedding'].get('reason', ''))}"
            )
        rows.append("<ul class='facts'>" + "".join(f"<li>{f}</li>" for f in facts) + "</ul>")
    intro = (
        "How varied the texts are, beside the same figures for the real reference. The "
        "definitions are in docs/quality.md."
    )
    return section("diversity", "Diversity", "".join(rows), intro)


def similarity_section(data: ReportData) -> str:
    syn, ref = data.synthetic_vectors, data.reference_vectors
    if syn is None or len(syn) < 2:
        return section(
            "similarity", "Similarity", note("Fewer than two records: no similarity to show.")
        )
    within = nearest_similarity(syn, syn, same=True)
    series = {"synthetic to nearest synthetic": within}
    if ref is not None and len(ref):
        series["real to nearest synthetic"] = nearest_similarity(ref, syn, same=False)
    edges = [round(-0.2 + 0.05 * i, 2) for i in range(25)]
    counts = {
        name: np.histogram(np.clip(values, -0.2, 1.0), bins=edges)[0].tolist()
        for name, values in series.items()
    }
    svg = histogram(
        edges,
        counts,
        density=len(counts) > 1,
        title="Cosine similarity to the nearest record",
        x_label="cosine similarity",
        y_label="density" if len(counts) > 1 else "records",
    )
    caption = (
        f"Vectors: {data.vectors_kind}. Mass near 1 means near duplicates; real texts far from "
        "every synthetic one (low similarity) are parts of the real distribution the data misses."
    )
    return section(
        "similarity",
        "Similarity",
        chart(svg, "similarity", caption),
        f"For a sample of {len(syn):,} synthetic records"
        + (f" and {len(ref):,} real ones" if ref is not None and len(ref) else "")
        + ".",
    )


def map_section(data: ReportData) -> str:
    syn, ref = data.synthetic_vectors, data.reference_vectors
    if syn is None or len(syn) < 3:
        return section("map", "Map", note("Fewer than three records: no map to draw."))
    stacked = syn if ref is None or not len(ref) else np.concatenate([syn, ref])
    points, shares = pca_2d(stacked)
    groups: dict[str, list[tuple[float, float]]] = {}
    if ref is not None and len(ref):
        groups["real"] = [(float(x), float(y)) for x, y in points[len(syn) :]]
    groups["synthetic"] = [(float(x), float(y)) for x, y in points[: len(syn)]]
    svg = scatter(
        groups,
        title="Synthetic and real texts, first two principal components",
        x_label=f"PC1 ({pct(shares[0])} of the variance)",
        y_label=f"PC2 ({pct(shares[1])})",
        colours={"synthetic": PALETTE[0], "real": PALETTE[1]},
    )
    caption = (
        f"Vectors: {data.vectors_kind}. Real points in regions without synthetic ones are "
        "topics or styles the data does not cover."
    )
    return section("map", "Map of the texts", chart(svg, "map", caption))
