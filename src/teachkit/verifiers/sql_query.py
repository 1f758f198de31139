"""Running a read-only SQL query on a fixture and comparing result sets as bags of rows.

The pieces of the ``sql`` verifier that know SQL: the candidate's extraction, the authorizer and
progress handler that keep a query read-only and bounded, and Spider-style result comparison.
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

__all__ = [
    "MAX_PERMUTATIONS",
    "REFERENCE_CACHE",
    "Outcome",
    "Row",
    "expected_rows",
    "extract_query",
    "has_top_level_order_by",
    "normalise_rows",
    "results_match",
    "run_query",
]


Row = tuple[Any, ...]

_FENCE = re.compile(r"```[ \t]*([\w+-]*)[^\n]*\n(.*?)```", re.DOTALL)
_SQL_TAGS = {"sql", "sqlite", "sqlite3", "postgresql", "postgres", "mysql"}
#: pragmas that only read: allowed in candidate queries
_READ_PRAGMAS = frozenset(
    {
        "table_info",
        "table_xinfo",
        "table_list",
        "index_info",
        "index_xinfo",
        "index_list",
        "foreign_key_list",
        "collation_list",
        "function_list",
        "pragma_list",
    }
)
_DENIED_FUNCTIONS = frozenset({"load_extension", "fts3_tokenizer", "readfile", "writefile", "edit"})
_ALLOWED = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_RECURSIVE}
_ACTIONS = {
    getattr(sqlite3, f"SQLITE_{name}"): name
    for name in [
        *("ALTER_TABLE", "ANALYZE", "ATTACH", "DELETE", "DETACH", "FUNCTION", "INSERT"),
        *("PRAGMA", "REINDEX", "SAVEPOINT", "TRANSACTION", "UPDATE"),
        *(
            f"{verb}_{temp}{what}"
            for verb in ("CREATE", "DROP")
            for temp in ("", "TEMP_")
            for what in ("INDEX", "TABLE", "TRIGGER", "VIEW")
        ),
        *("CREATE_VTABLE", "DROP_VTABLE"),
    ]
}
#: column permutations tried at most when several columns hold the same bag of values
MAX_PERMUTATIONS = 10_000
REFERENCE_CACHE = 256


def extract_query(answer: str) -> str:
    """The query of an answer: the last fence tagged sql (or sqlite, ...), else the last untagged
    fence, else the whole answer; trailing semicolons removed."""
    fences = [(tag.lower(), body) for tag, body in _FENCE.findall(answer)]
    tagged = [body for tag, body in fences if tag in _SQL_TAGS]
    untagged = [body for tag, body in fences if not tag]
    query = str((tagged or untagged or [answer])[-1]).strip()
    while query.endswith(";"):
        query = query[:-1].rstrip()
    return query


@lru_cache(maxsize=1024)
def has_top_level_order_by(query: str) -> bool:
    """Whether ``query`` orders its result: an ORDER BY of the outermost SELECT or compound
    (UNION, ...) query, not one inside a subquery, CTE, window or aggregate."""
    import sqlglot
    from sqlglot import exp

    try:
        tree = sqlglot.parse_one(query, read="sqlite")
    except sqlglot.errors.SqlglotError:
        return False
    while isinstance(tree, exp.Subquery | exp.Paren) and not tree.args.get("order"):
        tree = tree.this
    return bool(tree is not None and tree.args.get("order"))


def _assignments(options: list[list[int]]) -> Iterator[tuple[int, ...]]:
    """Every way to give each position a distinct column from its options."""
    chosen: list[int] = []

    def walk(position: int) -> Iterator[tuple[int, ...]]:
        if position == len(options):
            yield tuple(chosen)
            return
        for column in options[position]:
            if column not in chosen:
                chosen.append(column)
                yield from walk(position + 1)
                chosen.pop()

    return walk(0)


def results_match(got: Sequence[Row], want: Sequence[Row], *, ordered: bool) -> bool:
    """Spider's execution match: the same rows as a bag (as a list when ``ordered``), after some
    permutation of ``got``'s columns. Two empty results match."""
    if not got and not want:
        return True
    if len(got) != len(want):
        return False
    width = len(want[0])
    if any(len(row) != width for row in want) or any(len(row) != width for row in got):
        return False
    want_columns = [Counter(row[i] for row in want) for i in range(width)]
    got_columns = [Counter(row[j] for row in got) for j in range(width)]
    options = [[j for j in range(width) if got_columns[j] == column] for column in want_columns]
    if not all(options):
        return False
    target: Any = list(want) if ordered else Counter(want)
    for tried, perm in enumerate(_assignments(options)):
        if tried >= MAX_PERMUTATIONS:
            break
        rows = [tuple(row[j] for j in perm) for row in got]
        if (rows if ordered else Counter(rows)) == target:
            return True
    return False


