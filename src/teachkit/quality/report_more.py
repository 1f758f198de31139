"""The sections of the report about the run around the data: cost, evaluation, lineage."""

from __future__ import annotations

from typing import Any

from teachkit.quality.charts import bar_chart
from teachkit.quality.report_sections import chart, note, section
from teachkit.quality.reportdata import ReportData, esc, excerpt, fmt, pct
from teachkit.quality.svg import PALETTE, Series, line_chart

__all__ = ["cost_section", "eval_section", "lineage_section"]


def cost_section(data: ReportData) -> str:
    m = data.manifest
    usage = m.get("usage") or {}
    teachers = usage.get("teachers") or {}
    rows = [
        "<table><thead><tr><th>teacher</th><th>model</th><th class='num'>requests</th>"
        "<th class='num'>from cache</th><th class='num'>failed</th><th class='num'>prompt "
        "tokens</th>"
        "<th class='num'>completion tokens</th><th class='num'>cost (USD)</th></tr></thead><tbody>"
    ]
    for name, stats in teachers.items():
        cost = stats.get("cost_usd") if stats.get("priced") else None
        shown = "free / unpriced" if cost is None else fmt(float(cost), 4)
        rows.append(
            f"<tr><td>{esc(name)}</td><td>{esc(stats.get('model', ''))}</td>"
            f"<td class='num'>{fmt(int(stats.get('requests', 0)))}</td>"
            f"<td class='num'>{fmt(int(stats.get('cached', 0)))}</td>"
            f"<td class='num'>{fmt(int(stats.get('failed', 0)))}</td>"
            f"<td class='num'>{fmt(int(stats.get('prompt_tokens', 0)))}</td>"
            f"<td class='num'>{fmt(int(stats.get('completion_tokens', 0)))}</td>"
            f"<td class='num'>{shown}</td></tr>"
        )
    rows.append("</tbody></table>")
    stages = usage.get("stages") or {}
    if stages:
        rows.append(
            "<table><thead><tr><th>stage</th><th class='num'>answers</th><th "
            "class='num'>cached</th>"
            "<th class='num'>failed</th><th class='num'>prompt tokens</th>"
            "<th class='num'>completion tokens</th></tr></thead><tbody>"
        )
        for stage, s in stages.items():
            rows.append(
                f"<tr><td>{esc(stage)}</td><td class='num'>{fmt(int(s.get('answers', 0)))}</td>"
                f"<td class='num'>{fmt(int(s.get('cached', 0)))}</td>"
                f"<td class='num'>{fmt(int(s.get('failed', 0)))}</td>"
                f"<td class='num'>{fmt(int(s.get('prompt_tokens', 0)))}</td>"
                f"<td class='num'>{fmt(int(s.get('completion_tokens', 0)))}</td></tr>"
            )
        rows.append("</tbody></table>")
    timings = m.get("timings") or {}
    accepted = int(m.get("accepted") or 0)
    total = float(m.get("cost_usd") or 0.0)
    per = f", {fmt(total / accepted, 5)} per accepted record" if accepted and total else ""
    rows.append(
        note(
            f"Total cost: <b>{fmt(total, 4)} USD</b>{per}; elapsed "
            f"{fmt(timings.get('elapsed_s'), 1)} s "
            f"over {len(m.get('sessions') or [])} session(s). Answers from the cache cost nothing."
        )
    )
    return section("cost", "Cost and tokens", "".join(rows))


def _rate_cell(rate: dict[str, Any] | None) -> str:
    if not rate or rate.get("value") is None:
        return "<td class='num'>–</td>"
    return (
        f"<td class='num'>{pct(rate['value'])} <small>[{pct(rate['low'])}, "
        f"{pct(rate['high'])}]</small></td>"
    )


