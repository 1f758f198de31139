"""A corrupt, misplaced or foreign cache is refused with a sentence, before anything is written."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from teachkit.errors import EnvironmentFault, RunDirError
from teachkit.teachers.backend import Response, Usage
from teachkit.teachers.cache import RequestCache


def answer(text: str = "a") -> Response:
    return Response([text], ["stop"], Usage(1, 1), "m")


def good_cache(path: Path, entries: int = 50) -> None:
    cache = RequestCache(path)
    for i in range(entries):
        cache.put(f"k{i}", "openai", "m", answer(f"answer {i} " * 40))
    cache.close()


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        ("random", "is not an SQLite file"),
        ("truncated", "damaged"),
        ("text", "is not an SQLite file"),
        ("foreign", "another program's database"),
    ],
)
def test_a_bad_cache_file_is_refused_and_left_alone(
    tmp_path: Path, damage: str, expected: str
) -> None:
    path = tmp_path / "cache.sqlite"
    if damage == "random":
        path.write_bytes(os.urandom(8192))
    elif damage == "text":
        path.write_text("name: a recipe, not a cache\n")
    elif damage == "truncated":
        good_cache(path)
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 3])
    else:
        db = sqlite3.connect(path)
        db.execute("CREATE TABLE bookmarks (url TEXT)")
        db.commit()
        db.close()
    before = snapshot(tmp_path)
    with pytest.raises(RunDirError, match=expected) as caught:
        RequestCache(path)
    assert "Move it away" in str(caught.value) and "nothing is lost" in str(caught.value)
    assert snapshot(tmp_path) == before


def test_a_folder_or_a_file_parent_is_an_environment_fault(tmp_path: Path) -> None:
    (tmp_path / "cache.sqlite").mkdir()
    with pytest.raises(EnvironmentFault, match="is a folder"):
        RequestCache(tmp_path / "cache.sqlite")
    (tmp_path / "plain").write_text("x")
    with pytest.raises(EnvironmentFault, match="is a file, not a folder"):
        RequestCache(tmp_path / "plain" / "sub" / "cache.sqlite")
    assert not (tmp_path / "plain.log").exists()


def test_a_foreign_log_file_is_not_truncated(tmp_path: Path) -> None:
    log = tmp_path / "cache.sqlite.log"
    log.write_text("someone's notes\nthat are not ours\n")
    with pytest.raises(RunDirError, match="not a teachkit cache log"):
        RequestCache(tmp_path / "cache.sqlite")
    assert log.read_text() == "someone's notes\nthat are not ours\n"


def test_an_unreadable_row_is_a_miss(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite"
    good_cache(path, entries=1)
    db = sqlite3.connect(path)
    db.execute("UPDATE responses SET response = ? WHERE key = 'k0'", (b"\xff not json",))
    db.commit()
    db.close()
    cache = RequestCache(path)
    assert cache.get("k0") is None
    cache.close()


def test_a_good_cache_still_opens(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite"
    good_cache(path)
    cache = RequestCache(path)
    assert len(cache) == 50
    cache.close()
