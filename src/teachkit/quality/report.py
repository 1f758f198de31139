"""``report.html``: one self-contained page about a run, for a person to read.

No network at all: the CSS is inline, the charts are inline SVG (:mod:`teachkit.quality.svg`,
:mod:`teachkit.quality.charts`), no script, no font or image is fetched, and every text taken
from the data is HTML-escaped. The page opens with a summary that says what looks good and what
to look at (:func:`findings`), then one section per topic.
"""

from __future__ import annotations

from typing import Any

from teachkit.quality.report_diversity import diversity_section, map_section, similarity_section
from teachkit.quality.report_more import cost_section, eval_section, lineage_section
from teachkit.quality.report_sections import (
    axes_section,
    drops_section,
    funnel_section,
    lengths_section,
)
from teachkit.quality.reportdata import ReportData, esc, fmt, pct

__all__ = ["SECTIONS", "findings", "render_report"]

#: (anchor, title) of every section, in page order
SECTIONS = (
    ("funnel", "Funnel"),
    ("drops", "Drop reasons"),
    ("lengths", "Lengths"),
    ("diversity", "Diversity"),
    ("similarity", "Similarity"),
    ("map", "Map"),
    ("axes", "Axis coverage"),
    ("cost", "Cost and tokens"),
    ("eval", "Evaluation"),
    ("lineage", "Lineage"),
)

_CSS = """
:root{--ink:#1d1d1f;--muted:#5f6368;--line:#e3e3e6;--good:#0b7a4b;--look:#b45309;--bg:#fafafa}
*{box-sizing:border-box}
body{margin:0;font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
  color:var(--ink);background:var(--bg)}
header{background:#102a43;color:#fff;padding:24px 32px}
header h1{margin:0 0 4px;font-size:24px}
header p{margin:2px 0;color:#d9e2ec}
.badge{display:inline-block;padding:2px 10px;border-radius:12px;font-size:13px;font-weight:600;
  margin-left:8px;vertical-align:middle}
.badge.ok{background:#c6f6d5;color:#14532d}.badge.warn{background:#fde68a;color:#78350f}
nav{position:sticky;top:0;background:#fff;border-bottom:1px solid var(--line);
  padding:8px 32px;z-index:1}
nav a{margin-right:14px;color:#1f4e79;text-decoration:none;font-size:14px}
main{max-width:1180px;margin:0 auto;padding:8px 32px 48px}
section{background:#fff;border:1px solid var(--line);border-radius:8px;padding:16px 24px;
  margin:20px 0}
h2{margin:4px 0 8px;font-size:20px}
.intro{color:var(--muted);margin-top:0}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin:8px 0 16px}
.card{flex:1 1 150px;border:1px solid var(--line);border-radius:8px;padding:10px 14px;
  background:#fcfcfd}
.card b{display:block;font-size:22px}.card span{color:var(--muted);font-size:13px}
.columns{display:grid;grid-template-columns:1fr 1fr;gap:24px}
.findings{list-style:none;padding:0;margin:0}
.findings li{padding:6px 0 6px 28px;position:relative;border-bottom:1px dashed var(--line)}
.findings li::before{position:absolute;left:4px;font-weight:700}
.findings.good li::before{content:"\\2713";color:var(--good)}
.findings.look li::before{content:"!";color:var(--look);left:9px}
h3.good{color:var(--good)}h3.look{color:var(--look)}
table{border-collapse:collapse;margin:10px 0;font-size:14px;width:100%}
th,td{border-bottom:1px solid var(--line);padding:5px 8px;text-align:left;vertical-align:top}
thead th{background:#f3f4f6}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
td.meaning{color:var(--muted);font-size:13px}
figure.chart{margin:12px 0;overflow-x:auto}
figure.chart svg{max-width:100%;height:auto}
figcaption{color:var(--muted);font-size:13px}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(480px,1fr));gap:12px}
details{margin:8px 0;border:1px solid var(--line);border-radius:6px;padding:6px 12px}
summary{cursor:pointer;font-weight:600}
.example{border-left:3px solid var(--line);padding:2px 10px;margin:8px 0;font-size:14px}
.example p{margin:3px 0}
.role{display:inline-block;min-width:74px;color:var(--muted);font-size:12px;text-transform:uppercase}
.detail{color:var(--muted);font-size:13px}
.note{color:#374151}
.facts li{margin:3px 0}
code{background:#f1f5f9;padding:1px 4px;border-radius:4px}
footer{color:var(--muted);font-size:13px;text-align:center;padding:16px}
@media (max-width:800px){.columns{grid-template-columns:1fr}}
"""


