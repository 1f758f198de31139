"""The report of a real small run: sections, escaping, no external resource; and in Chromium."""

from __future__ import annotations

import hashlib
import shutil
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import orjson
import pytest

import teachkit
from support import REPO, ScriptedBackend, last_text
from teachkit.engine.report import report
from teachkit.quality.report import SECTIONS
from teachkit.recipe.load import parse_recipe

_WORDS = [
    "the",
    "a",
    "water",
    "air",
    "cloud",
    "cold",
    "warm",
    "light",
    "rises",
    "falls",
    "moves",
    "quickly",
    "because",
    "sky",
    "heat",
]
#: every chart a complete run with axes, drops and a reference draws
CHARTS = ("funnel", "drops", "lengths-user", "lengths-assistant", "similarity", "map", "axes")


def _answer(request: Any) -> str:
    text = last_text(request)
    digest = hashlib.sha256(f"{text}|{request.sample}".encode()).digest()
    if digest[0] % 5 == 0:
        return "<script>alert('x')</script> too short"
    n = 6 + digest[1] % 12
    return " ".join(_WORDS[b % len(_WORDS)] for b in digest[2 : 2 + n]).capitalize() + "."


def _real(path: Path) -> Path:
    rows = [
        {
            "messages": [
                {"role": "user", "content": f"Why does the {w} change at {i} o'clock?"},
                {"role": "assistant", "content": f"Because the {w} follows the sun."},
            ]
        }
        for i, w in enumerate(["sky", "sea", "wind", "light", "air", "cloud"])
    ]
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    return path


@pytest.fixture
def small_run(tmp_path: Path, scripted: Any) -> Path:
    ScriptedBackend.script = staticmethod(_answer)
    recipe = parse_recipe(
        {
            "name": "report-demo",
            "teacher": {"backend": "scripted"},
            "generator": {
                "kind": "templated",
                "count": 24,
                "axes": {
                    "topic": ["rain", "snow", "wind", "sun", "fog"],
                    "tone": ["plain", "fun", "formal"],
                },
                "prompt": "Explain {{ topic }} in a {{ tone }} tone, see https://example.com/{{ "
                "topic }}.",
            },
            "filters": [{"kind": "rules", "min_words": 5}],
            "quality": {"reference": str(_real(tmp_path / "real.jsonl")), "embeddings": False},
        }
    )
    summary = teachkit.run(recipe, tmp_path / "run")
    assert summary.status == "complete"
    assert summary.report == tmp_path / "run" / "report.html"
    assert f"Report: {summary.report}" in summary.message
    return tmp_path / "run"


class _Resources(HTMLParser):
    """Every attribute value and every style text of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.values: list[str] = []
        self.tags: list[str] = []
        self._style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.values += [v or "" for _, v in attrs]
        self._style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self._style = False

    def handle_data(self, data: str) -> None:
        if self._style:
            self.values.append(data)


def test_the_report_of_a_real_run(small_run: Path) -> None:
    html = (small_run / "report.html").read_text(encoding="utf-8")
    manifest = orjson.loads((small_run / "manifest.json").read_bytes())
    quality = manifest["quality"]
    assert quality["main_field"] == "user" and set(quality["fields"]) == {"user", "assistant"}
    assert quality["reference"]["records"] == 6
    assert (
        quality["embeddings"]["used"] is False and "switched off" in quality["embeddings"]["reason"]
    )
    for anchor, title in SECTIONS:
        assert f'id="{anchor}"' in html and title in html
    for name in CHARTS:
        assert f'data-chart="{name}"' in html, name
    assert "Looks good" in html and "Look at" in html
    assert "too_short" in html  # the drop reason, with examples
    assert "<script>" not in html and "&lt;script&gt;alert" in html  # data is escaped
    assert str(manifest["accepted"]) in html


def test_no_external_resource(small_run: Path) -> None:
    html = (small_run / "report.html").read_text(encoding="utf-8")
    parser = _Resources()
    parser.feed(html)
    assert "script" not in parser.tags and "link" not in parser.tags and "img" not in parser.tags
    offending = [v for v in parser.values if "http://" in v or "https://" in v or "url(" in v]
    assert offending == []
    assert "@import" not in html
    assert "https://example.com" in html  # the prompts mention a URL: it stays text


def test_report_on_demand_with_a_refresh(small_run: Path) -> None:
    (small_run / "report.html").unlink()
    manifest = small_run / "manifest.json"
    data = orjson.loads(manifest.read_bytes())
    del data["quality"]
    manifest.write_bytes(orjson.dumps(data))
    path = report(small_run)
    assert path == small_run / "report.html" and path.is_file()
    assert "quality" in orjson.loads(manifest.read_bytes())
    other = report(small_run, out=small_run.parent / "copy.html")
    assert other.read_text().startswith("<!DOCTYPE html>")


def test_report_in_chromium(small_run: Path, tmp_path: Path) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium is not installed (apt-get install chromium); .ci/run installs it")
    playwright = pytest.importorskip("playwright.sync_api", reason="playwright is in the dev extra")
    page_url = (small_run / "report.html").resolve().as_uri()
    requests: list[str] = []
    problems: list[str] = []
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("request", lambda r: requests.append(r.url))
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.goto(page_url, wait_until="load")
            for name in CHARTS:
                box = page.locator(f'figure[data-chart="{name}"] svg').first.bounding_box()
                assert box is not None and box["width"] > 50 and box["height"] > 50, name
                marks = page.locator(f'figure[data-chart="{name}"] svg .series *').count()
                assert marks > 0, f"chart {name} drew nothing"
            for anchor, _ in SECTIONS:
                text = page.locator(f"section#{anchor}").inner_text()
                assert len(text.strip().splitlines()) >= 2, f"section {anchor} is empty"
            shot = tmp_path / "report.png"
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert requests == [page_url]
    assert problems == []
    assert shot.stat().st_size > 10_000
    artifacts = REPO / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    shutil.copy(shot, artifacts / "report.png")
