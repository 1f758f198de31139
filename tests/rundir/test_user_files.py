"""teachkit never truncates or deletes a file it cannot prove it wrote.

`--out` pointing at a directory of the user's own (with its own accepted/*.jsonl) is refused with
a sentence and every file in it stays byte for byte; a run directory whose journal is gone is not
a run directory any more; a file in a run directory that the journal does not name is never cut
nor read.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

import teachkit
from teachkit.cli import main

RECIPE = (
    "name: mine\nteacher: {backend: scripted}\n"
    "generator: {kind: templated, count: 4, prompt: 'Say hi {{ n }}',\n"
    "            axes: {n: [a, b, c, d, e, f, g, h]}}\n"
)
ROWS = (
    '{"messages": [{"role": "user", "content": "How do tides work on a calm sea today?"}, '
    '{"role": "assistant", "content": "The moon pulls the water."}]}\n'
)


def digests(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def users_directory(root: Path) -> Path:
    """A folder of the user's own that happens to look like a run directory."""
    (root / "accepted").mkdir(parents=True)
    (root / "rejected").mkdir()
    (root / "accepted" / "00001.jsonl").write_text('{"id": "mine", "messages": []}\n' * 3)
    (root / "accepted" / "labels.jsonl").write_text('{"label": "keep"}\n')
    (root / "rejected" / "00001.jsonl").write_text('{"note": "hand-made"}\n')
    (root / "notes.md").write_text("# my notes\n")
    return root


@pytest.fixture
def recipe(tmp_path: Path) -> Path:
    path = tmp_path / "r.yaml"
    path.write_text(RECIPE)
    return path


def test_user_files_truncated_to_0_bytes_by_run(
    tmp_path: Path, recipe: Path, scripted: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    target = users_directory(tmp_path / "data")
    before = digests(target)
    assert main(["run", str(recipe), "--out", str(target), "-q"]) == 4
    assert "not a teachkit run directory" in capsys.readouterr().err
    assert digests(target) == before
    assert scripted.calls == []


def test_user_files_truncated_to_0_bytes_by_filter(
    tmp_path: Path, recipe: Path, scripted: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = tmp_path / "rows.jsonl"
    rows.write_text(ROWS)
    target = users_directory(tmp_path / "data")
    before = digests(target)
    code = main(["filter", str(rows), "--recipe", str(recipe), "--out", str(target), "-q"])
    assert code == 4
    assert "not a teachkit run directory" in capsys.readouterr().err
    assert digests(target) == before


def test_missing_journal_empties_every_shard(
    tmp_path: Path, recipe: Path, scripted: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    assert main(["run", str(recipe), "--out", str(run), "-q"]) == 0
    (run / "journal.jsonl").unlink()
    before = digests(run)
    assert any(size for size in (p.stat().st_size for p in (run / "accepted").glob("*")))
    assert main(["run", str(recipe), "--out", str(run), "-q", "--set", "generator.count=6"]) == 4
    assert "no journal.jsonl" in capsys.readouterr().err
    assert digests(run) == before


def test_files_the_journal_does_not_name_are_never_cut_nor_read(
    tmp_path: Path, recipe: Path, scripted: Any
) -> None:
    run = tmp_path / "run"
    assert main(["run", str(recipe), "--out", str(run), "-q"]) == 0
    mine = {
        run / "accepted" / "00007.jsonl": b'{"id": "x", "messages": [], "meta": {}}\n' * 2,
        run / "accepted" / "extra.jsonl": b"not json at all\n",
        run / "rejected" / "00002.jsonl": b"half a line without its end",
        run / "README.txt": b"what this run is for\n",
    }
    for path, data in mine.items():
        path.write_bytes(data)
    assert main(["run", str(recipe), "--out", str(run), "-q", "--set", "generator.count=7"]) == 0
    for path, data in mine.items():
        assert path.read_bytes() == data, f"{path} was changed"
    records = list(teachkit.read_accepted(run))
    assert len(records) == 7 and len({r.id for r in records}) == 7
    assert "x" not in {r.id for r in records}
