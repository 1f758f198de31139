"""The ``reasoning`` generator: several verified reasoning traces per problem.

The jobs of one problem (``i`` its index):

* ``problem:i`` (teacher-written problems only): the teacher writes the problem and its answer;
* ``sample:i``: one request for all N traces, when the backend draws several choices (``n``);
  otherwise ``sample:i:t0`` ... ``sample:i:t{N-1}``, one request each with its own ``sample``
  index (so each is cached on its own), sent one after the other, each carrying the traces drawn
  so far in its journalled context;
* ``judge:i`` (with ``judge:``): the teacher grades the problem's traces.

A problem's traces are parsed, flagged and verified when the last one is in, and committed
together by the job that completes the problem, so the pass rate written on every trace is final.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from teachkit.errors import TeacherError, TeachkitError
from teachkit.generators.base import Generator, GeneratorContext, Job, Outcome, failure_record
from teachkit.generators.reasoning.assemble import DEFAULT_SAMPLING, Trace, TraceBuilder
from teachkit.generators.reasoning.checking import TraceChecker
from teachkit.generators.reasoning.judge import TraceJudge
from teachkit.generators.reasoning.problems import Problem, load_problems
from teachkit.generators.reasoning.spec import ReasoningSpec
from teachkit.generators.reasoning.stats import ReasoningStats, difficulty_label
from teachkit.generators.reasoning.traces import FLAGS
from teachkit.generators.reasoning.writing import ProblemWriter
from teachkit.generators.structured import StructuredOutputError
from teachkit.records import Message, Record, Rejection
from teachkit.teachers.backend import Request, Response
from teachkit.verifiers.base import Verdict, Verifier, VerifierContext

__all__ = ["DEFAULT_SAMPLING", "ReasoningGenerator"]

#: the drop label of a rejected trace
FILTER = "reasoning"


@dataclass(slots=True)
class _Pending:
    """A problem whose traces are all in and wait for the verifier."""

    job: Job
    problem: Problem
    traces: list[Trace]

    @property
    def checked(self) -> list[Trace]:
        """The traces the verifier sees: those with a final answer."""
        return [t for t in self.traces if t.record is not None and t.parsed and t.parsed.answer]

    @property
    def records(self) -> list[Record]:
        return [t.record for t in self.checked if t.record is not None]


class ReasoningGenerator(Generator[ReasoningSpec]):
    kind = "reasoning"

    def __init__(self, spec: ReasoningSpec, ctx: GeneratorContext) -> None:
        super().__init__(spec, ctx)
        generate = spec.problems.generate
        self.writer = ProblemWriter(generate, ctx) if generate is not None else None
        self.problems: list[Problem] = (
            []
            if generate is not None
            else load_problems(spec.problems, ctx.base_dir, ctx.allowed_paths)
        )
        # a fixed list of problems is done when every one is, however many traces passed
        vars(self)["complete_when_exhausted"] = generate is None
        self.native = ctx.capabilities.n and spec.traces > 1
        self.builder = TraceBuilder(spec, ctx, native=self.native)
        self._check_variables()
        self.checker = TraceChecker(self._build_verifier()) if spec.verifier is not None else None
        self.judge = (
            TraceJudge(spec.judge, native_json=ctx.capabilities.json_schema)
            if spec.judge is not None
            else None
        )
        self.next_index = 0
        self.tally = ReasoningStats()
        # records per request, for dry-run estimates (count / expected_yield requests): a file
        # of problems makes one trace per problem and trace; written problems, half verified
        vars(self)["expected_yield"] = (
            spec.count / (len(self.problems) * spec.traces) if self.problems else spec.traces * 0.5
        )
        self.accepted_axes: list[dict[str, str]] = []

    def _check_variables(self) -> None:
        """The solving prompt may use the problem, its entry point and the fields every problem
        has (never its answer or tests)."""
        available: set[str] = set()
        if self.writer is not None:
            available |= set(self.writer.sampler.names) | set(self.writer.spec.output.field_names())
            available -= {"answer", "tests"}
        elif self.problems:
            available |= set.intersection(*(set(p.fields) for p in self.problems))
        self.builder.check_variables(available)

    def _build_verifier(self) -> Verifier:
        assert self.spec.verifier is not None
        vctx = VerifierContext(
            base_dir=Path(self.ctx.base_dir),
            seed=self.ctx.seed,
            allow_weak_sandbox=self.spec.allow_weak_sandbox,
            allowed_paths=self.ctx.allowed_paths,
        )
        verifier = self.spec.verifier.build(vctx)
        if not isinstance(verifier, Verifier):
            raise TeachkitError(
                f"The verifier kind {self.spec.verifier.kind!r} built "
                f"{type(verifier).__name__}, not a teachkit.verifiers.Verifier. Fix its spec's "
                "build() method."
            )
        return verifier

    # --- jobs -------------------------------------------------------------------------------
    def restore(self, state: Any) -> None:
        indices = [
            int(job.context["index"] if job.stage == "problem" else job.context["problem"]["index"])
            for job in state.jobs
            if job.stage in ("problem", "sample")
        ]
        self.next_index = max(indices, default=-1) + 1
        for record in [*state.accepted, *(r.record for r in state.rejected)]:
            if record.meta.get("stage") == "sample" and "trace_index" in record.meta:
                self.tally.add(record.meta)
        self.accepted_axes = [dict(r.meta.get("axes") or {}) for r in state.accepted]
        if self.checker is not None:  # the run is opening: warm the verifier up meanwhile
            self.checker.start()

    def next_job(self) -> Job | None:
        index = self.next_index
        if self.writer is not None:
            limit = self.writer.spec.count
            if limit is not None and index >= limit:
                return None
            self.next_index += 1
            return self.writer.job(index)
        if index >= len(self.problems):
            return None
        self.next_index += 1
        return self._sample_job(self.problems[index], 0, [])

    def _sample_job(
        self,
        problem: Problem,
        trace: int,
        previous: list[dict[str, Any]],
        messages: list[Message] | None = None,
    ) -> Job:
        """The request for trace ``trace`` (all traces when drawn natively); ``messages``: the
        prompt already rendered for this problem."""
        messages = [dict(m) for m in messages] if messages else self.builder.messages(problem)
        options = dict(self.builder.options)
        if self.native:
            options["n"] = self.spec.traces
        request = Request(messages=messages, options=options, sample=problem.index * 1000 + trace)
        context: dict[str, Any] = {"problem": problem.to_dict()}
        if self.native:
            key = f"sample:{problem.index:06d}"
        else:
            key = f"sample:{problem.index:06d}:t{trace}"
            context.update(trace=trace, previous=previous)
        return Job(key=key, stage="sample", request=request, context=context)

    # --- answers ----------------------------------------------------------------------------
    def on_response(self, job: Job, response: Response) -> Outcome:
        step = self._answer(job, response)
        return self._verified(step, self._verify(step)) if isinstance(step, _Pending) else step

    def on_failure(self, job: Job, error: TeacherError) -> Outcome:
        step = self._failure(job, error)
        return self._verified(step, self._verify(step)) if isinstance(step, _Pending) else step

    async def on_response_async(self, job: Job, response: Response) -> Outcome:
        """:meth:`on_response` for an engine that awaits it: the verification runs without
        holding up the event loop."""
        step = self._answer(job, response)
        if isinstance(step, _Pending):
            return self._verified(step, await self._verify_async(step))
        return step

    async def on_failure_async(self, job: Job, error: TeacherError) -> Outcome:
        step = self._failure(job, error)
        if isinstance(step, _Pending):
            return self._verified(step, await self._verify_async(step))
        return step

    def _answer(self, job: Job, response: Response) -> Outcome | _Pending:
        if job.stage == "problem":
            return self._on_problem(job, response)
        if job.stage == "judge":
            return self._on_judge(job, response, None)
        problem = Problem.from_dict(job.context["problem"])
        model = response.model or self.ctx.teacher_model
        drawn = [
            {"text": text, "finish_reason": reason, "model": model, "job": job.key}
            for text, reason in zip(response.texts, response.finish_reasons, strict=False)
        ]
        return self._drawn(job, problem, drawn)

    def _failure(self, job: Job, error: TeacherError) -> Outcome | _Pending:
        if job.stage == "judge":
            return self._on_judge(job, None, error)
        if job.stage == "problem":
            self.tally.problem_writing["teacher_failed"] += 1
            return super().on_failure(job, error)
        self.tally.failed_requests += 1
        problem = Problem.from_dict(job.context["problem"])
        drawn = {"error": error.reason, "message": str(error)[:300], "job": job.key}
        if "trace" in job.context:  # one trace failed: the problem goes on with the others
            return self._drawn(job, problem, [drawn])
        return self._finish(problem, [Trace(index=0, drawn=drawn)], job)

    def _drawn(self, job: Job, problem: Problem, drawn: list[dict[str, Any]]) -> Outcome | _Pending:
        """Traces arrived for ``problem``: ask for the next one, or complete the problem (after
        the verifier has seen its traces)."""
        if "trace" in job.context:  # drawn one at a time
            previous = [*job.context["previous"], *drawn]
            if len(previous) < self.spec.traces:
                again = job.request.messages
                return Outcome(jobs=[self._sample_job(problem, len(previous), previous, again)])
            drawn = previous
        sent = (job.request.messages or [{}])[-1].get("content")
        traces = [
            self.builder.trace(problem, i, d, sent) for i, d in enumerate(drawn[: self.spec.traces])
        ]
        pending = _Pending(job, problem, traces)
        return (
            pending if pending.records and self.checker is not None else self._verified(pending, [])
        )

    def _verify(self, step: _Pending) -> list[Verdict]:
        assert self.checker is not None
        return self.checker.verify(step.records)

    async def _verify_async(self, step: _Pending) -> list[Verdict]:
        assert self.checker is not None
        return await self.checker.verify_async(step.records)

    def _verified(self, step: _Pending, verdicts: list[Verdict]) -> Outcome:
        """The problem's traces with their verdicts: to the judge, or committed now."""
        for trace, verdict in zip(step.checked, verdicts, strict=True):
            trace.verdict = verdict
        if self.judge is not None and self._gradable(step.traces):
            return Outcome(jobs=[self._judge_job(step.problem, step.traces)])
        return self._finish(step.problem, step.traces, step.job)

    def _on_problem(self, job: Job, response: Response) -> Outcome:
        assert self.writer is not None
        try:
            problem = self.writer.read(job, response)
        except StructuredOutputError as exc:
            self.tally.problem_writing[exc.reason] += 1
            attempt = int(job.context["attempt"]) + 1
            retrying = attempt < self.writer.max_attempts
            record = failure_record(job, self.ctx)
            record.meta["answer_text"] = response.text[:2000]
            detail = {"attempt": attempt, "retrying": retrying}
            outcome = Outcome(rejected=[Rejection(record, "structured_output", exc.reason, detail)])
            if retrying:
                outcome.jobs.append(self.writer.job(int(job.context["index"]), attempt))
            return outcome
        self.tally.problem_writing["written"] += 1
        return Outcome(jobs=[self._sample_job(problem, 0, [])])

    # --- the judge --------------------------------------------------------------------------
    def _gradable(self, traces: list[Trace]) -> list[Trace]:
        return [t for t in traces if t.flagged is not None and not t.flagged.flags]

    def _judge_job(self, problem: Problem, traces: list[Trace]) -> Job:
        assert self.judge is not None
        graded = self._gradable(traces)
        solutions = [(t.parsed.reasoning, t.parsed.answer) for t in graded if t.parsed]
        request = self.judge.request(problem.text, problem.answer, solutions)
        context = {
            "problem": problem.to_dict(),
            "drawn": [t.drawn for t in traces],
            "verdicts": [t.verdict.to_dict() if t.verdict else None for t in traces],
        }
        return Job(
            key=f"judge:{problem.index:06d}", stage="judge", request=request, context=context
        )

    def _on_judge(self, job: Job, response: Response | None, error: TeacherError | None) -> Outcome:
        assert self.judge is not None
        problem = Problem.from_dict(job.context["problem"])
        traces = [self.builder.trace(problem, i, d) for i, d in enumerate(job.context["drawn"])]
        for trace, verdict in zip(traces, job.context["verdicts"], strict=True):
            trace.verdict = Verdict.from_dict(verdict) if verdict else None
        graded = self._gradable(traces)
        grades = None if response is None else self.judge.grades(response.text, len(graded))
        for position, trace in enumerate(graded):
            if grades is None:
                trace.judge = {"error": "judge_failed" if error else "judge_unparseable"}
                continue
            trace.judge = dict(grades[position])
            if trace.verdict is not None:
                trace.judge["agrees"] = trace.judge["passed"] == trace.verdict.passed
        return self._finish(problem, traces, job)

    # --- the problem is complete ------------------------------------------------------------
    def _outcome_of(self, trace: Trace) -> str:
        """``passed``, or why the trace is rejected (its first flag, the verdict, the judge)."""
        assert trace.flagged is not None
        for flag in FLAGS:
            if flag in trace.flagged.flags:
                return flag
        if self.checker is not None:
            if trace.verdict is None:
                return "no_answer"
            if not trace.verdict.passed:
                return trace.verdict.reason
        judge = self.spec.judge
        if judge is not None and judge.veto and trace.judge and not trace.judge.get("passed"):
            return "judge_rejected"
        return "passed"

    def _finish(self, problem: Problem, traces: list[Trace], job: Job) -> Outcome:
        outcome = Outcome()
        drawn = [t for t in traces if t.record is not None]
        results = {t.index: self._outcome_of(t) for t in drawn}
        passed = sum(1 for r in results.values() if r == "passed")
        rate = passed / len(drawn) if drawn else 0.0
        difficulty = {
            "pass_rate": round(rate, 4),
            "passed": passed,
            "traces": len(drawn),
            "label": difficulty_label(rate),
        }
        for trace in traces:
            if trace.record is None:
                record = failure_record(job, self.ctx)
                record.meta.update(
                    job=trace.drawn["job"], problem_id=problem.id, problem=problem.text
                )
                detail = {"message": trace.drawn.get("message", ""), "trace": trace.index}
                reason = str(trace.drawn.get("error") or "failed")
                outcome.rejected.append(Rejection(record, "teacher", reason, detail))
                continue
            record, result = trace.record, results[trace.index]
            verdicts: dict[str, Any] = {}
            if trace.verdict is not None and self.checker is not None:
                verdicts[self.checker.kind] = trace.verdict.to_dict()
            if trace.judge is not None:
                verdicts["judge"] = trace.judge
            record.meta.update(
                verdicts=verdicts, passed=result == "passed", outcome=result, difficulty=difficulty
            )
            self.tally.add(record.meta)
            if result == "passed" or self.spec.keep == "all":
                outcome.candidates.append(record)
            else:
                detail = {"flags": record.meta["flags"], **verdicts}
                if trace.flagged is not None and trace.flagged.detail:
                    detail["flag_detail"] = trace.flagged.detail
                outcome.rejected.append(Rejection(record, FILTER, result, detail))
        return outcome

    def completion_message(self, accepted: int, rejected: int) -> str:
        problems = len(self.tally.problems)
        return (
            f"{problems} problems done: {accepted} traces accepted, {rejected} records in "
            "rejected/ with their reasons."
        )

    def on_accepted(self, record: Record) -> None:
        self.accepted_axes.append(dict(record.meta.get("axes") or {}))

    def stats(self) -> dict[str, Any]:
        out = self.tally.summary()
        out["mode"] = "n" if self.native else "one request per trace"
        if self.checker is not None:
            out["verifier"] = self.checker.describe()
        if self.writer is not None and self.writer.sampler.names:
            out["axes"] = self.writer.coverage(self.accepted_axes)
        return out