def _main_values(data: ReportData) -> dict[str, Any]:
    panel = data.panel() or {}
    div = panel.get("diversity") or {}
    ref = panel.get("reference") or {}
    emb = panel.get("embedding") or {}
    drift = panel.get("drift") or {}
    demb = drift.get("embedding") or {}
    return {
        "field": (data.quality or {}).get("main_field", "user"),
        "d2": (div.get("distinct") or {}).get("2", {}).get("value"),
        "d2_real": ((ref.get("diversity") or {}).get("distinct") or {}).get("2", {}).get("value"),
        "rouge": (div.get("self_rouge_l") or {}).get("mean_max"),
        "opener": ((div.get("openers") or {}).get("3") or {}).get("top_share"),
        "top_opener": (((div.get("openers") or {}).get("3") or {}).get("top") or [{}])[0].get(
            "opener"
        ),
        "repeats": (emb.get("neighbours") or {}).get("repeat_share")
        if emb.get("available")
        else None,
        "vocab_js": drift.get("vocabulary_js"),
        "missed": (demb.get("clusters") or {}).get("missed") if demb.get("available") else None,
        "k": (demb.get("clusters") or {}).get("k") if demb.get("available") else None,
        "axes": panel.get("axes"),
    }


def findings(data: ReportData) -> tuple[list[str], list[str]]:
    """(what looks good, what to look at): short HTML sentences from the figures."""
    good: list[str] = []
    look: list[str] = []
    m = data.manifest
    status = m.get("status")
    if status in ("complete", "already_complete"):
        good.append(f"The run is complete: {m.get('accepted', 0):,} records accepted.")
    else:
        look.append(f"The run is not complete (status {esc(status)}): {esc(m.get('message', ''))}")
    funnel = m.get("funnel") or {}
    generated, accepted = int(funnel.get("generated") or 0), int(m.get("accepted") or 0)
    if generated:
        rate = accepted / generated
        drops = [(n, f, r) for f, rs in (m.get("drops") or {}).items() for r, n in rs.items()]
        top = max(drops, default=None)
        if rate < 0.5 and top:
            look.append(
                f"Only {pct(rate)} of the candidate records passed the filters; the most common "
                f"drop is <b>{esc(top[1])}: {esc(top[2])}</b> ({top[0]:,} records, see Drop "
                "reasons)."
            )
        elif rate >= 0.8:
            good.append(f"{pct(rate)} of the candidate records passed the filters.")
    v = _main_values(data)
    field = esc(v["field"])
    if data.quality is None:
        look.append("The quality panel is missing: run <code>teachkit report RUN --refresh</code>.")
    if v["d2"] is not None:
        if v["d2_real"] is not None and v["d2"] < 0.7 * v["d2_real"]:
            look.append(
                f"distinct-2 of the {field} texts is {fmt(v['d2'])} against {fmt(v['d2_real'])} in "
                "the real data: the synthetic texts repeat their phrasing."
            )
        elif v["d2"] < 0.3:
            look.append(
                f"distinct-2 of the {field} texts is low ({fmt(v['d2'])}): phrasing repeats."
            )
        else:
            good.append(f"Varied phrasing: distinct-2 of the {field} texts is {fmt(v['d2'])}.")
    if v["rouge"] is not None:
        if v["rouge"] > 0.7:
            look.append(
                f"Near copies: a {field} text's most similar other text has ROUGE-L "
                f"{fmt(v['rouge'])} on average."
            )
        elif v["rouge"] < 0.5:
            good.append(f"Few near copies (self-ROUGE-L {fmt(v['rouge'])}).")
    if v["opener"] is not None and v["opener"] > 0.2:
        look.append(f"{pct(v['opener'])} of the {field} texts start with “{esc(v['top_opener'])}”.")
    if v["repeats"] is not None and v["repeats"] > 0.05:
        look.append(
            f"{pct(v['repeats'])} of the {field} texts have a near duplicate (cosine ≥ 0.9)."
        )
    if v["vocab_js"] is not None and v["vocab_js"] > 0.3:
        look.append(
            f"The vocabulary drifts from the real texts (JS divergence {fmt(v['vocab_js'])})."
        )
    if v["missed"]:
        look.append(
            f"{len(v['missed'])} of the {v['k']} clusters of the real texts have no synthetic "
            "record: parts of the real distribution are missing (see Map)."
        )
    elif v["missed"] is not None:
        good.append("Every cluster of the real texts has synthetic records.")
    axes = v["axes"] or {}
    unseen = [(n, i["unseen"]) for n, i in (axes.get("axes") or {}).items() if i.get("unseen")]
    if unseen:
        name, values = unseen[0]
        look.append(
            f"Axis values never used by an accepted record: {esc(name)}: "
            f"{esc(', '.join(values[:5]))}."
        )
    elif (axes.get("combinations") or {}).get("share") == 1.0:
        good.append("Every combination of the diversity axes is covered.")
    look += _eval_findings(data, good)
    lineage = data.lineage or {}
    if lineage.get("generation"):
        look.append(
            f"Generation {lineage['generation']}: the teacher was trained on this lineage's data "
            f"({pct(lineage.get('real_fraction') or 0.0)} real data mixed in). Watch the drift "
            "across generations."
        )
    elif lineage.get("student"):
        good.append("The teacher is outside the student's lineage (generation 0).")
    quality = data.quality or {}
    if quality and not (quality.get("embeddings") or {}).get("used"):
        look.append(
            "Embedding metrics were not computed "
            f"({esc((quality.get('embeddings') or {}).get('reason', ''))})."
        )
    return good, look


