"""The local async runner: one streaming pipeline from generator to store.

Requests flow to the teacher through a sliding window while earlier answers are parsed, filtered
and committed; nothing waits for a batch. Every commit is synchronous on the event loop, so the
quota check is exact: a run ends with exactly ``count`` accepted records.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections import deque
from typing import Any

from teachkit.engine.manifest import Tally
from teachkit.engine.progress import NullProgress, Progress, ProgressSink
from teachkit.engine.session import Session, SessionResult
from teachkit.errors import BudgetExceededError, CircuitOpenError, ConfigError, TeacherError
from teachkit.generators.base import Job, Outcome
from teachkit.records import Record, Rejection

__all__ = ["Runner"]

log = logging.getLogger("teachkit")

_MANIFEST_EVERY = 2.0  # seconds between manifest refreshes during a run
_PROGRESS_EVERY = 0.1  # seconds between progress snapshots


class Runner:
    """Drives one session of a run (a fresh run or a resume) to its end."""

    def __init__(self, session: Session, progress: ProgressSink | None = None) -> None:
        self.s = session
        if session.generator is None:
            raise ValueError("a Runner needs a session with a generator")
        self.gen = session.generator
        self.progress_sink: ProgressSink = progress or NullProgress()
        self.tally: Tally = session.tally
        self.pending: deque[Job] = deque(session.recovered.pending)
        self.in_flight: dict[asyncio.Task[None], Job] = {}
        #: jobs whose request is with the teacher (the sliding window)
        self.waiting = 0
        self._finished: asyncio.Queue[asyncio.Task[None]] = asyncio.Queue()
        self.roots_done = 0
        self.roots_in_flight = 0
        self.stop_error: BaseException | None = None
        self.started = time.perf_counter()
        self._last_manifest = 0.0
        self._last_tick = 0.0
        self.progress = Progress(count=session.count)

    # --- dispatch policy --------------------------------------------------------------------
    def _want_root(self) -> bool:
        s = self.s
        if self.tally.accepted >= s.count or self.tally.root_jobs >= s.max_requests:
            return False
        # expected accepted records per root job, from what finished so far (optimistic at first)
        rate = self.tally.accepted_this_session / self.roots_done if self.roots_done >= 4 else 1.0
        expected = self.tally.accepted + self.roots_in_flight * max(rate, 0.05)
        return expected < s.count or self.roots_in_flight == 0

    def _next(self) -> Job | None:
        if self.pending:
            return self.pending.popleft()
        if not self._want_root():
            return None
        job = self.gen.next_job()
        if job is not None:
            self.s.store.add_jobs([job])
            self.tally.root_jobs += 1
        return job

    def _fill(self) -> None:
        """Top the window up: the window counts jobs waiting on the teacher, not jobs whose
        answer is being parsed, filtered or committed."""
        while self.waiting < self.s.window and self.stop_error is None:
            if self.tally.accepted >= self.s.count:
                return
            job = self._next()
            if job is None:
                return
            is_root = job.key not in self.s.followup_keys
            if is_root:
                self.roots_in_flight += 1
            self.waiting += 1
            task = asyncio.ensure_future(self._process(job, is_root))
            task.add_done_callback(self._finished.put_nowait)
            self.in_flight[task] = job

    # --- the loop ---------------------------------------------------------------------------
    async def run(self) -> SessionResult:
        self._fill()
        while self.in_flight:
            # one wake-up per finished job (asyncio.wait over the whole window costs O(window))
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
        return self._finish()

    async def _cancel_all(self) -> None:
        for task in self.in_flight:
            task.cancel()
        if self.in_flight:
            await asyncio.gather(*self.in_flight, return_exceptions=True)
        self.in_flight.clear()

    def _finish(self) -> SessionResult:
        error = self.stop_error
        if error is not None:
            status = (
                "stopped"
                if isinstance(error, (CircuitOpenError, BudgetExceededError))
                else "failed"
            )
            message = str(error)
        elif self.tally.accepted >= self.s.count:
            status, message = "complete", f"{self.tally.accepted} records accepted."
        elif self.tally.root_jobs >= self.s.max_requests:
            status = "incomplete"
            message = (
                f"Stopped after {self.tally.root_jobs} requests (run.max_requests) with "
                f"{self.tally.accepted} of {self.s.count} records accepted; most answers were "
                "rejected. Look at rejected/ and the drop reasons, adjust the recipe, and raise "
                "run.max_requests to continue."
            )
        else:
            status = "exhausted"
            message = (
                f"The generator ran out of work with {self.tally.accepted} of {self.s.count} "
                "records accepted (every prompt was used). Add axis values or seeds to go on."
            )
        self.s.generation_seconds = time.perf_counter() - self.started
        self.progress_sink.close(self._snapshot("done"))
        return SessionResult(status=status, message=message, error=error)

    # --- one job ----------------------------------------------------------------------------
    async def _process(self, job: Job, is_root: bool) -> None:
        s = self.s
        teacher = s.teachers[job.teacher]
        try:
            response = await teacher.complete(job.request)
        except (CircuitOpenError, BudgetExceededError, ConfigError):
            raise
        except TeacherError as error:
            await self._slot_free()
            outcome = self.gen.on_failure(job, error)
            facts: dict[str, Any] = {"st": job.stage, "tm": job.teacher, "ok": 0}
        else:
            await self._slot_free()
            if log.isEnabledFor(logging.DEBUG):
                log.debug(
                    "answer job=%s key=%s cached=%d",
                    job.key,
                    teacher.key(job.request),
                    int(response.cached),
                )
            parsed = self.gen.on_response(job, response)
            outcome = await parsed if inspect.isawaitable(parsed) else parsed
            facts = {
                "st": job.stage,
                "tm": job.teacher,
                "pt": response.usage.prompt_tokens,
                "ct": response.usage.completion_tokens,
                "c": int(response.cached),
            }
        accepted, rejected = await self._filter(outcome)
        self._commit(job, outcome, accepted, rejected, facts)
        if is_root:
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
            if record.id in self.s.accepted_ids:
                rejected.append(Rejection(record, "engine", "duplicate_id", {"id": record.id}))
                continue
            dropped = await self.s.chain.evaluate(record)
            if dropped is None:
                accepted.append(record)
            else:
                f, drop = dropped
                rejected.append(Rejection(record, f.name, drop.reason, dict(drop.detail)))
        return accepted, rejected

    def _commit(
        self,
        job: Job,
        outcome: Outcome,
        accepted: list[Record],
        rejected: list[Rejection],
        facts: dict[str, Any],
    ) -> None:
        """Synchronous: nothing else runs between the quota check and the journal line."""
        s = self.s
        unique: dict[str, Record] = {}
        for record in accepted:  # the same content twice in one job, or committed meanwhile
            if record.id in unique or record.id in s.accepted_ids:
                rejected.append(Rejection(record, "engine", "duplicate_id", {"id": record.id}))
            else:
                unique[record.id] = record
        accepted = list(unique.values())
        room = max(0, s.count - self.tally.accepted)
        if len(accepted) > room:
            for record in accepted[room:]:
                rejected.append(Rejection(record, "quota", "quota_reached"))
                s.chain.forget(record)
            accepted = accepted[:room]
        followups = [] if self.tally.accepted + len(accepted) >= s.count else outcome.jobs
        s.store.commit(job, accepted, rejected, followups, facts)
        for followup in followups:
            s.followup_keys.add(followup.key)
            self.pending.append(followup)
        for record in accepted:
            s.accepted_ids.add(record.id)
            s.chain.remember(record)
            self.gen.on_accepted(record)
        self.tally.record(job.stage, facts, accepted, rejected)

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
            self.s.write_manifest("running")
