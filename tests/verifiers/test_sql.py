"""The SQL verifier: Spider's execution match on real SQLite fixtures, and hostile queries."""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from teachkit.errors import MissingExtraError, RecipeError
from teachkit.records import Record
from teachkit.verifiers.base import VerifierContext
from teachkit.verifiers.sql import (
    SqlSpec,
    SqlVerifier,
    extract_query,
    has_top_level_order_by,
    results_match,
)

SCHEMA = """
CREATE TABLE singer (id INTEGER PRIMARY KEY, name TEXT, country TEXT, age INTEGER);
CREATE TABLE concert (id INTEGER PRIMARY KEY, singer_id INTEGER, year INTEGER, venue TEXT);
INSERT INTO singer VALUES
  (1, 'Joe Sharp', 'Netherlands', 52), (2, 'Timbaland', 'United States', 32),
  (3, 'Justin Brown', 'France', 29), (4, 'Rose White', 'France', 41),
  (5, 'John Nizinik', 'France', 43), (6, 'Tribal King', 'France', 25);
INSERT INTO concert VALUES
  (1, 1, 2014, 'Glebe Park'), (2, 2, 2014, 'Somerset Park'), (3, 3, 2015, 'Hampden Park'),
  (4, 4, 2014, 'Glebe Park'), (5, 4, 2015, 'Balmoor'), (6, 6, 2015, 'Glebe Park');
"""


def build_fixture(path: Path) -> Path:
    conn = sqlite3.connect(path)
    conn.executescript(SCHEMA)
    conn.commit()
    conn.close()
    return path


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    build_fixture(tmp_path / "concerts.sqlite")
    return tmp_path


@pytest.fixture
async def verifier(folder: Path) -> AsyncIterator[SqlVerifier]:
    v = SqlSpec(database="concerts.sqlite", timeout=1.0, max_rows=1000).build(
        VerifierContext(base_dir=folder)
    )
    await v.start()
    yield v
    await v.aclose()


def record(answer: str, reference: str | None = None, **meta: Any) -> Record:
    if reference is not None:
        meta["reference_sql"] = reference
    messages = [
        {"role": "user", "content": "Write the SQL query."},
        {"role": "assistant", "content": answer},
    ]
    return Record(messages, meta=meta)


# --- comparing results --------------------------------------------------------------------------
def test_results_are_bags_with_columns_up_to_permutation() -> None:
    want = [(1, "a"), (2, "b"), (2, "b")]
    assert results_match([("b", 2), ("a", 1), ("b", 2)], want, ordered=False)
    assert not results_match([("a", 1), ("b", 2)], want, ordered=False)  # a duplicate lost
    assert not results_match([(1, "a"), (1, "a"), (2, "b")], want, ordered=False)  # same set
    assert not results_match([("b", 2), ("a", 1), ("b", 2)], want, ordered=True)
    assert results_match([("a", 1), ("b", 2), ("b", 2)], want, ordered=True)
    assert results_match([], [], ordered=True)
    assert not results_match([(1,)], [(1, 1)], ordered=False)
    # columns with the same bag of values: the permutation must hold row by row
    assert results_match([(2, 1), (1, 2)], [(1, 2), (2, 1)], ordered=True)
    assert not results_match([(1, 1), (2, 2)], [(1, 2), (2, 1)], ordered=False)


rows = st.lists(
    st.tuples(st.integers(0, 3), st.sampled_from(["x", "y"]), st.none() | st.integers(0, 2)),
    min_size=1,
    max_size=8,
)


@given(rows, st.randoms(use_true_random=False))
def test_shuffled_rows_and_columns_match_unordered(data: list[Any], rnd: Any) -> None:
    columns = [0, 1, 2]
    rnd.shuffle(columns)
    shuffled = [tuple(row[c] for c in columns) for row in data]
    rnd.shuffle(shuffled)
    assert results_match(shuffled, data, ordered=False)
    assert results_match([tuple(row[c] for c in columns) for row in data], data, ordered=True)
    assert not results_match(shuffled[1:], data, ordered=False)
    assert not results_match([*shuffled, shuffled[0]], data, ordered=False)
    changed = [(99, *shuffled[0][1:]), *shuffled[1:]]  # 99 is in no column of data
    assert not results_match(changed, data, ordered=False)


def test_top_level_order_by_is_found_by_the_parser() -> None:
    assert has_top_level_order_by("SELECT name FROM singer ORDER BY age DESC")
    assert has_top_level_order_by("SELECT a FROM t UNION SELECT b FROM u ORDER BY 1")
    assert has_top_level_order_by("WITH c AS (SELECT a FROM t) SELECT a FROM c ORDER BY a")
    assert has_top_level_order_by("(SELECT a FROM t ORDER BY a)")
    assert not has_top_level_order_by("SELECT a FROM (SELECT a FROM t ORDER BY a)")
    assert not has_top_level_order_by("SELECT a, row_number() OVER (ORDER BY a) FROM t")
    assert not has_top_level_order_by("WITH c AS (SELECT a FROM t ORDER BY a) SELECT a FROM c")
    assert not has_top_level_order_by("SELECT group_concat(name, ',') FROM singer")
    assert not has_top_level_order_by("SELECT 'ORDER BY' AS text_that_says_order_by")
    assert not has_top_level_order_by("SELECT a FROM t WHERE a IN (SELECT a FROM t ORDER BY a)")