def _eval_row(label: str, side: dict[str, Any]) -> str:
    rates = side.get("rates") or {}
    return (
        f"<tr><th>{esc(label)}</th><td class='num'>{fmt(side.get('prompts'))}</td>"
        f"<td class='num'>{fmt(side.get('wins'))}</td><td class='num'>{fmt(side.get('ties'))}</td>"
        f"<td class='num'>{fmt(side.get('losses'))}</td>"
        f"<td class='num'>{fmt(side.get('disagreements'))}</td>"
        f"<td class='num'>{fmt(side.get('unjudged'))}</td>"
        + _rate_cell(rates.get("win"))
        + _rate_cell(rates.get("loss"))
        + _rate_cell(side.get("score"))
        + "</tr>"
    )


def eval_section(data: ReportData) -> str:
    result = data.eval
    if not result:
        return section(
            "eval",
            "Evaluation",
            note(
                "No evaluation yet. <code>teachkit eval RUN --student-backend llamacpp</code> "
                "has a "
                "student model answer real, human-written prompts (default: the export's "
                "validation file) and a judge compare each answer with the reference, in both "
                "orders."
            ),
        )
    sides = result.get("sides") or {}
    against = (
        "the reference answer" if result.get("against") == "reference" else "the teacher's answer"
    )
    head = (
        "<table><thead><tr><th>prompts</th><th class='num'>n</th><th class='num'>wins</th>"
        "<th class='num'>ties</th><th class='num'>losses</th><th class='num'>order "
        "disagreements</th>"
        "<th class='num'>unjudged</th><th class='num'>win rate</th><th class='num'>loss rate</th>"
        "<th class='num'>score</th></tr></thead><tbody>"
    )
    rows = [head]
    for name in ("real", "synthetic"):
        if name in sides:
            rows.append(_eval_row(f"{name} ({sides[name].get('source', '')})", sides[name]))
    rows.append("</tbody></table>")
    bars = []
    for name in ("real", "synthetic"):
        side = sides.get(name)
        if side and (side.get("score") or {}).get("value") is not None:
            bars.append((f"{name}: score", float(side["score"]["value"]) * 100))
            bars.append((f"{name}: win rate", float(side["rates"]["win"]["value"]) * 100))
    body = "".join(rows)
    if bars:
        body += chart(
            bar_chart(
                bars,
                title="Student against " + against + " (%)",
                colours=[PALETTE[0], PALETTE[2], PALETTE[1], PALETTE[4]],
            ),
            "eval",
        )
    gap = result.get("gap")
    if gap is not None:
        body += note(
            f"Synthetic minus real score: <b>{fmt(gap, 3)}</b>. A student that does much better on "
            "synthetic prompts than on real ones learned the generator's style more than the task."
        )
    for name, side in sides.items():
        for group, values in (side.get("by") or {}).items():
            lines = [
                f"<table><thead><tr><th>{esc(name)} by {esc(group)}</th><th class='num'>n</th>"
                "<th class='num'>wins</th><th class='num'>ties</th><th class='num'>losses</th>"
                "<th class='num'>score</th></tr></thead><tbody>"
            ]
            for value, stats in values.items():
                lines.append(
                    f"<tr><td>{esc(value)}</td><td class='num'>{fmt(stats.get('prompts'))}</td>"
                    f"<td class='num'>{fmt(stats.get('wins'))}</td><td "
                    f"class='num'>{fmt(stats.get('ties'))}</td>"
                    f"<td class='num'>{fmt(stats.get('losses'))}</td>"
                    + _rate_cell(stats.get("score"))
                    + "</tr>"
                )
            lines.append("</tbody></table>")
            body += "".join(lines)
    examples = result.get("examples") or []
    if examples:
        items = "".join(
            "<div class='example'><p><span class='role'>prompt</span> "
            f"{esc(excerpt(e.get('prompt', ''), 300))}</p>"
            f"<p><span class='role'>student</span> {esc(excerpt(e.get('answer', ''), 300))}</p>"
            "<p><span class='role'>reference</span> "
            f"{esc(excerpt(e.get('reference', ''), 300))}</p>"
            f"<p class='detail'>outcome: {esc(e.get('outcome', ''))}</p></div>"
            for e in examples
        )
        body += f"<details><summary>{len(examples)} judged answers</summary>{items}</details>"
    interval = result.get("interval") or {}
    intro = (
        f"The student ({esc((result.get('student') or {}).get('model', ''))}) answered each "
        "prompt; "
        f"a judge ({esc((result.get('judge') or {}).get('model', ''))}) compared the answer with "
        f"{against} twice, in both orders. A win or a loss counts only when both orders agree; "
        f"anything else is a tie. Intervals: {esc(interval.get('rates', ''))}; score = (wins + "
        "ties/2) / n, "
        f"{esc(interval.get('score', ''))}."
    )
    return section("eval", "Evaluation", body, intro)


