"""The ``preference`` generator: several candidate answers per prompt, every one scored.

Prompt ``i`` is one job, ``pref:i``: its request is the first writer's (all its ``n`` candidates
at once where the backend draws several choices, else the first of ``n`` requests, each with its
own ``sample`` index ``i * 1000 + slot``, so each is cached on its own). Its answer is handled by
an async :meth:`on_response` that asks for the other candidates (every writer concurrently),
then runs every scorer, and commits one record per prompt. Every request goes through the run's
teachers and their request cache, so a prompt cut by a kill is finished on resume from the cache:
nothing is lost and nothing is paid twice.

The record (see docs/preference.md): ``messages`` are the prompt turns; ``meta.candidates`` holds
each candidate (text, teacher, model, finish_reason, scores, verdicts, length); ``chosen`` and
``rejected`` are the best and the worst under the default pairing, normalised (so ``chat`` exports
best-of-N answers and ``preference`` works out of the box). Pairs are built again at export time
by the export's own pairing policy. A prompt whose candidates carry no preference is rejected
with the reason (``all_tied``, ``all_correct``, ``all_incorrect``, ``too_few_candidates``) unless
``keep_uninformative`` is set.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from teachkit.errors import CircuitOpenError, ConfigError, RecipeError, TeacherError
from teachkit.formats.pairs import build_pairs
from teachkit.generators.base import Generator, GeneratorContext, Job, Outcome, RestoreState
from teachkit.generators.preference.prompts import PromptItem, PromptSource, prompt_id
from teachkit.generators.preference.scorers.base import Prompt, Scorer, ScorerContext, Scores
from teachkit.generators.preference.spec import MAX_CANDIDATES, PreferenceSpec, WriterSpec
from teachkit.recipe.export import PairingSpec
from teachkit.records import Record, Rejection, content_hash
from teachkit.teachers.backend import Capabilities, Request, Response
from teachkit.teachers.registry import backend_class
from teachkit.teachers.teacher import Teacher

__all__ = ["PreferenceGenerator"]

log = logging.getLogger("teachkit")

#: the drop label of a prompt rejected by the generator
FILTER = "preference"
#: the stored pair: best against worst, as the default export would see them
_STORED = PairingSpec(policy="best_vs_worst")


@dataclass(slots=True)
class _Writer:
    name: str
    #: the teacher that answers (the engine routes jobs by it)
    route: str
    n: int
    #: first candidate slot of this writer
    offset: int
    options: dict[str, Any]
    native: bool
    config: Any = None


class PreferenceGenerator(Generator):
    kind = "preference"
    spec: PreferenceSpec

    def __init__(self, spec: PreferenceSpec, ctx: GeneratorContext) -> None:
        super().__init__(spec, ctx)
        self.source = PromptSource(spec.prompts, seed=ctx.seed, base_dir=ctx.base_dir)
        self.teachers: dict[str, Teacher] = {}
        self.writers = self._writers(spec.resolved_writers())
        sctx = ScorerContext(
            base_dir=Path(ctx.base_dir), seed=ctx.seed, teacher_factory=ctx.teacher_factory
        )
        self.scorers: list[Scorer] = [s.build(sctx) for s in spec.scorers]
        self.next_index = 0
        self.counts: Counter[str] = Counter()

    def _writers(self, specs: list[WriterSpec]) -> list[_Writer]:
        writers: list[_Writer] = []
        offset = 0
        factory = self.ctx.teacher_factory
        for spec in specs:
            route = "teacher" if spec.teacher is None else spec.name
            if spec.teacher is None:
                options = {k: v for k, v in self.ctx.sampling.items() if k != "n"}
                caps = self.ctx.capabilities
            else:
                options = {"seed": self.ctx.seed, **spec.teacher.sampling.as_options()}
                options.pop("n", None)
                caps = backend_class(spec.teacher.backend).capabilities
            if factory is not None:
                teacher = factory(spec.teacher, route)
                if spec.teacher is not None and teacher.config != spec.teacher:
                    raise RecipeError(
                        f"The writer name {spec.name!r} is already used by another teacher of the "
                        "recipe (a filter's, say); give the writer another name."
                    )
                self.teachers[route] = teacher
                caps = teacher.capabilities
            writers.append(
                _Writer(spec.name, route, spec.n, offset, options, _native(caps, spec.n))
            )
            offset += spec.n
        if offset > MAX_CANDIDATES:
            raise RecipeError(f"A prompt can have at most {MAX_CANDIDATES} candidates.")
        return writers

    # --- jobs -------------------------------------------------------------------------------
    def restore(self, state: RestoreState) -> None:
        indices = [int(j.context["index"]) for j in state.jobs if j.stage == "candidates"]
        self.next_index = max(indices, default=-1) + 1
        self.counts["prompts_kept"] = len(state.accepted)
        for rejection in state.rejected:
            if rejection.filter == FILTER:
                self.counts[f"rejected:{rejection.reason}"] += 1

    def _requests(self, writer: _Writer, messages: list[Any], index: int) -> list[Request]:
        base = index * MAX_CANDIDATES + writer.offset
        if writer.native:
            options = {**writer.options, "n": writer.n}
            return [Request(messages=list(messages), options=options, sample=base)]
        return [
            Request(messages=list(messages), options=dict(writer.options), sample=base + k)
            for k in range(writer.n)
        ]

    def next_job(self) -> Job | None:
        index = self.next_index
        item = self.source.get(index)
        if item is None:
            return None
        self.next_index += 1
        first = self.writers[0]
        return Job(
            key=f"pref:{index:06d}",
            stage="candidates",
            request=self._requests(first, item.messages, index)[0],
            context={"index": index, "prompt_id": prompt_id(item.messages), "axes": item.axes},
            teacher=first.route,
        )

    # --- answers ----------------------------------------------------------------------------
    async def on_response(self, job: Job, response: Response) -> Outcome:
        index = int(job.context["index"])
        item = self.source.get(index)
        assert item is not None, f"prompt {index} vanished from its source"
        slots: list[tuple[_Writer, int, Request]] = []
        for writer in self.writers:
            for k, request in enumerate(self._requests(writer, item.messages, index)):
                slots.append((writer, k, request))
        answers: list[Response | TeacherError | None] = [response]
        answers += await asyncio.gather(*(self._ask(job, w, r) for w, _k, r in slots[1:]))
        candidates, failures = self._candidates(slots, answers)
        self.counts["prompts"] += 1
        self.counts["candidates"] += len(candidates)
        self.counts["candidate_failures"] += len(failures)
        prompt = Prompt(messages=item.messages, meta=item.meta, prompt_id=prompt_id(item.messages))
        texts = [str(c["text"]) for c in candidates]
        results = await asyncio.gather(*(s.score(prompt, texts) for s in self.scorers))
        comparisons = self._apply(candidates, results)
        record = self._record(job, item, candidates, failures, comparisons)
        return self._decide(record)

    async def _ask(self, job: Job, writer: _Writer, request: Request) -> Response | TeacherError:
        teacher = self.teachers[writer.route]
        try:
            response = await teacher.complete(request)
        except (ConfigError, CircuitOpenError):
            raise  # every later request would fail the same way: stop, resume later
        except TeacherError as error:
            return error
        if log.isEnabledFor(logging.DEBUG):  # the runner's line, for the candidates it did not send
            key = teacher.key(request)
            log.debug("answer job=%s key=%s cached=%d", job.key, key, int(response.cached))
        return response

    def _candidates(
        self, slots: list[tuple[_Writer, int, Request]], answers: list[Any]
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        candidates: list[dict[str, Any]] = []
        failures: list[dict[str, Any]] = []
        for (writer, _k, request), answer in zip(slots, answers, strict=True):
            if isinstance(answer, TeacherError):
                failures.append(
                    {
                        "teacher": writer.name,
                        "sample": request.sample,
                        "reason": answer.reason,
                        "message": str(answer)[:300],
                    }
                )
                continue
            for choice, text in enumerate(answer.texts[: writer.n if writer.native else 1]):
                finish = (
                    answer.finish_reasons[choice] if choice < len(answer.finish_reasons) else ""
                )
                candidates.append(
                    {
                        "text": text,
                        "teacher": writer.name,
                        "model": answer.model,
                        "finish_reason": finish or "stop",
                        "sample": request.sample,
                        "choice": choice,
                        "length": len(text.strip()),
                        "scores": {},
                        "verdicts": {},
                    }
                )
        return candidates, failures

    def _apply(
        self, candidates: list[dict[str, Any]], results: list[Scores]
    ) -> dict[str, list[dict[str, Any]]]:
        comparisons: dict[str, list[dict[str, Any]]] = {}
        for scorer, scores in zip(self.scorers, results, strict=True):
            for candidate, value, detail in zip(
                candidates, scores.values, scores.details, strict=True
            ):
                candidate["scores"][scorer.name] = value
                if detail:
                    candidate["verdicts"][scorer.name] = detail
            if scores.comparisons is not None:
                comparisons[scorer.name] = scores.comparisons
        return comparisons

    def _record(
        self,
        job: Job,
        item: PromptItem,
        candidates: list[dict[str, Any]],
        failures: list[dict[str, Any]],
        comparisons: dict[str, list[dict[str, Any]]],
    ) -> Record:
        meta = self.ctx.provenance()
        meta.update(item.meta)
        meta.update(
            job=job.key,
            prompt_id=job.context["prompt_id"],
            prompt_source=item.origin,
            candidates=candidates,
            scorers=[{"name": s.name, "kind": s.kind} for s in self.scorers],
            created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        )
        if item.axes:
            meta["axes"] = item.axes
        if self.source.template_hash is not None:
            meta["template_hash"] = self.source.template_hash
        if comparisons:
            meta["comparisons"] = comparisons
        if failures:
            meta["failures"] = failures
        texts = [c["text"] for c in candidates]
        ident = content_hash({"messages": item.messages, "candidates": texts}, prefix="p1-")
        return Record(messages=list(item.messages), meta=meta, id=ident)

    def _decide(self, record: Record) -> Outcome:
        built, report = build_pairs([record], _STORED)
        if built.records:
            pair = built.records[0]
            record.chosen, record.rejected = pair.chosen, pair.rejected
            record.id = record.compute_id()
            self.counts["prompts_kept"] += 1
            return Outcome(candidates=[record])
        reason = next(iter(report["skipped_prompts"]), "no_valid_pair")
        if self.spec.keep_uninformative:
            self.counts["kept_uninformative"] += 1
            return Outcome(candidates=[record])
        self.counts[f"rejected:{reason}"] += 1
        detail = {"excluded_candidates": report["excluded_candidates"]}
        return Outcome(rejected=[Rejection(record, FILTER, reason, detail)])

    def stats(self) -> dict[str, Any]:
        out: dict[str, Any] = {k: v for k, v in sorted(self.counts.items())}
        prompts = self.counts["prompts"]
        if prompts:
            out["candidates_per_prompt"] = round(self.counts["candidates"] / prompts, 3)
        out["writers"] = [
            {"name": w.name, "n": w.n, "native_n": w.native, "teacher": w.route}
            for w in self.writers
        ]
        scorers = {s.name: s.stats() for s in self.scorers if s.stats()}
        if scorers:
            out["scorers"] = scorers
        return out

    async def aclose(self) -> None:
        for scorer in self.scorers:
            await scorer.aclose()


def _native(caps: Capabilities, n: int) -> bool:
    return caps.n and n > 1
