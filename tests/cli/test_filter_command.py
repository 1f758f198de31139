"""`teachkit filter` as a careless user runs it: duplicate rows, and another file into the same
directory."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

import teachkit
from teachkit.cli import main

RULES = {"name": "clean", "filters": [{"kind": "rules", "field": "user", "min_words": 3}]}


def _rows(path: Path, users: list[str]) -> Path:
    lines = [
        orjson.dumps(
            {
                "messages": [
                    {"role": "user", "content": user},
                    {"role": "assistant", "content": f"An answer about {user.lower()}"},
                ]
            }
        )
        for user in users
    ]
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


DEDUP = {
    "name": "dedup",
    "filters": [
        {"kind": "dedup", "method": "minhash", "threshold": 0.8, "field": "user"},
        {"kind": "dedup", "name": "exact", "method": "exact", "field": "user"},
    ],
}


def test_filter_keeps_exact_duplicates(tmp_path: Path) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text(orjson.dumps(DEDUP).decode())
    same = "Explain how a lighthouse lens focuses its beam over the sea at night"
    source = _rows(tmp_path / "rows.jsonl", [same, same, "Name three uses of clay bricks", same])
    out = tmp_path / "o"
    assert main(["filter", str(source), "--recipe", str(recipe), "--out", str(out), "-q"]) == 0
    accepted = list(teachkit.read_accepted(out))
    assert sorted(r.user for r in accepted) == sorted([same, "Name three uses of clay bricks"])
    rejected = list(teachkit.read_rejected(out))
    assert len(rejected) == 2
    assert all(r.record.user == same for r in rejected)
    assert {(r.filter, r.reason) for r in rejected} == {("engine", "duplicate_id")}
    assert all(r.detail["id"] == rejected[0].record.id for r in rejected)


def test_filter_resumes_by_row_number(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text(orjson.dumps(RULES).decode())
    src_a = _rows(tmp_path / "srcA.jsonl", [f"Question {i} about rivers" for i in range(5)])
    src_b = _rows(tmp_path / "srcB.jsonl", [f"Question {i} about comets" for i in range(8)])
    out = tmp_path / "o"
    assert main(["filter", str(src_a), "--recipe", str(recipe), "--out", str(out), "-q"]) == 0
    kept = [r.id for r in teachkit.read_accepted(out)]
    assert len(kept) == 5
    capsys.readouterr()
    assert main(["filter", str(src_b), "--recipe", str(recipe), "--out", str(out), "-q"]) == 4
    assert "different input file" in capsys.readouterr().err
    assert [r.id for r in teachkit.read_accepted(out)] == kept
    # the same file again is the same run: nothing to do
    assert main(["filter", str(src_a), "--recipe", str(recipe), "--out", str(out), "-q"]) == 0
    assert "nothing to do" in capsys.readouterr().out
    # and srcB into a directory of its own keeps all 8 rows
    assert main(["filter", str(src_b), "--recipe", str(recipe), "--out", str(tmp_path / "b")]) == 0
    assert len(list(teachkit.read_accepted(tmp_path / "b"))) == 8
