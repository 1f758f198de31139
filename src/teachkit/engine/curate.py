"""Curating existing data: a recipe's filter chain over rows the user already has.

The output is a run directory like ``teachkit run`` makes (accepted/, rejected/ with reasons,
manifest with the funnel), so ``teachkit export`` and ``status`` work on it. Each input row is a
job of its own (``row:0000012``), committed through the same journal, so a killed curation
resumes where it stopped and judge answers come from the cache.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from teachkit.engine.api import RunSummary, _summary
from teachkit.engine.progress import NullProgress, Progress, ProgressSink
from teachkit.engine.session import Session
from teachkit.errors import DataError
from teachkit.formats.readers import read_records
from teachkit.generators.base import Job
from teachkit.recipe.models import Recipe
from teachkit.records import Record, Rejection
from teachkit.rundir.layout import RunDir
from teachkit.teachers.backend import Request

__all__ = ["curate", "curate_async"]


def _row_job(index: int, record: Record) -> Job:
    return Job(
        key=f"row:{index:07d}",
        stage="filter",
        request=Request(messages=record.messages or [{"role": "user", "content": ""}]),
    )


async def curate_async(
    source: str | Path,
    recipe: Recipe,
    out: str | Path,
    *,
    use_cache: bool = True,
    progress: ProgressSink | None = None,
) -> RunSummary:
    """Run ``recipe``'s filters over the rows of ``source`` into the run directory ``out``."""
    records = list(read_records(source, source="real"))
    if not records:
        raise DataError(f"{source} holds no rows to filter.")
    sink = progress or NullProgress()
    rundir = RunDir(out)
    session = Session(recipe, rundir, use_cache=use_cache, target=len(records))
    try:
        session.open()
        await session.start()
        done = session.recovered.committed
        snapshot = Progress(count=len(records), accepted=session.tally.accepted)
        window = asyncio.Semaphore(max(1, recipe.teacher.max_concurrency))

        async def one(index: int, record: Record) -> None:
            job = _row_job(index, record)
            if job.key in done:
                return
            async with window:
                dropped = await session.chain.evaluate(record)
            accepted: list[Record] = []
            rejected: list[Rejection] = []
            if dropped is None:
                accepted.append(record)
            else:
                f, drop = dropped
                rejected.append(Rejection(record, f.name, drop.reason, dict(drop.detail)))
            session.store.add_jobs([job])
            session.store.commit(job, accepted, rejected, [], {"st": "filter", "c": 1})
            session.tally.record("filter", {"st": "filter", "c": 1}, accepted, rejected)
            for record_ in accepted:
                session.chain.remember(record_)
            snapshot.accepted, snapshot.rejected = session.tally.accepted, session.tally.rejected
            snapshot.requests += 1
            sink.update(snapshot)

        await asyncio.gather(*(one(i, r) for i, r in enumerate(records)))
        session.status, session.message = (
            "complete",
            (
                f"{session.tally.accepted} of {len(records)} rows kept, "
                f"{session.tally.rejected} dropped with their reasons in rejected/."
            ),
        )
        session.write_manifest("complete")
        sink.close(snapshot)
        return _summary(rundir, session.manifest("complete"))
    finally:
        await session.close()


def curate(
    source: str | Path,
    recipe: Recipe,
    out: str | Path,
    *,
    use_cache: bool = True,
    progress: ProgressSink | None = None,
) -> RunSummary:
    return asyncio.run(curate_async(source, recipe, out, use_cache=use_cache, progress=progress))