def _eval_findings(data: ReportData, good: list[str]) -> list[str]:
    result = data.eval or {}
    sides = result.get("sides") or {}
    look: list[str] = []
    real = (sides.get("real") or {}).get("score") or {}
    if real.get("value") is not None:
        interval = f"[{pct(real['low'])}, {pct(real['high'])}]"
        against = esc(result.get("against", "reference"))
        score = pct(real["value"])
        text = f"On real prompts the student scores {score} {interval} against the {against}."
        (good if real["value"] >= 0.5 else look).append(text)
    gap = result.get("gap")
    if gap is not None and gap > 0.15:
        look.append(f"The student does {pct(gap)} better on synthetic prompts than on real ones.")
    if not result:
        look.append("No evaluation on real prompts yet (<code>teachkit eval RUN</code>).")
    return look


def _summary(data: ReportData) -> str:
    m = data.manifest
    funnel = m.get("funnel") or {}
    teachers = (m.get("usage") or {}).get("teachers") or {}
    tokens = sum(
        int(t.get("prompt_tokens", 0)) + int(t.get("completion_tokens", 0))
        for t in teachers.values()
    )
    cards = [
        (
            f"{int(m.get('accepted') or 0):,}",
            f"accepted of {int(m.get('requested') or 0):,} wanted",
        ),
        (f"{int(funnel.get('answers') or 0):,}", "teacher answers"),
        (f"{tokens:,}", "tokens"),
        (fmt(float(m.get("cost_usd") or 0.0), 4), "USD"),
        (fmt((m.get("timings") or {}).get("elapsed_s"), 1), "seconds"),
    ]
    score = ((((data.eval or {}).get("sides") or {}).get("real") or {}).get("score") or {}).get(
        "value"
    )
    if score is not None:
        cards.append((pct(score), "student score, real prompts"))
    good, look = findings(data)
    card_html = "".join(
        f"<div class='card'><b>{value}</b><span>{esc(label)}</span></div>" for value, label in cards
    )
    good_html = "".join(f"<li>{g}</li>" for g in good) or "<li>Nothing stands out yet.</li>"
    look_html = "".join(f"<li>{x}</li>" for x in look) or "<li>Nothing: every check passed.</li>"
    return (
        "<section id='summary'><h2>Summary</h2>"
        f"<div class='cards'>{card_html}</div><div class='columns'>"
        f"<div><h3 class='good'>Looks good</h3><ul class='findings good'>{good_html}</ul></div>"
        f"<div><h3 class='look'>Look at</h3><ul class='findings look'>{look_html}</ul></div>"
        "</div></section>"
    )


def render_report(data: ReportData) -> str:
    """The whole page as a string."""
    m = data.manifest
    status = str(m.get("status", "unknown"))
    ok = status in ("complete", "already_complete")
    teacher: dict[str, Any] = next(
        iter(((m.get("usage") or {}).get("teachers") or {}).values()), {}
    )
    lineage = data.lineage or {}
    student = (lineage.get("student") or {}).get("label") if lineage.get("student") else None
    line = f"teacher {esc(teacher.get('model', '?'))}"
    if student:
        line += f" → student {esc(student)}"
    line += f" · generation {lineage.get('generation', 0)}"
    sections = [
        funnel_section(data),
        drops_section(data),
        lengths_section(data),
        diversity_section(data),
        similarity_section(data),
        map_section(data),
        axes_section(data),
        cost_section(data),
        eval_section(data),
        lineage_section(data),
    ]
    nav = "".join(f"<a href='#{a}'>{esc(t)}</a>" for a, t in (("summary", "Summary"), *SECTIONS))
    title = f"teachkit report: {m.get('recipe', 'run')}"
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{esc(title)}</title><style>{_CSS}</style></head><body>"
        f"<header><h1>{esc(m.get('recipe', 'run'))}<span class='badge {'ok' if ok else 'warn'}'>"
        f"{esc(status)}</span></h1><p>{esc(data.run_dir)}</p><p>{line}</p>"
        f"<p>report written {esc(data.created)}</p></header>"
        f"<nav>{nav}</nav><main>{_summary(data)}{''.join(sections)}</main>"
        f"<footer>teachkit {esc(data.version)} · a self-contained page: no script, no network · "
        "definitions in docs/quality.md</footer></body></html>\n"
    )
