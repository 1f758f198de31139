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
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from teachkit.errors import MissingExtraError, RecipeError
from teachkit.recipe.paths import InputPath, resolve_input
from teachkit.records import FieldRef, Record, field_text, meta_value
from teachkit.verifiers.base import Verdict, Verifier, VerifierContext, VerifierSpecBase
from teachkit.verifiers.sql_query import (
    REFERENCE_CACHE,
    Outcome,
    expected_rows,
    extract_query,
    has_top_level_order_by,
    normalise_rows,
    results_match,
    run_query,
)

__all__ = [
    "SqlSpec",
    "SqlVerifier",
    "extract_query",
    "has_top_level_order_by",
    "results_match",
]


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
        self._references: OrderedDict[tuple[str, str], Outcome] = OrderedDict()
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

    def _run(self, path: Path, query: str) -> Outcome:
        spec = self.spec
        return run_query(
            path, query, timeout=spec.timeout, max_rows=spec.max_rows, max_length=spec.max_length
        )

    def _reference(self, path: Path, query: str) -> Outcome:
        key = (str(path), query)
        with self._lock:
            if key in self._references:
                self._references.move_to_end(key)
                return self._references[key]
        outcome = self._run(path, query)
        with self._lock:
            self._references[key] = outcome
            while len(self._references) > REFERENCE_CACHE:
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
            expected = expected_rows(meta_value(record.meta, spec.expected_rows_field[5:]))
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
        got, want = (
            normalise_rows(outcome.rows, spec.float_digits),
            normalise_rows(want, spec.float_digits),
        )
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
