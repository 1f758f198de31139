"""The ``sql`` verifier: run a candidate query against a SQLite fixture, compare with the reference.

The candidate (the last ```` ```sql ```` fence of the answer, or the whole answer) and the reference
query (``meta.reference_sql``) run on the fixture named in the recipe; or the candidate's rows are
compared with ``meta.expected_rows``. Results compare as Spider's execution accuracy does: as bags
of rows (duplicates count), columns matched up to a permutation, and row order significant only
when the reference query has an ORDER BY at its top level (found with sqlglot's parser, so an
ORDER BY inside a subquery, a CTE or a window does not count)::

    filters:
      - kind: verify
        verifier: {kind: sql, database: fixtures/shop.sqlite, timeout: 2}

The fixture stays unchanged whatever the query: it is opened read-only (``mode=ro`` URI and
``PRAGMA query_only``), an authorizer refuses every write, schema change, ATTACH, DETACH,
transaction and pragma except a few read-only ones, ``load_extension`` is off, ATTACH is limited to
zero databases, and strings and blobs are capped. A progress handler aborts a query after
``timeout`` seconds (recursive CTEs that never end, huge cross joins) and at most ``max_rows`` rows
are read. Each query runs in a thread of the verifier's own pool (SQLite releases the GIL), so the
event loop keeps serving the teacher.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar, Literal
from urllib.parse import quote

from pydantic import Field, field_validator

from teachkit.errors import MissingExtraError, RecipeError
from teachkit.recipe.paths import InputPath, resolve_input
from teachkit.records import FieldRef, Record, field_text, meta_value
from teachkit.verifiers.base import Verdict, Verifier, VerifierContext, VerifierSpecBase

__all__ = [
    "SqlSpec",
    "SqlVerifier",
    "extract_query",
    "has_top_level_order_by",
    "results_match",
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
_REFERENCE_CACHE = 256


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
class _Outcome:
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


def run_query(
    path: Path, query: str, *, timeout: float, max_rows: int, max_length: int
) -> _Outcome:
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
                return _Outcome(reason="sql_error", error="the statement returns no rows")
            rows = cursor.fetchmany(max_rows + 1)
        except (sqlite3.Error, sqlite3.Warning, ValueError, OverflowError, MemoryError) as exc:
            message = f"{type(exc).__name__}: {exc}"
            if expired:
                return _Outcome(reason="timeout", error=f"stopped after {timeout:g} s")
            if denied:
                slug = "refused" if denied[0].startswith("FUNCTION") else "write_refused"
                return _Outcome(reason=slug, error=f"{denied[0]} is not allowed ({message})")
            if "readonly" in str(exc) or "read-only" in str(exc):
                return _Outcome(reason="write_refused", error=message)
            return _Outcome(reason="sql_error", error=message)
        if len(rows) > max_rows:
            return _Outcome(reason="too_many_rows", error=f"more than {max_rows} rows")
        return _Outcome(rows=[tuple(row) for row in rows])
    finally:
        conn.close()


def _normalise(rows: Sequence[Sequence[Any]], digits: int | None) -> list[Row]:
    if digits is None:
        return [tuple(row) for row in rows]
    return [tuple(round(v, digits) if isinstance(v, float) else v for v in row) for row in rows]


def _expected(value: Any) -> list[Row] | None:
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


class SqlSpec(VerifierSpecBase):
    """``verifier: {kind: sql, database: fixtures/shop.sqlite}`` (see docs/verify.md)."""

    kind: Literal["sql"] = "sql"
    #: the SQLite fixture, relative to the recipe's folder and inside it; or a folder of fixtures
    #: chosen per record by ``database_field`` (``<id>.sqlite`` or ``<id>/<id>.sqlite``)
    database: InputPath = Field(min_length=1)
    database_field: FieldRef = "meta.db_id"
    #: where the candidate answer is
    answer_field: FieldRef = "assistant"
    #: where the reference query is
    reference_field: FieldRef = "meta.reference_sql"
    #: where expected rows are, when there is no reference query (a list of lists)
    expected_rows_field: FieldRef = "meta.expected_rows"
    #: row order counts: None = when the reference query has a top-level ORDER BY
    ordered: bool | None = None
    #: seconds each query may run
    timeout: float = Field(default=5.0, gt=0.0, le=600.0)
    #: rows a query may return
    max_rows: int = Field(default=10_000, ge=1, le=10_000_000)
    #: longest string or blob a query may build, in bytes
    max_length: int = Field(default=10_000_000, ge=1000, le=1_000_000_000)
    #: round floats to this many digits before comparing (None: exact, as Spider)
    float_digits: int | None = Field(default=None, ge=0, le=15)
    #: queries at once (threads)
    workers: int = Field(default=4, ge=1, le=64)

    @field_validator("expected_rows_field")
    @classmethod
    def _meta_only(cls, value: str) -> str:
        if not value.startswith("meta."):
            raise ValueError("expected rows are read from record meta: use 'meta.<key>'")
        return value

    def build(self, ctx: VerifierContext) -> SqlVerifier:
        try:
            import sqlglot  # noqa: F401
        except ImportError:
            raise MissingExtraError("sqlglot", "sql", "The SQL verifier") from None
        path = resolve_input(
            self.database, ctx.base_dir, allowed=ctx.allowed_paths, what="verifier.database"
        )
        if not path.exists():
            raise RecipeError(
                f"verifier.database {self.database!r} does not exist (looked at {path}).",
                path=str(path),
            )
        if path.is_file() and not _is_sqlite(path):
            raise RecipeError(f"verifier.database {path} is not a SQLite database.", path=str(path))
        return SqlVerifier(self, path)


def _is_sqlite(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(16) == b"SQLite format 3\x00"


class SqlVerifier(Verifier):
    kind: ClassVar[str] = "sql"

    def __init__(self, spec: SqlSpec, database: Path) -> None:
        self.spec = spec
        self.database = database
        self._threads = ThreadPoolExecutor(spec.workers, thread_name_prefix="teachkit-sql")
        self._references: OrderedDict[tuple[str, str], _Outcome] = OrderedDict()
        self._lock = threading.Lock()

    def fixture(self, record: Record) -> Path | None:
        """The database ``record`` runs on (None: its id names no fixture in the folder)."""
        if self.database.is_file():
            return self.database
        name = field_text(record, self.spec.database_field).strip()
        if not re.fullmatch(r"[\w\-][\w.\-]*", name):
            return None
        for path in (self.database / f"{name}.sqlite", self.database / name / f"{name}.sqlite"):
            real = path.resolve()
            if real.is_relative_to(self.database) and real.is_file() and _is_sqlite(real):
                return real
        return None

    def _run(self, path: Path, query: str) -> _Outcome:
        spec = self.spec
        return run_query(
            path, query, timeout=spec.timeout, max_rows=spec.max_rows, max_length=spec.max_length
        )

    def _reference(self, path: Path, query: str) -> _Outcome:
        key = (str(path), query)
        with self._lock:
            if key in self._references:
                self._references.move_to_end(key)
                return self._references[key]
        outcome = self._run(path, query)
        with self._lock:
            self._references[key] = outcome
            while len(self._references) > _REFERENCE_CACHE:
                self._references.popitem(last=False)
        return outcome

    def _check(self, record: Record) -> Verdict:
        started = time.monotonic()
        spec = self.spec
        query = extract_query(field_text(record, spec.answer_field))
        data: dict[str, Any] = {"query": query[:2000]}

        def verdict(reason: str, detail: str, passed: bool = False) -> Verdict:
            score = 1.0 if passed else 0.0
            return Verdict(passed, reason, detail, time.monotonic() - started, score, data)

        path = self.fixture(record)
        if path is None:
            return verdict("no_database", f"{spec.database_field} names no fixture")
        if not query:
            return verdict("no_query", f"no query in {spec.answer_field}")
        reference_sql = extract_query(field_text(record, spec.reference_field))
        if reference_sql:
            reference = self._reference(path, reference_sql)
            if reference.rows is None:
                return verdict("reference_error", f"the reference query failed: {reference.error}")
            want = reference.rows
        else:
            expected = _expected(meta_value(record.meta, spec.expected_rows_field[5:]))
            if expected is None:
                fields = f"{spec.reference_field} or {spec.expected_rows_field}"
                return verdict("no_reference", f"the record has no reference in {fields}")
            want = expected
        outcome = self._run(path, query)
        if outcome.rows is None:
            return verdict(outcome.reason, outcome.error)
        ordered = spec.ordered
        if ordered is None:
            ordered = bool(reference_sql) and has_top_level_order_by(reference_sql)
        got, want = _normalise(outcome.rows, spec.float_digits), _normalise(want, spec.float_digits)
        data.update(rows=len(got), expected_rows=len(want), ordered=ordered)
        if results_match(got, want, ordered=ordered):
            return verdict("passed", f"{len(got)} rows match", passed=True)
        shape = f"{len(got)} rows x {len(got[0]) if got else 0} columns"
        wanted = f"{len(want)} rows x {len(want[0]) if want else 0} columns"
        sample = f"first row {got[0]!r}, expected {want[0]!r}" if got and want else ""
        return verdict("wrong_result", f"got {shape}, expected {wanted}; {sample}".rstrip("; "))

    async def verify(self, record: Record) -> Verdict:
        return await asyncio.get_running_loop().run_in_executor(self._threads, self._check, record)

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "database": self.database.name, "timeout": self.spec.timeout}

    async def aclose(self) -> None:
        self._threads.shutdown(wait=False, cancel_futures=True)
