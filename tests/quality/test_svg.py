"""The SVG charts parse as XML and draw what they are given."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from teachkit.quality.svg import Series, histogram, line_chart, nice_ticks

NS = {"s": "http://www.w3.org/2000/svg"}


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    return root


def series_groups(root: ET.Element) -> dict[str, ET.Element]:
    return {
        g.get("data-name", ""): g
        for g in root.iter("{http://www.w3.org/2000/svg}g")
        if g.get("class") == "series"
    }


def test_nice_ticks_are_round_and_cover_the_range() -> None:
    assert nice_ticks(0, 1) == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert nice_ticks(0.13, 0.87) == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert nice_ticks(3, 427)[0] == 0 and nice_ticks(3, 427)[-1] >= 427
    ticks = nice_ticks(5, 5)
    assert ticks[0] < 5 < ticks[-1]


def test_a_line_chart_has_one_group_per_series_and_a_point_per_value() -> None:
    svg = line_chart(
        [
            Series("median <sigma>", [1.0, 0.8, 0.6, 0.5]),
            Series("law & theory", [1.0, 0.79, 0.62, 0.49], dashed=True),
        ],
        title="Collapse: M < 100",
        x_label="generation",
        y_label="sigma",
    )
    root = parse(svg)
    groups = series_groups(root)
    assert set(groups) == {"median <sigma>", "law & theory"}
    for name, group in groups.items():
        line = group.find("s:polyline", NS)
        assert line is not None
        points = [tuple(map(float, p.split(","))) for p in line.get("points", "").split()]
        assert len(points) == 4
        xs = [p[0] for p in points]
        assert xs == sorted(xs)
        ys = [p[1] for p in points]
        assert ys == sorted(ys)  # falling values go down the page: pixel y grows
        assert (line.get("stroke-dasharray") is not None) == (name == "law & theory")
    titles = [
        t.text for t in root.iter("{http://www.w3.org/2000/svg}text") if t.get("class") == "title"
    ]
    assert titles == ["Collapse: M < 100"]


def test_a_none_value_breaks_the_line_and_x_values_are_used() -> None:
    svg = line_chart(
        {"a": [1.0, 2.0, None, 3.0, 4.0], "b": [None, 1.0, None, None, None]}, x=[0, 1, 2, 10, 20]
    )
    groups = series_groups(parse(svg))
    assert len(groups["a"].findall("s:polyline", NS)) == 2
    assert len(groups["b"].findall("s:circle", NS)) == 1  # a lone point is a dot
    with pytest.raises(ValueError):
        line_chart({"a": [None]})
    with pytest.raises(ValueError):
        line_chart({"a": [1.0, 2.0]}, x=[1])


def test_a_log_axis_needs_positive_values() -> None:
    parse(line_chart({"s": [1.0, 0.1, 0.01]}, log_y=True))
    with pytest.raises(ValueError):
        line_chart({"s": [1.0, 0.0]}, log_y=True)


def test_a_histogram_draws_a_bar_per_bin_and_series() -> None:
    edges = [0, 1, 2, 4, 8]
    root = parse(
        histogram(
            edges, {"real": [1, 2, 3, 4], "synthetic": [4, 3, 2, 1]}, density=True, title="lengths"
        )
    )
    groups = series_groups(root)
    assert set(groups) == {"real", "synthetic"}
    for group in groups.values():
        assert len(group.findall("s:rect", NS)) == 4
    one = series_groups(parse(histogram(edges, [0, 5, 10, 5])))[""]
    heights = [float(r.get("height", "0")) for r in one.findall("s:rect", NS)]
    assert heights[0] == 0 and heights[2] == pytest.approx(2 * heights[1], rel=1e-3)
    with pytest.raises(ValueError):
        histogram([0, 1], [1, 2])
    with pytest.raises(ValueError):
        histogram([0, 2, 1], [1, 2])
