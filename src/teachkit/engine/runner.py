"""The local async runner: one streaming pipeline from a source of jobs to the store.

The source is a generator (jobs that ask a teacher) or a list of ready records (``teachkit
filter``); both go through the same filter-and-commit step: the duplicate check, the filter
chain, the quota, follow-up jobs, and ``forget`` for records dropped after a filter kept them.

Requests flow to the teacher through a sliding window while earlier answers are parsed, filtered
and committed; nothing waits for a batch. Every commit is synchronous on the event loop, so the
quota check is exact: a run ends with exactly ``count`` accepted records.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass

from teachkit.engine.meter import JobMeter, current_meter
from teachkit.engine.progress import NullProgress, Progress, ProgressSink
from teachkit.engine.session import Session, SessionResult
from teachkit.errors import BudgetExceededError, CircuitOpenError, ConfigError, TeacherError
from teachkit.generators.base import Job, Outcome
from teachkit.records import Record, Rejection
from teachkit.rundir.journal import JobEntry
from teachkit.rundir.state import RunStatus
from teachkit.teachers.backend import Response

__all__ = ["Runner"]

log = logging.getLogger("teachkit")

_MANIFEST_EVERY = 2.0  # seconds between manifest refreshes during a run
_PROGRESS_EVERY = 0.1  # seconds between progress snapshots


@dataclass(slots=True)
class _Work:
    job: Job
    root: bool
    #: created by an earlier session and not committed (its cached answers were paid by it)
    resumed: bool = False
    #: the answer, found in the cache when the job was created
    hit: Response | None = None


class Runner:
    """Drives one session of a run (a fresh run, a resume, or a curation) to its end."""

    def __init__(self, session: Session, progress: ProgressSink | None = None) -> None:
        self.s = session
        self.gen = session.source
        self.progress_sink: ProgressSink = progress or NullProgress()
        self.tally = session.tally
        self.pending: deque[_Work] = deque(
            _Work(e.job, not e.followup, resumed=e.cached is not True)
            for e in session.recovered.pending
        )
        self.in_flight: dict[asyncio.Task[None], Job] = {}
        #: ids of records in the filter chain now (a second copy is a duplicate at once)
        self.in_chain: set[str] = set()
        #: jobs whose request is with the teacher (the sliding window)
        self.waiting = 0
        self._finished: asyncio.Queue[asyncio.Task[None]] = asyncio.Queue()
        self.roots_done = 0
        self.roots_in_flight = 0
        self.exhausted = False
        self.stop_error: BaseException | None = None
        self._closing = False
        self.started = time.perf_counter()
        self._last_manifest = 0.0
        self._last_tick = 0.0
        self.progress = Progress(count=session.count)

    # --- dispatch policy --------------------------------------------------------------------
    def _want_root(self) -> bool:
        s = self.s
        if self.tally.accepted >= s.count or self.tally.root_jobs >= s.max_requests:
            return False
        if self.gen.complete_when_exhausted:
            return True
        # expected accepted records per root job, from what finished so far (optimistic at first)
        rate = self.tally.accepted_this_session / self.roots_done if self.roots_done >= 4 else 1.0
        expected = self.tally.accepted + self.roots_in_flight * max(rate, 0.05)
        return expected < s.count or self.roots_in_flight == 0

    def _lookup(self, job: Job) -> Response | None:
        """The job's answer if the cache already has it (then the job costs this run nothing)."""
        if not job.needs_teacher or self.s.own_cache:
            return None
        teacher = self.s.teachers.get(job.teacher) or self.s.teacher()
        return teacher.lookup(job.request) if teacher.cache is not None else None

    def _next(self) -> _Work | None:
        if self.pending:
            return self.pending.popleft()
        if not self._want_root():
            return None
        job = self.gen.next_job()
        if job is None:
            self.exhausted = True
            return None
        hit = self._lookup(job)
        self.s.store.add_jobs([job], cached=hit is not None)
        self.tally.root_jobs += 1
        return _Work(job, True, hit=hit)

    def _fill(self) -> None:
        """Top the window up: the window counts jobs waiting on the teacher (or, for ready
        records, in the filter chain), not jobs being parsed or committed."""
        while self.waiting < self.s.window and self.stop_error is None and not self._closing:
            if self.tally.accepted >= self.s.count:
                return
            work = self._next()
            if work is None:
                return
            if work.root:
                self.roots_in_flight += 1
            self.waiting += 1
            task = asyncio.ensure_future(self._process(work))
            task.add_done_callback(self._finished.put_nowait)
            self.in_flight[task] = work.job

    # --- the loop ---------------------------------------------------------------------------
    async def run(self) -> SessionResult:
        try:
            self._fill()
            while self.in_flight:
                # one wake-up per finished job (asyncio.wait over the whole window is O(window))
                task = await self._finished.get()
                self.in_flight.pop(task, None)
                exc = task.exception() if not task.cancelled() else None
                if exc is not None and self.stop_error is None:
                    self.stop_error = exc
                if self.stop_error is not None or self.tally.accepted >= self.s.count:
                    await self._cancel_all()
                    break
                self._fill()
                self._tick()
        except asyncio.CancelledError:
            # interrupted (Ctrl-C): no job may go on writing once the session closes
            await self._cancel_all()
            self.s.generation_seconds = time.perf_counter() - self.started
            self.progress_sink.close(self._snapshot("interrupted"))
            raise
        return self._finish()

    async def _cancel_all(self) -> None:
        self._closing = True
        tasks = list(self.in_flight)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        self.in_flight.clear()

    def _finish(self) -> SessionResult:
        error = self.stop_error
        count, accepted = self.s.count, self.tally.accepted
        if error is not None:
            stopped = isinstance(error, CircuitOpenError | BudgetExceededError)
            status = RunStatus.STOPPED if stopped else RunStatus.FAILED
            message = str(error)
        elif accepted >= count:
            status, message = RunStatus.COMPLETE, f"{accepted} records accepted."
            if self.gen.complete_when_exhausted:
                message = self.gen.completion_message(accepted, self.tally.rejected)
        elif self.gen.complete_when_exhausted and self.exhausted:
            status = RunStatus.COMPLETE
            message = self.gen.completion_message(accepted, self.tally.rejected)
        elif self.tally.root_jobs >= self.s.max_requests:
            status = RunStatus.INCOMPLETE
            message = (
                f"Stopped after {self.tally.root_jobs} requests (run.max_requests) with "
                f"{accepted} of {count} records accepted; most answers were "
                "rejected. Look at rejected/ and the drop reasons, adjust the recipe, and raise "
                "run.max_requests to continue."
            )
        else:
            status = RunStatus.EXHAUSTED
            message = (
                f"The generator ran out of work with {accepted} of {count} "
                "records accepted (every prompt was used). Add axis values or seeds to go on."
            )
        self.s.generation_seconds = time.perf_counter() - self.started
        self.progress_sink.close(self._snapshot("done"))
        return SessionResult(status=status, message=message, error=error)

    # --- one job ----------------------------------------------------------------------------
    async def _process(self, work: _Work) -> None:
        s = self.s
        job = work.job
        meter = JobMeter(resumed=work.resumed)
        current_meter().set(meter)  # this task's context: the judge's calls land here too
        ok = True
        if not job.needs_teacher:
            outcome = self.gen.on_ready(job)
            accepted, rejected = await self._filter(outcome)
            self.waiting -= 1
            self._fill()
        else:
            teacher = s.teachers.get(job.teacher) or s.teacher()
            try:
                if work.hit is not None:
                    response = work.hit
                    teacher.answered_from_cache(response, meter)
                else:
                    response = await teacher.complete(job.request)
            except (CircuitOpenError, BudgetExceededError, ConfigError):
                raise
            except TeacherError as error:
                await self._slot_free()
                outcome = self.gen.on_failure(job, error)
                ok = False
            else:
                await self._slot_free()
                if log.isEnabledFor(logging.DEBUG):
                    log.debug(
                        "answer job=%s key=%s cached=%d",
                        job.key,
                        teacher.key(job.request),
                        int(response.cached),
                    )
                outcome = self.gen.on_response(job, response)
            accepted, rejected = await self._filter(outcome)
        self._commit(job, outcome, accepted, rejected, ok, meter)
        if work.root:
            self.roots_in_flight -= 1
            self.roots_done += 1
        s.check_budget()

    async def _slot_free(self) -> None:
        """The answer is in: send the next request before parsing this one, so the teacher
        never waits while a wave of answers is processed."""
        self.waiting -= 1
        self._fill()
        await asyncio.sleep(0)

    async def _filter(self, outcome: Outcome) -> tuple[list[Record], list[Rejection]]:
        accepted: list[Record] = []
        rejected = list(outcome.rejected)
        for record in outcome.candidates:
            if record.id in self.s.accepted_ids or record.id in self.in_chain:
                where = "accepted" if record.id in self.s.accepted_ids else "being filtered"
                detail = {"id": record.id, "duplicate_of": where}
                rejected.append(Rejection(record, "engine", "duplicate_id", detail))
                continue
            self.in_chain.add(record.id)
            try:
                dropped = await self.s.chain.evaluate(record)
            except BaseException:
                self.in_chain.discard(record.id)
                raise
            if dropped is None:
                accepted.append(record)
            else:
                self.in_chain.discard(record.id)
                f, drop = dropped
                rejected.append(Rejection(record, f.name, drop.reason, dict(drop.detail)))
        return accepted, rejected

    def _commit(
        self,
        job: Job,
        outcome: Outcome,
        accepted: list[Record],
        rejected: list[Rejection],
        ok: bool,
        meter: JobMeter,
    ) -> None:
        """Synchronous: nothing else runs between the quota check and the journal line."""
        s = self.s
        for record in accepted:
            self.in_chain.discard(record.id)
        room = max(0, s.count - self.tally.accepted)
        if len(accepted) > room:
            for record in accepted[room:]:
                rejected.append(Rejection(record, "quota", "quota_reached"))
                s.chain.forget(record)
            accepted = accepted[:room]
        followups = [] if self.tally.accepted + len(accepted) >= s.count else outcome.jobs
        works = [_Work(f, False, hit=self._lookup(f)) for f in followups]
        entries = [JobEntry(w.job, followup=True, cached=w.hit is not None) for w in works]
        commit = s.store.commit(
            job,
            accepted,
            rejected,
            stage=job.stage,
            teacher=job.teacher if job.needs_teacher else "",
            ok=ok,
            usage=meter.usage,
            followups=entries,
        )
        s.spend.commit(meter)
        for work in works:
            s.followup_keys.add(work.job.key)
            self.pending.append(work)
        for record in accepted:
            s.accepted_ids.add(record.id)
            s.chain.remember(record)
            self.gen.on_accepted(record)
        self.tally.record(commit, accepted, rejected)

    # --- reporting --------------------------------------------------------------------------
    def _snapshot(self, stage: str) -> Progress:
        p = self.progress
        p.accepted = self.tally.accepted
        p.rejected = self.tally.rejected
        p.requests = self.tally.answers_this_session
        p.cached = self.tally.cached_this_session
        p.in_flight = len(self.in_flight)
        p.stage = stage
        p.completion_tokens = self.tally.completion_tokens_this_session
        p.elapsed = time.perf_counter() - self.started
        p.drops = {f"{k[0]}:{k[1]}": v for k, v in self.tally.drops.most_common(5)}
        return p

    def _tick(self) -> None:
        now = time.perf_counter()
        if now - self._last_tick < _PROGRESS_EVERY:
            return
        self._last_tick = now
        stages = {job.stage for job in self.in_flight.values()}
        stage = ",".join(sorted(stages)) if stages else "finishing"
        self.progress_sink.update(self._snapshot(stage))
        if now - self._last_manifest >= _MANIFEST_EVERY:
            self._last_manifest = now
            self.s.write_manifest(RunStatus.RUNNING)
