"""The sections of the report about the data: funnel, drops, lengths, diversity, similarity,
map, axes. (Cost, eval and lineage are in :mod:`teachkit.quality.report_more`.)

Every section says something even without data (why it is empty and how to fill it), so a
reader never meets a blank heading.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from teachkit.quality.charts import bar_chart, heat_map, scatter
from teachkit.quality.projection import nearest_similarity, pca_2d
from teachkit.quality.reportdata import ReportData, esc, excerpt, fmt, pct
from teachkit.quality.svg import PALETTE, histogram

__all__ = [
    "axes_section",
    "chart",
    "diversity_section",
    "drops_section",
    "funnel_section",
    "lengths_section",
    "map_section",
    "section",
    "similarity_section",
]


def chart(svg: str, name: str, caption: str = "") -> str:
    """An SVG inlined into HTML (its namespace attribute is implied there), with a caption."""
    body = svg.replace(' xmlns="http://www.w3.org/2000/svg"', "", 1)
    cap = f"<figcaption>{esc(caption)}</figcaption>" if caption else ""
    return f'<figure class="chart" data-chart="{esc(name)}">{body}{cap}</figure>'


def section(anchor: str, title: str, body: str, intro: str = "") -> str:
    lead = f'<p class="intro">{intro}</p>' if intro else ""
    return f'<section id="{anchor}"><h2>{esc(title)}</h2>{lead}{body}</section>'


def note(text: str) -> str:
    return f'<p class="note">{text}</p>'


def funnel_section(data: ReportData) -> str:
    m = data.manifest
    funnel = m.get("funnel") or {}
    steps = [
        ("requested (records wanted)", funnel.get("requested", m.get("requested", 0))),
        ("teacher answers", funnel.get("answers", 0)),
        ("candidate records", funnel.get("generated", 0)),
        ("accepted", funnel.get("accepted", m.get("accepted", 0))),
    ]
    svg = bar_chart(
        [(label, float(value or 0)) for label, value in steps],
        title="From requests to accepted records",
        colours=[PALETTE[5], PALETTE[5], PALETTE[0], PALETTE[2]],
    )
    body = chart(svg, "funnel")
    drops = [
        (f"{name}: {reason}", float(n))
        for name, reasons in (m.get("drops") or {}).items()
        for reason, n in reasons.items()
    ]
    drops.sort(key=lambda kv: -kv[1])
    if drops:
        body += chart(
            bar_chart(
                drops[:15], title="Dropped records by filter and reason", colours=[PALETTE[1]]
            ),
            "drops",
            "Every dropped record is kept in rejected/ with its filter, reason and detail.",
        )
    else:
        body += note("No record was dropped.")
    intro = (
        "How many answers the teacher gave, how many candidate records they made, and how many "
        "passed every filter. A large gap between candidates and accepted records is paid for "
        "but thrown away."
    )
    return section("funnel", "Funnel", body, intro)


def drops_section(data: ReportData) -> str:
    drops = data.manifest.get("drops") or {}
    rows = sorted(
        ((name, reason, n) for name, reasons in drops.items() for reason, n in reasons.items()),
        key=lambda row: -row[2],
    )
    if not rows:
        return section(
            "drops", "Drop reasons", note("No record was dropped, so there is nothing to show.")
        )
    total = sum(n for _, _, n in rows) or 1
    parts = [
        '<table><thead><tr><th>filter</th><th>reason</th><th class="num">records</th>'
        '<th class="num">share of drops</th></tr></thead><tbody>'
    ]
    for name, reason, n in rows:
        parts.append(
            f"<tr><td>{esc(name)}</td><td>{esc(reason)}</td><td class='num'>{n:,}</td>"
            f"<td class='num'>{pct(n / total)}</td></tr>"
        )
    parts.append("</tbody></table>")
    for name, reason, n in rows:
        examples = data.examples.get((name, reason), [])
        if not examples:
            continue
        items = []
        for ex in examples:
            detail = ", ".join(f"{k}: {excerpt(str(v), 120)}" for k, v in ex.detail.items())
            items.append(
                '<div class="example">'
                f'<p><span class="role">user</span> {esc(excerpt(ex.user))}</p>'
                f'<p><span class="role">assistant</span> {esc(excerpt(ex.assistant))}</p>'
                + (f'<p class="detail">{esc(detail)}</p>' if detail else "")
                + "</div>"
            )
        parts.append(
            f"<details><summary>{esc(name)}: {esc(reason)} — {len(examples)} of {n:,} "
            f"examples</summary>{''.join(items)}</details>"
        )
    intro = "Each reason with the first rejected records it dropped (texts shortened)."
    return section("drops", "Drop reasons", "".join(parts), intro)


def _aligned(
    a: dict[str, Any] | None, b: dict[str, Any] | None
) -> tuple[list[int], list[int], list[int]] | None:
    """Two histograms over the shared length bins (the shorter padded with zeros)."""
    if not a:
        return None
    edges = list(a["edges"])
    if b and len(b["edges"]) > len(edges):
        edges = list(b["edges"])
    bins = len(edges) - 1

    def pad(h: dict[str, Any] | None) -> list[int]:
        counts = list(h["counts"]) if h else []
        return counts + [0] * (bins - len(counts))

    return edges, pad(a), pad(b)


def lengths_section(data: ReportData) -> str:
    quality = data.quality
    if quality is None:
        return section("lengths", "Lengths", note(_no_panel()))
    body = []
    for name, panel in quality["fields"].items():
        ref = panel.get("reference")
        words = panel["lengths"]["words"]
        aligned = _aligned(
            words.get("histogram"), ref["lengths"]["words"].get("histogram") if ref else None
        )
        if aligned is None:
            body.append(note(f"No {esc(name)} text to measure."))
            continue
        edges, syn, real = aligned
        series = {"synthetic": syn, "real": real} if ref else {"synthetic": syn}
        caption = f"Mean {fmt(words.get('mean'), 1)} words"
        if ref:
            caption += f" (real: {fmt(ref['lengths']['words'].get('mean'), 1)})"
        body.append(
            chart(
                histogram(
                    edges,
                    series,
                    density=bool(ref),
                    title=f"Words per {name} text",
                    x_label="words",
                    y_label="share per word" if ref else "records",
                ),
                f"lengths-{name}",
                caption + "; bins grow by a quarter, so long tails stay visible.",
            )
        )
    intro = (
        "Length distributions of each measured field, synthetic against the real reference "
        "(as densities, so sets of different sizes compare). Synthetic data is often narrower: "
        "the long and the very short real texts are missing."
    )
    return section("lengths", "Lengths", '<div class="grid">' + "".join(body) + "</div>", intro)


def _no_panel() -> str:
    return (
        "The quality panel has not been computed for this run (it is computed at the end of a "
        "complete run). Run <code>teachkit report RUN --refresh</code>."
    )


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
        return section("diversity", "Diversity", note(_no_panel()))
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


def axes_section(data: ReportData) -> str:
    pairs = data.axis_pairs
    main = data.panel()
    coverage = main.get("axes") if main else None
    if not pairs or not pairs.get("axes"):
        return section(
            "axes",
            "Axis coverage",
            note(
                "The records carry no diversity axes (meta.axes). A templated recipe with "
                "<code>axes:</code> records which values each prompt used."
            ),
        )
    body = []
    names = pairs["axes"]
    if len(names) >= 2:
        a, b = names[0], names[1]
        body.append(
            chart(
                heat_map(
                    pairs["values"][a],
                    pairs["values"][b],
                    pairs["counts"],
                    title=f"Accepted records per {a} and {b}",
                    row_label=a,
                    column_label=b,
                ),
                "axes",
                "Outlined cells: combinations no accepted record has.",
            )
        )
    else:
        a = names[0]
        body.append(
            chart(
                heat_map(
                    [a], pairs["values"][a], [pairs["counts"][0]], title=f"Accepted records per {a}"
                ),
                "axes",
            )
        )
    if coverage:
        rows = [
            "<table><thead><tr><th>axis</th><th class='num'>values used</th><th>never "
            "used</th></tr></thead><tbody>"
        ]
        for name, info in coverage["axes"].items():
            declared = info.get("declared")
            used = f"{info['distinct']}" + (f" of {declared}" if declared is not None else "")
            unseen = ", ".join(info.get("unseen") or []) or "–"
            rows.append(
                f"<tr><td>{esc(name)}</td><td "
                f"class='num'>{esc(used)}</td><td>{esc(unseen)}</td></tr>"
            )
        rows.append("</tbody></table>")
        combos = coverage.get("combinations") or {}
        rows.append(
            note(
                f"Combinations of all axes used: {combos.get('seen', 0):,} of "
                f"{combos.get('total', 0):,} "
                f"({pct(combos.get('share'))})."
            )
        )
        body.append("".join(rows))
    intro = "How evenly the accepted records spread over the recipe's diversity axes."
    return section("axes", "Axis coverage", "".join(body), intro)