def test_the_query_comes_from_the_last_sql_fence() -> None:
    answer = "First:\n```sql\nSELECT 1;\n```\nBetter:\n```sql\nSELECT 2;\n```\n```text\nno\n```"
    assert extract_query(answer) == "SELECT 2"
    assert extract_query("```\nSELECT 3\n```") == "SELECT 3"
    assert extract_query("SELECT 4;;  ") == "SELECT 4"
    assert extract_query("```SQLite\nSELECT 5\n```") == "SELECT 5"


# --- running queries ----------------------------------------------------------------------------
REFERENCE = "SELECT name, age FROM singer WHERE country = 'France'"
ORDERED = "SELECT name, age FROM singer WHERE country = 'France' ORDER BY age"


@pytest.mark.parametrize(
    ("answer", "reference", "reason"),
    [
        ("SELECT name, age FROM singer WHERE country = 'France'", REFERENCE, "passed"),
        ("```sql\nSELECT age, name FROM singer WHERE country='France';\n```", REFERENCE, "passed"),
        (
            "SELECT name, age FROM singer WHERE country = 'France' ORDER BY name",
            REFERENCE,
            "passed",
        ),
        ("SELECT name, age FROM singer WHERE age > 20 AND country = 'France'", REFERENCE, "passed"),
        ("SELECT name, age FROM singer", REFERENCE, "wrong_result"),
        ("SELECT name FROM singer WHERE country = 'France'", REFERENCE, "wrong_result"),
        ("SELECT name, age FROM singer WHERE country = 'France' ORDER BY age", ORDERED, "passed"),
        ("SELECT age, name FROM singer WHERE country = 'France' ORDER BY age", ORDERED, "passed"),
        (
            "SELECT name, age FROM singer WHERE country = 'France' ORDER BY name",
            ORDERED,
            "wrong_result",
        ),
        ("SELECT name, age FROM singer WHERE country = 'France'", ORDERED, "wrong_result"),
        # ORDER BY inside a subquery does not make order significant
        (
            "SELECT name, age FROM singer WHERE country = 'France' ORDER BY name",
            "SELECT name, age FROM (SELECT * FROM singer ORDER BY age) WHERE country = 'France'",
            "passed",
        ),
        # bags: DISTINCT loses the duplicate venue
        ("SELECT DISTINCT venue FROM concert", "SELECT venue FROM concert", "wrong_result"),
        ("SELECT venue FROM concert", "SELECT venue FROM concert", "passed"),
        ("SELEC name FROM singer", REFERENCE, "sql_error"),
        ("SELECT nope FROM singer", REFERENCE, "sql_error"),
        ("I cannot write this query.", REFERENCE, "sql_error"),
        ("", REFERENCE, "no_query"),
        ("```sql\n;\n```", REFERENCE, "no_query"),
        ("SELECT 1", "SELECT broken FROM nowhere", "reference_error"),
    ],
)
async def test_queries_against_the_reference(
    verifier: SqlVerifier, answer: str, reference: str, reason: str
) -> None:
    verdict = await verifier.verify(record(answer, reference))
    assert verdict.reason == reason, verdict.detail
    assert verdict.passed is (reason == "passed")
    assert verdict.score == (1.0 if verdict.passed else 0.0)


async def test_expected_rows_instead_of_a_reference_query(verifier: SqlVerifier) -> None:
    expected = [["Rose White", 41], ["John Nizinik", 43]]
    query = "SELECT name, age FROM singer WHERE age > 40 AND country = 'France'"
    passed = await verifier.verify(record(query, expected_rows=expected))
    assert passed.passed, passed.detail
    assert passed.data["rows"] == 2 and passed.data["ordered"] is False
    wrong = await verifier.verify(record(query.replace("40", "28"), expected_rows=expected))
    assert wrong.reason == "wrong_result"
    scalars = await verifier.verify(record("SELECT count(*) FROM singer", expected_rows=[6]))
    assert scalars.passed, scalars.detail
    missing = await verifier.verify(record(query))
    assert missing.reason == "no_reference"
    bad = await verifier.verify(record(query, expected_rows="two rows"))
    assert bad.reason == "no_reference"


async def test_row_cap(verifier: SqlVerifier) -> None:
    many = (
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 5000) SELECT x FROM c"
    )
    verdict = await verifier.verify(record(many, expected_rows=[[1]]))
    assert (verdict.passed, verdict.reason) == (False, "too_many_rows")


