"""Alpaca (Taori et al., 2023): whole instruction/input/output triples in one request.

Each prompt shows 3 seed tasks (sampled from the seeds only, never from generated ones) as a
numbered ``###``-separated list and asks the teacher to continue it up to item 19. Each triple
passes the Self-Instruct rules with Alpaca's longer blacklist and the ROUGE-L novelty check against
the seeds and every instruction kept so far, which it joins at once. Kept triples are candidate
Records: user turn = instruction (plus the input), assistant turn = output.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from teachkit.errors import DataError, TeacherError
from teachkit.generators.base import GeneratorContext, Job, Outcome, RestoreState
from teachkit.generators.instruct.base import (
    ALPACA_BLACKLIST,
    InstructionGenerator,
    InstructionSpecBase,
    instruction_record,
)
from teachkit.generators.instruct.parse import parse_triples
from teachkit.generators.instruct.prompts import alpaca_list_prompt, make_request
from teachkit.records import Record, Rejection, content_hash
from teachkit.teachers.backend import Response

__all__ = ["AlpacaGenerator", "AlpacaSpec"]


class AlpacaSpec(InstructionSpecBase):
    """``generator: {kind: alpaca, ...}``; defaults are those of the Alpaca data generation.
    The seed tasks need at least one instance each (the first instance is shown)."""

    kind: Literal["alpaca"] = "alpaca"
    prompt_instructions: int = Field(default=3, ge=1, le=20)
    stop_item: int = Field(default=20, ge=3)
    temperature: float = Field(default=1.0, ge=0.0, le=2.0)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    max_tokens: int = Field(default=3072, ge=16)
    blacklist: list[str] = Field(default_factory=lambda: list(ALPACA_BLACKLIST))

    def build(self, ctx: GeneratorContext) -> AlpacaGenerator:
        return AlpacaGenerator(self, ctx)


class AlpacaGenerator(InstructionGenerator):
    kind = "alpaca"
    spec: AlpacaSpec

    def __init__(self, spec: AlpacaSpec, ctx: GeneratorContext) -> None:
        super().__init__(spec, ctx)
        for seed in self.seeds:
            if not seed.instances:
                raise DataError(
                    f"The seed task {seed.id!r} in {spec.seeds} has no instance: Alpaca prompts "
                    "show an input and an output for every seed. Add an 'output' (or "
                    "'instances') to it."
                )

    def _prompt_job(self, index: int) -> Job:
        spec = self.spec
        rng = self.ctx.rng("alpaca", "prompt", index)
        chosen = rng.sample(self.seeds, min(spec.prompt_instructions, len(self.seeds)))
        examples = [(seed.instruction, *seed.instances[0]) for seed in chosen]
        prompt = alpaca_list_prompt(examples, spec.stop_item)
        stop = [f"\n{spec.stop_item}", f"{spec.stop_item}."]
        options = {
            "temperature": spec.temperature,
            "top_p": spec.top_p,
            "max_tokens": spec.max_tokens,
            "stop": stop,
        }
        return Job(
            key=f"alpaca:prompt:{index:06d}",
            stage="prompt",
            request=make_request(self.mode, prompt, options, self.ctx.sampling),
            context={"parents": [seed.id for seed in chosen], "first": len(chosen) + 1},
        )

    def on_response(self, job: Job, response: Response) -> Outcome:
        self._pending_prompts = max(0, self._pending_prompts - 1)
        self.stats_.prompts += 1
        parents = list(job.context.get("parents") or [])
        first = int(job.context.get("first") or self.spec.prompt_instructions + 1)
        outcome = Outcome()
        items = parse_triples(response.text, first, response.finish_reason == "length")
        for triple, reason, raw in items:
            if triple is None:
                self.stats_.dropped[reason] += 1
                record = Record(
                    messages=[{"role": "user", "content": raw}],
                    meta=self._meta(job, parents=parents),
                )
                outcome.rejected.append(Rejection(record, "alpaca", reason))
                continue
            instruction, given, answer = triple
            self.stats_.parsed += 1
            meta = self._meta(job, instruction=instruction, input=given, parents=parents)
            record = instruction_record(instruction, given, answer, meta)
            verdict = self._check(instruction, answer)
            if verdict is not None:
                self.stats_.dropped[verdict[1]] += 1
                outcome.rejected.append(Rejection(record, *verdict))
                continue
            novelty = self.pool.judge(instruction)
            if not novelty.kept:
                self.stats_.dropped["too_similar"] += 1
                detail = {"rouge_l": novelty.rouge_max, "most_similar": novelty.most_similar}
                outcome.rejected.append(Rejection(record, "rouge_l", "too_similar", detail))
                continue
            meta.update(
                pool_index=len(self.pool.machine),
                task="task-" + content_hash(instruction, length=12),
                rouge_max=novelty.rouge_max,
                rouge_max_seed=novelty.rouge_max_seed,
            )
            self.pool.add(instruction, novelty.rouge_max_seed)
            outcome.candidates.append(instruction_record(instruction, given, answer, meta))
        return outcome

    def _check(self, instruction: str, answer: str) -> tuple[str, str, dict[str, Any]] | None:
        """None to go on, else (filter, reason, detail)."""
        rule = self.rules.check(instruction) if instruction else ("too_short", {"words": 0})
        if rule is not None:
            return "instruction_rules", rule[0], rule[1]
        if not answer:
            return "alpaca", "empty_output", {}
        return None

    def on_failure(self, job: Job, error: TeacherError) -> Outcome:
        self._pending_prompts = max(0, self._pending_prompts - 1)
        return super().on_failure(job, error)

    def restore(self, state: RestoreState) -> None:
        """The pool is the seeds plus every instruction that passed the novelty check, which
        went on as a candidate and so is now among the accepted or the rejected records."""
        for job in state.jobs:
            if job.stage == "prompt":
                self._next_prompt = max(self._next_prompt, int(job.key.rsplit(":", 1)[1]) + 1)
                self.stats_.prompts += 1
        ours = [r for r in state.rejected if r.record.meta.get("generator") == self.kind]
        for rejection in ours:
            if rejection.filter in ("alpaca", "instruction_rules", "rouge_l"):
                self.stats_.dropped[rejection.reason] += 1
        members: dict[int, Record] = {}
        for record in [*state.accepted, *(r.record for r in ours)]:
            index = record.meta.get("pool_index")
            if isinstance(index, int) and record.meta.get("generator") == self.kind:
                members.setdefault(index, record)
        for index in sorted(members):
            meta = members[index].meta
            self.pool.add(str(meta["instruction"]), meta.get("rouge_max_seed"))
        self.stats_.parsed = len(self.pool.machine) + sum(
            r.filter in ("instruction_rules", "rouge_l") or r.reason == "empty_output" for r in ours
        )
        for record in state.accepted:
            self.on_accepted(record)

    def stats(self) -> dict[str, Any]:
        return self.stats_.as_dict(self.pool, classify=False)
