"""Evol-Instruct (WizardLM, Xu et al., 2023): evolve seed instructions, round after round.

Each seed instruction starts a lineage. In every round the lineage's current instruction is
evolved with one operation, picked uniformly with a random generator seeded by the run seed,
the lineage and the round (in-depth: add constraints, deepen, concretize, increase reasoning,
complicate input; in-breadth: a new, rarer instruction of the same domain). Three jobs per round:

1. ``evolve``: the evolving prompt; the answer is the evolved instruction (rule 4: it must not
   copy the prompt's words);
2. ``equal``: the paper's equality question, original against evolved (rule 1: "Equal" means no
   information gain);
3. ``answer``: the evolved instruction through the ordinary chat path (rules 2 and 3).

A surviving evolution is a candidate record (user: the evolved instruction, assistant: the
answer) and the lineage's instruction for the next round; an eliminated one is kept in
rejected/ with its reason, and the lineage's instruction goes back unchanged, to be evolved
again next round, as in the paper. Every record carries its chain in ``meta.evolution``
(``[{round, operation, instruction}]``: the evolutions that survived, so a round that failed
leaves no step) and ``meta.depth`` (the round). Job keys
are ``evol:<lineage>:r<round>:<operation>:<stage>``: follow-up jobs are journalled with their
parent's commit, so a killed run resumes with nothing lost or paid twice.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Literal

from pydantic import Field

from teachkit.errors import RecipeError, TeacherError
from teachkit.formats.seeds import SHIPPED_SEEDS
from teachkit.generators.base import (
    Generator,
    GeneratorContext,
    Job,
    Outcome,
    RestoreState,
    failure_record,
)
from teachkit.generators.instruct.evol_prompts import (
    EQUAL_PROMPT,
    OPERATIONS,
    Operation,
    copied_phrase,
    equality_verdict,
    evolve_prompt,
    hard_to_answer,
    only_stop_words,
)
from teachkit.generators.instruct.evol_seeds import EvolSeed, RunSeeds, load_evol_seeds
from teachkit.recipe.kinds import GeneratorSpecBase
from teachkit.records import Message, Record, Rejection
from teachkit.teachers.backend import Request, Response

__all__ = ["EvolInstructGenerator", "EvolInstructSpec"]

_STAGES = ("evolve", "equal", "answer")


class EvolInstructSpec(GeneratorSpecBase):
    """``generator: {kind: evol_instruct, count: 100, rounds: 4}``; defaults follow the paper and
    the public implementation."""

    kind: Literal["evol_instruct"] = "evol_instruct"
    #: a JSONL seed file (as for Self-Instruct), or ``{run: DIR}``: another run's accepted records
    seeds: str | RunSeeds = SHIPPED_SEEDS
    #: evolutions per lineage (the paper's M = 4)
    rounds: int = Field(default=4, ge=1, le=50)
    #: operations to pick from, uniformly (list one twice to weight it)
    operations: list[Operation] = Field(default_factory=lambda: list(OPERATIONS), min_length=1)
    #: system turn of every request (the original's)
    system_prompt: str | None = "You are a helpful assistant."
    temperature: float = Field(default=1.0, ge=0.0, le=2.0)
    top_p: float = Field(default=0.95, gt=0.0, le=1.0)
    max_tokens: int = Field(default=2048, ge=16)
    #: sampling of the answer stage (default: the same as the evolving requests)
    answer_temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    answer_max_tokens: int | None = Field(default=None, ge=16)
    #: rule 1: ask the teacher whether the evolution is equal to the original
    judge_equality: bool = True
    #: rule 2: an answer with "sorry" below this many words is eliminated
    sorry_max_words: int = Field(default=80, ge=1)

    def build(self, ctx: GeneratorContext) -> EvolInstructGenerator:
        return EvolInstructGenerator(self, ctx)


class EvolInstructGenerator(Generator):
    kind = "evol_instruct"
    spec: EvolInstructSpec

    def __init__(self, spec: EvolInstructSpec, ctx: GeneratorContext) -> None:
        super().__init__(spec, ctx)
        if not ctx.capabilities.chat:
            raise RecipeError(
                "Evol-Instruct asks in chat turns, but the teacher backend only takes raw "
                "prompts. Use a chat backend (llamacpp, openai, anthropic)."
            )
        self.seeds: list[EvolSeed] = load_evol_seeds(spec.seeds, ctx.base_dir)
        self.next_seed = 0
        #: lineage -> the last round it may still reach
        self.active: dict[int, int] = {}
        self.accepted = 0
        self.tried: Counter[str] = Counter()
        self.survived: Counter[str] = Counter()
        self.eliminated: Counter[str] = Counter()
        self.per_round: Counter[int] = Counter()

    # --- jobs -------------------------------------------------------------------------------
    def _potential(self) -> int:
        """Records the lineages in flight may still give (one per remaining round)."""
        return sum(self.active.values())

    def next_job(self) -> Job | None:
        if self.accepted + self._potential() >= self.count or self.next_seed >= len(self.seeds):
            return None
        lineage = self.next_seed
        self.next_seed += 1
        seed = self.seeds[lineage]
        first = int(seed.chain[-1].get("round", len(seed.chain))) + 1 if seed.chain else 1
        self.active[lineage] = self.spec.rounds
        context = {
            "lineage": lineage,
            "seed": seed.id,
            "seed_instruction": seed.instruction,
            "round": first,
            "last_round": first + self.spec.rounds - 1,
            "instruction": seed.instruction,
            "chain": list(seed.chain),
        }
        return self._evolve_job(context)

    def _messages(self, user: str) -> list[Message]:
        system = self.spec.system_prompt
        head: list[Message] = [{"role": "system", "content": system}] if system else []
        return [*head, {"role": "user", "content": user}]

    def _options(self, **own: Any) -> dict[str, Any]:
        merged = {k: v for k, v in self.ctx.sampling.items() if k not in ("n", "stop")}
        merged.update({k: v for k, v in own.items() if v is not None})
        return merged

    def _key(self, context: dict[str, Any], stage: str) -> str:
        return f"evol:{context['lineage']:06d}:r{context['round']}:{context['operation']}:{stage}"

    def _evolve_job(self, context: dict[str, Any]) -> Job:
        spec = self.spec
        rng = self.ctx.rng("evol", context["lineage"], context["round"])
        context = {**context, "operation": rng.choice(spec.operations)}
        self.tried[context["operation"]] += 1
        prompt = evolve_prompt(context["operation"], context["instruction"])
        options = self._options(
            temperature=spec.temperature, top_p=spec.top_p, max_tokens=spec.max_tokens
        )
        # an instruction evolved again after a failure (or twice in a seed file) gets a new draw
        sample = int(context["lineage"]) * 1000 + int(context["round"])
        request = Request(messages=self._messages(prompt), options=options, sample=sample)
        return Job(self._key(context, "evolve"), "evolve", request, context)

    def _equal_job(self, context: dict[str, Any]) -> Job:
        prompt = EQUAL_PROMPT.format(first=context["instruction"], second=context["evolved"])
        options = self._options(temperature=0.0, max_tokens=16)
        request = Request(messages=self._messages(prompt), options=options)
        return Job(self._key(context, "equal"), "equal", request, context)

    def _answer_job(self, context: dict[str, Any]) -> Job:
        spec = self.spec
        options = self._options(
            temperature=spec.answer_temperature
            if spec.answer_temperature is not None
            else spec.temperature,
            top_p=spec.top_p,
            max_tokens=spec.answer_max_tokens or spec.max_tokens,
        )
        request = Request(messages=self._messages(context["evolved"]), options=options)
        return Job(self._key(context, "answer"), "answer", request, context)

    def _next_round(self, context: dict[str, Any], survived: bool) -> list[Job]:
        """The lineage's next evolve job (from the evolved instruction when it survived, from the
        same one otherwise), or none after its last round."""
        lineage = int(context["lineage"])
        if context["round"] >= context["last_round"]:
            self.active.pop(lineage, None)
            return []
        self.active[lineage] = int(context["last_round"]) - int(context["round"])
        following = {
            key: context[key]
            for key in ("lineage", "seed", "seed_instruction", "last_round", "instruction", "chain")
        }
        following["round"] = int(context["round"]) + 1
        if survived:
            following["instruction"] = context["evolved"]
            following["chain"] = self._chain(context)
        return [self._evolve_job(following)]

    # --- answers ----------------------------------------------------------------------------
    def on_response(self, job: Job, response: Response) -> Outcome:
        if job.stage == "evolve":
            return self._on_evolve(job, response)
        if job.stage == "equal":
            return self._on_equal(job, response)
        return self._on_answer(job, response)

    def _on_evolve(self, job: Job, response: Response) -> Outcome:
        context = job.context
        evolved = response.text.strip()
        if not evolved:
            return self._eliminate(job, "empty_evolution", "", {})
        if response.finish_reason == "length":
            return self._eliminate(job, "truncated_evolution", evolved, {})
        phrase = copied_phrase(evolved)
        if phrase is not None:
            return self._eliminate(job, "copied_prompt_words", evolved, {"phrase": phrase})
        following = {**context, "evolved": evolved}
        if self.spec.judge_equality:
            return Outcome(jobs=[self._equal_job(following)])
        return Outcome(jobs=[self._answer_job(following)])

    def _on_equal(self, job: Job, response: Response) -> Outcome:
        verdict = equality_verdict(response.text)
        if verdict is not False:  # "Equal", or no "Not Equal" said: no information gain shown
            detail = {"judgement": response.text.strip()[:200], "readable": verdict is not None}
            return self._eliminate(job, "no_information_gain", job.context["evolved"], detail)
        return Outcome(jobs=[self._answer_job(job.context)])

    def _on_answer(self, job: Job, response: Response) -> Outcome:
        context = job.context
        answer = response.text.strip()
        evolved = context["evolved"]
        if hard_to_answer(answer, self.spec.sorry_max_words):
            words = len(answer.split())
            return self._eliminate(job, "hard_to_answer", evolved, {"words": words}, answer)
        if only_stop_words(answer):
            return self._eliminate(job, "answer_only_stopwords", evolved, {}, answer)
        if response.finish_reason == "length":
            return self._eliminate(job, "truncated_answer", evolved, {}, answer)
        self.survived[context["operation"]] += 1
        self.per_round[int(context["round"])] += 1
        record = self._record(job, evolved, answer, self._chain(context))
        return Outcome(candidates=[record], jobs=self._next_round(context, survived=True))

    def _eliminate(
        self,
        job: Job,
        reason: str,
        evolved: str,
        detail: dict[str, Any],
        answer: str | None = None,
    ) -> Outcome:
        self.eliminated[reason] += 1
        context = job.context
        chain = [*context["chain"], self._step(context, evolved)]
        record = self._record(job, evolved, answer, chain)
        detail = {"round": context["round"], "operation": context["operation"], **detail}
        rejection = Rejection(record, "evol_instruct", reason, detail)
        return Outcome(rejected=[rejection], jobs=self._next_round(context, survived=False))

    @staticmethod
    def _step(context: dict[str, Any], evolved: str) -> dict[str, Any]:
        operation = context["operation"]
        return {"round": context["round"], "operation": operation, "instruction": evolved}

    def _chain(self, context: dict[str, Any]) -> list[dict[str, Any]]:
        return [*context["chain"], self._step(context, context["evolved"])]

    def _record(
        self, job: Job, evolved: str, answer: str | None, chain: list[dict[str, Any]]
    ) -> Record:
        context = job.context
        messages: list[Message] = [{"role": "user", "content": evolved}]
        if answer is not None:
            messages.append({"role": "assistant", "content": answer})
        meta = self.ctx.provenance()
        operation = context["operation"]
        meta.update(
            generator=self.kind,
            job=job.key,
            stage=job.stage,
            lineage=int(context["lineage"]),
            seed=context["seed"],
            seed_instruction=context["seed_instruction"],
            parent_instruction=context["instruction"],
            round=int(context["round"]),
            operation=operation,
            evolving="in-breadth" if operation == "breadth" else "in-depth",
            evolution=chain,
            depth=self.ctx.generation_depth + int(context["round"]),
        )
        return Record(messages=messages, meta=meta)

    # --- bookkeeping ------------------------------------------------------------------------
    def on_failure(self, job: Job, error: TeacherError) -> Outcome:
        self.active.pop(int(job.context["lineage"]), None)
        record = failure_record(job, self.ctx)
        record.meta.update(generator=self.kind, lineage=int(job.context["lineage"]))
        message = {"message": str(error)}
        return Outcome(rejected=[Rejection(record, "teacher", error.reason, message)])

    def on_accepted(self, record: Record) -> None:
        self.accepted += 1

    def restore(self, state: RestoreState) -> None:
        """A lineage is over once its latest job committed a record with no follow-up (every
        outcome that ends a lineage holds a record); the others go on from their pending job."""
        latest: dict[int, Job] = {}
        for job in state.jobs:
            if "lineage" not in job.context:
                continue
            lineage = int(job.context["lineage"])
            self.next_seed = max(self.next_seed, lineage + 1)
            if job.stage == "evolve":
                self.tried[str(job.context["operation"])] += 1
            order = (int(job.context["round"]), _STAGES.index(job.stage))
            current = latest.get(lineage)
            if current is None or order >= (
                int(current.context["round"]),
                _STAGES.index(current.stage),
            ):
                latest[lineage] = job
        ours = [r for r in state.rejected if r.record.meta.get("generator") == self.kind]
        done_jobs = {r.meta.get("job") for r in state.accepted}
        done_jobs |= {r.record.meta.get("job") for r in state.rejected}
        for lineage, job in latest.items():
            if job.key not in done_jobs:  # still pending: the runner sends it again
                left = int(job.context["last_round"]) - int(job.context["round"]) + 1
                self.active[lineage] = left
        for rejection in ours:
            if rejection.filter == "evol_instruct":
                self.eliminated[rejection.reason] += 1
        for record in state.accepted:
            if record.meta.get("generator") == self.kind:
                self.survived[str(record.meta.get("operation"))] += 1
                self.per_round[int(record.meta.get("round") or 0)] += 1
        self.accepted = len(state.accepted)

    def stats(self) -> dict[str, Any]:
        return {
            "seeds": len(self.seeds),
            "lineages_started": self.next_seed,
            "evolutions": dict(sorted(self.tried.items())),
            "survived": dict(sorted(self.survived.items())),
            "eliminated": dict(sorted(self.eliminated.items())),
            "accepted_per_round": {str(k): v for k, v in sorted(self.per_round.items())},
        }
