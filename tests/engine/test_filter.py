"""`teachkit filter`: a recipe's filter chain over real, human-written data."""

from __future__ import annotations

from pathlib import Path

import orjson

import teachkit
from teachkit.cli import main
from teachkit.engine import filter_data
from teachkit.recipe.load import parse_recipe

RECIPE = {
    "name": "clean",
    "filters": [
        {"kind": "rules", "field": "user", "min_words": 6, "blacklist": ["image", "graph"]},
        {"kind": "dedup", "method": "minhash", "threshold": 0.8, "field": "user"},
    ],
}


def test_filter_real_data_keeps_every_row_somewhere(tmp_path: Path, shared_data: Path) -> None:
    source = shared_data / "self-instruct" / "seed_tasks.jsonl"
    rows = sum(len(orjson.loads(line)["instances"]) for line in source.read_bytes().splitlines())
    summary = filter_data(source, parse_recipe(RECIPE), tmp_path / "clean")
    assert summary.status == "complete"
    assert summary.accepted + summary.rejected == rows
    assert summary.rejected > 0 and summary.accepted > 0
    assert set(summary.drops) <= {"rules", "dedup"}
    accepted = list(teachkit.read_accepted(tmp_path / "clean"))
    assert all(r.meta["source"] == "real" for r in accepted)
    assert all(len(r.user.split()) >= 6 for r in accepted)
    assert not any("image" in r.user.lower().split() for r in accepted)
    manifest = orjson.loads((tmp_path / "clean" / "manifest.json").read_bytes())
    assert manifest["funnel"]["accepted"] == summary.accepted

    # running it again finds every row committed: nothing duplicated
    again = filter_data(source, parse_recipe(RECIPE), tmp_path / "clean")
    assert again.accepted == summary.accepted
    assert len(list(teachkit.read_accepted(tmp_path / "clean"))) == summary.accepted


def test_filter_command(tmp_path: Path, shared_data: Path) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text(orjson.dumps(RECIPE).decode())  # JSON is YAML
    source = shared_data / "self-instruct" / "user_oriented_instructions.jsonl"
    code = main(
        ["filter", str(source), "--recipe", str(recipe), "--out", str(tmp_path / "o"), "-q"]
    )
    assert code == 0
    assert list((tmp_path / "o" / "rejected").glob("*.jsonl"))
