"""The sections of the report about the data: funnel, drops, lengths, diversity, similarity,
map, axes. (Cost, eval and lineage are in :mod:`teachkit.quality.report_more`.)

Every section says something even without data (why it is empty and how to fill it), so a
reader never meets a blank heading.
"""

from __future__ import annotations

from typing import Any

from teachkit.quality.charts import bar_chart, heat_map
from teachkit.quality.reportdata import ReportData, esc, excerpt, fmt, pct
from teachkit.quality.svg import PALETTE, histogram

__all__ = [
    "axes_section",
    "chart",
    "drops_section",
    "funnel_section",
    "lengths_section",
    "no_panel",
    "section",
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
        return section("lengths", "Lengths", note(no_panel()))
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


def no_panel() -> str:
    return (
        "The quality panel has not been computed for this run (it is computed at the end of a "
        "complete run). Run <code>teachkit report RUN --refresh</code>."
    )