def _drift_value(panel: dict[str, Any], name: str) -> float | None:
    """One figure of a generation's panel for the drift chart."""
    div = panel["diversity"]
    values = {
        "distinct-2": div["distinct"].get("2", {}).get("value"),
        "self-ROUGE-L": (div.get("self_rouge_l") or {}).get("mean_max"),
        "vocabulary JS": (panel.get("drift") or {}).get("vocabulary_js"),
        "top opener share": ((div.get("openers") or {}).get("3") or {}).get("top_share"),
    }
    value = values.get(name)
    return float(value) if isinstance(value, int | float) else None


_DRIFT = ("distinct-2", "self-ROUGE-L", "vocabulary JS", "top opener share")


_NO_STUDENT = (
    "not declared (set <code>student:</code> in the recipe to guard against closing the loop)"
)


def lineage_section(data: ReportData) -> str:
    lineage = data.lineage
    if not lineage:
        return section(
            "lineage",
            "Lineage",
            note("This run has no lineage.json (it was made before lineage was recorded)."),
        )
    teacher = (lineage.get("teacher") or {}).get("label", "")
    student = (lineage.get("student") or {}).get("label") if lineage.get("student") else None
    facts = [
        f"generation <b>{lineage.get('generation', 0)}</b> "
        + (
            "(the teacher is outside the student's lineage)"
            if not lineage.get("generation")
            else "(the teacher was trained on earlier generations' data)"
        ),
        f"teacher: {esc(teacher)}",
        f"student: {esc(student) if student else _NO_STUDENT}",
        f"real data mixed into train: {pct(lineage.get('real_fraction') or 0.0)}"
        + (f" from {esc(lineage['real_file'])}" if lineage.get("real_file") else ""),
    ]
    if lineage.get("closed_loop"):
        facts.append(f"<b>closed loop, allowed</b>: {esc(lineage['closed_loop'])}")
    for parent in lineage.get("parents") or []:
        facts.append(
            f"parent run: {esc(parent.get('path'))} (generation {parent.get('generation')}, via "
            f"{esc(parent.get('via'))})"
        )
    body = "<ul class='facts'>" + "".join(f"<li>{f}</li>" for f in facts) + "</ul>"
    rows = [g for g in data.generations if g.get("panel")]
    if len(rows) >= 2:
        xs = [float(g["generation"]) for g in rows]
        series = [Series(n, [_drift_value(g["panel"], n) for g in rows], xs) for n in _DRIFT]
        series = [s for s in series if any(v is not None for v in s.values)]
        if series:
            body += chart(
                line_chart(
                    series,
                    title="Quality across generations",
                    x_label="generation",
                    y_label="value",
                ),
                "generations",
                "Falling distinct-2 and rising self-ROUGE-L or vocabulary JS from one generation "
                "to the next is the signature of collapse.",
            )
    else:
        body += note(
            "No earlier generation with a quality panel: the drift across generations appears "
            "once a later run's teacher was trained on this lineage's data."
        )
    return section("lineage", "Lineage", body)