@dataclass
class Outcome:
    """One query's result: rows, or the verdict reason that stopped it."""

    rows: list[Row] | None = None
    reason: str = ""
    error: str = ""


def _authorizer(denied: list[str]) -> Any:
    def check(action: int, arg1: str | None, arg2: str | None, _db: Any, _src: Any) -> int:
        if action in _ALLOWED:
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() not in _DENIED_FUNCTIONS:
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_PRAGMA and (arg1 or "").lower() in _READ_PRAGMAS:
            return sqlite3.SQLITE_OK
        what = _ACTIONS.get(action, str(action))
        target = arg2 if action == sqlite3.SQLITE_FUNCTION else arg1
        denied.append(f"{what} {target}" if target else what)
        return sqlite3.SQLITE_DENY

    return check


def run_query(path: Path, query: str, *, timeout: float, max_rows: int, max_length: int) -> Outcome:
    """Run one query on a read-only connection to ``path`` with every guard in place."""
    uri = f"file:{quote(str(path))}?mode=ro"
    conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
    try:
        conn.execute("PRAGMA query_only = ON")
        conn.execute("PRAGMA trusted_schema = OFF")
        conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
        conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, max_length)
        conn.setlimit(sqlite3.SQLITE_LIMIT_SQL_LENGTH, 1_000_000)
        denied: list[str] = []
        conn.set_authorizer(_authorizer(denied))
        deadline = time.monotonic() + timeout
        expired: list[bool] = []

        def progress() -> int:
            if time.monotonic() > deadline:
                expired.append(True)
                return 1
            return 0

        conn.set_progress_handler(progress, 1000)
        try:
            cursor = conn.execute(query)
            if cursor.description is None:
                return Outcome(reason="sql_error", error="the statement returns no rows")
            rows = cursor.fetchmany(max_rows + 1)
        except (sqlite3.Error, sqlite3.Warning, ValueError, OverflowError, MemoryError) as exc:
            message = f"{type(exc).__name__}: {exc}"
            if expired:
                return Outcome(reason="timeout", error=f"stopped after {timeout:g} s")
            if denied:
                slug = "refused" if denied[0].startswith("FUNCTION") else "write_refused"
                return Outcome(reason=slug, error=f"{denied[0]} is not allowed ({message})")
            if "readonly" in str(exc) or "read-only" in str(exc):
                return Outcome(reason="write_refused", error=message)
            return Outcome(reason="sql_error", error=message)
        if len(rows) > max_rows:
            return Outcome(reason="too_many_rows", error=f"more than {max_rows} rows")
        return Outcome(rows=[tuple(row) for row in rows])
    finally:
        conn.close()


def normalise_rows(rows: Sequence[Sequence[Any]], digits: int | None) -> list[Row]:
    if digits is None:
        return [tuple(row) for row in rows]
    return [tuple(round(v, digits) if isinstance(v, float) else v for v in row) for row in rows]


def expected_rows(value: Any) -> list[Row] | None:
    """``meta.expected_rows`` as rows: a list of lists (or of scalars, one column)."""
    if not isinstance(value, list):
        return None
    rows: list[Row] = []
    for row in value:
        cells = tuple(row) if isinstance(row, list | tuple) else (row,)
        if any(isinstance(cell, dict | list) for cell in cells):
            return None
        rows.append(cells)
    return rows