# --- hostile queries ----------------------------------------------------------------------------
HOSTILE = [
    ("DELETE FROM singer", "write_refused"),
    ("UPDATE singer SET age = 0", "write_refused"),
    ("INSERT INTO singer VALUES (7, 'x', 'y', 1)", "write_refused"),
    ("DROP TABLE singer", "write_refused"),
    ("CREATE TABLE t (a)", "write_refused"),
    ("CREATE TEMP TABLE t (a)", "write_refused"),
    ("ALTER TABLE singer ADD COLUMN z", "write_refused"),
    ("ATTACH DATABASE '{folder}/stolen.sqlite' AS stolen", "write_refused"),
    ("DETACH DATABASE main", "write_refused"),
    ("VACUUM INTO '{folder}/copy.sqlite'", "write_refused"),
    ("PRAGMA query_only = OFF", "write_refused"),
    ("PRAGMA writable_schema = ON", "write_refused"),
    ("PRAGMA journal_mode = DELETE", "write_refused"),
    ("BEGIN IMMEDIATE", "write_refused"),
    ("SELECT load_extension('{folder}/evil')", "refused"),
    ("SELECT 1; DELETE FROM singer", "sql_error"),
    ("SELECT length(randomblob(2000000000))", "sql_error"),
    (
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT max(x) FROM c",
        "timeout",
    ),
    (
        "SELECT count(*) FROM singer a, singer b, singer c, singer d, singer e, singer f, "
        "singer g, singer h, singer i, singer j, singer k, singer l, singer m, singer n",
        "timeout",
    ),
]


@pytest.mark.parametrize(("query", "reason"), HOSTILE)
async def test_hostile_queries_fail_and_leave_the_fixture_alone(
    folder: Path, verifier: SqlVerifier, query: str, reason: str
) -> None:
    fixture = folder / "concerts.sqlite"
    before, files = digest(fixture), sorted(folder.iterdir())
    verdict = await verifier.verify(record(query.format(folder=folder), REFERENCE))
    assert (verdict.passed, verdict.reason) == (False, reason), verdict.detail
    assert digest(fixture) == before
    assert sorted(folder.iterdir()) == files  # no attached, vacuumed or journal files


async def test_a_long_query_does_not_block_the_event_loop(verifier: SqlVerifier) -> None:
    endless = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT max(x) FROM c"
    task = asyncio.ensure_future(verifier.verify(record(endless, REFERENCE)))
    ticks = 0
    while not task.done():
        ticks += 1
        await asyncio.sleep(0.01)
    assert task.result().reason == "timeout"
    assert ticks > 0


async def test_concurrent_checks_share_the_fixture(folder: Path, verifier: SqlVerifier) -> None:
    before = digest(folder / "concerts.sqlite")
    answers = [q for q, _ in HOSTILE[:8]] + [REFERENCE] * 8
    verdicts = await asyncio.gather(*(verifier.verify(record(q, REFERENCE)) for q in answers))
    assert [v.passed for v in verdicts] == [False] * 8 + [True] * 8
    assert digest(folder / "concerts.sqlite") == before


# --- fixtures and their folder ------------------------------------------------------------------
def test_the_fixture_must_be_inside_the_recipe_folder(tmp_path: Path) -> None:
    recipe_dir = tmp_path / "recipe"
    recipe_dir.mkdir()
    build_fixture(tmp_path / "outside.sqlite")
    ctx = VerifierContext(base_dir=recipe_dir)
    with pytest.raises(RecipeError, match="outside the recipe's folder"):
        SqlSpec(database="../outside.sqlite").build(ctx)
    with pytest.raises(RecipeError, match="outside the recipe's folder"):
        SqlSpec(database=str(tmp_path / "outside.sqlite")).build(ctx)
    (recipe_dir / "link.sqlite").symlink_to(tmp_path / "outside.sqlite")
    with pytest.raises(RecipeError, match="outside the recipe's folder"):
        SqlSpec(database="link.sqlite").build(ctx)
    with pytest.raises(RecipeError, match="does not exist"):
        SqlSpec(database="missing.sqlite").build(ctx)
    (recipe_dir / "notes.sqlite").write_text("not a database")
    with pytest.raises(RecipeError, match="not a SQLite database"):
        SqlSpec(database="notes.sqlite").build(ctx)


async def test_a_folder_of_fixtures_chosen_per_record(tmp_path: Path) -> None:
    (tmp_path / "dbs" / "concert_singer").mkdir(parents=True)
    build_fixture(tmp_path / "dbs" / "concert_singer" / "concert_singer.sqlite")
    build_fixture(tmp_path / "dbs" / "flat.sqlite")
    build_fixture(tmp_path / "secret.sqlite")
    (tmp_path / "dbs" / "escape.sqlite").symlink_to(tmp_path / "secret.sqlite")
    v = SqlSpec(database="dbs").build(VerifierContext(base_dir=tmp_path))
    try:
        for db_id in ("concert_singer", "flat"):
            verdict = await v.verify(record(REFERENCE, REFERENCE, db_id=db_id))
            assert verdict.passed, verdict.detail
        for db_id in ("missing", "../secret", "escape", None):
            verdict = await v.verify(record(REFERENCE, REFERENCE, db_id=db_id))
            assert verdict.reason == "no_database", db_id
    finally:
        await v.aclose()


def test_missing_extra_names_the_pip_command(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "sqlglot", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'teachkit\[sql\]'"):
        SqlSpec(database="concerts.sqlite").build(VerifierContext(base_dir=folder))
