"""Self-Instruct (Wang et al., 2023): grow a pool of instructions from a few seed tasks.

Three stages per instruction, each a teacher request:

1. ``prompt``: a numbered list of 8 instructions (6 seeds, 2 machine-made once there are any,
   shuffled) ending at the next number; the teacher continues the list. Each new instruction is
   cleaned, passes the rules (length, blacklist, "Write a program", first character) and the
   ROUGE-L novelty check against the whole pool, and joins the pool at once.
2. ``classify``: is it a classification task (a label from a fixed set)?
3. ``instances``: inputs and outputs for it, output first for classification tasks (so labels are
   balanced), input first otherwise; then the instance filters.

Every instance that survives becomes one candidate Record: the user turn is the instruction
(plus the input), the assistant turn is the output.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from teachkit.errors import TeacherError
from teachkit.generators.base import GeneratorContext, Job, Outcome, RestoreState
from teachkit.generators.instruct.base import (
    SELF_INSTRUCT_BLACKLIST,
    InstructionGenerator,
    InstructionSpecBase,
    instruction_record,
)
from teachkit.generators.instruct.parse import (
    filter_instances,
    normalize_whitespace,
    parse_classification_instances,
    parse_generation_instances,
    split_numbered_list,
)
from teachkit.generators.instruct.prompts import (
    classify_prompt,
    instances_prompt,
    make_request,
    task_list_prompt,
)
from teachkit.records import Record, Rejection, content_hash
from teachkit.teachers.backend import Response

__all__ = ["SelfInstructGenerator", "SelfInstructSpec"]


class SelfInstructSpec(InstructionSpecBase):
    """``generator: {kind: self_instruct, ...}``; defaults are those of the original method."""

    kind: Literal["self_instruct"] = "self_instruct"
    header: str = "Come up with a series of tasks:"
    prompt_instructions: int = Field(default=8, ge=1, le=50)
    machine_instructions: int = Field(default=2, ge=0)
    stop_item: int = Field(default=16, ge=3)
    temperature: float = Field(default=0.7, ge=0.0, le=2.0)
    top_p: float = Field(default=0.5, gt=0.0, le=1.0)
    presence_penalty: float = Field(default=2.0, ge=-2.0, le=2.0)
    max_tokens: int = Field(default=1024, ge=16)
    blacklist: list[str] = Field(default_factory=lambda: list(SELF_INSTRUCT_BLACKLIST))
    max_instances: int = Field(default=5, ge=1, le=50)
    instance_max_tokens: int = Field(default=350, ge=16)
    instance_presence_penalty: float = Field(default=1.5, ge=-2.0, le=2.0)

    @model_validator(mode="after")
    def _machine_fits(self) -> SelfInstructSpec:
        if self.machine_instructions > self.prompt_instructions:
            raise ValueError("machine_instructions cannot exceed prompt_instructions")
        return self

    def build(self, ctx: GeneratorContext) -> SelfInstructGenerator:
        return SelfInstructGenerator(self, ctx)


def _capitalize(text: str) -> str:
    return text[:1].upper() + text[1:]


class SelfInstructGenerator(InstructionGenerator):
    kind = "self_instruct"
    spec: SelfInstructSpec

    def __init__(self, spec: SelfInstructSpec, ctx: GeneratorContext) -> None:
        super().__init__(spec, ctx)
        self._machine_ids: list[str] = []
        self._keys: set[str] = set()
        self._pending_tasks = 0

    # --- stage 1: new instructions -----------------------------------------------------------
    def _in_flight(self) -> int:
        return self._pending_prompts + self._pending_tasks

    def _prompt_job(self, index: int) -> Job:
        spec = self.spec
        rng = self.ctx.rng("self_instruct", "prompt", index)
        machine = self.pool.machine
        chosen = [
            (machine[i], self._machine_ids[i])
            for i in rng.sample(range(len(machine)), min(spec.machine_instructions, len(machine)))
        ]
        n_seeds = min(spec.prompt_instructions - len(chosen), len(self.seeds))
        chosen += [
            (self.seeds[i].instruction, self.seeds[i].id)
            for i in rng.sample(range(len(self.seeds)), n_seeds)
        ]
        rng.shuffle(chosen)
        prompt = task_list_prompt(spec.header, [text for text, _ in chosen], spec.stop_item)
        stop = [f"\n{spec.stop_item}", f"{spec.stop_item}.", f"{spec.stop_item} ."]
        options = {
            "temperature": spec.temperature,
            "top_p": spec.top_p,
            "presence_penalty": spec.presence_penalty,
            "max_tokens": spec.max_tokens,
            "stop": ["\n\n", *stop] if self.mode == "completion" else stop,
        }
        return Job(
            key=f"si:prompt:{index:06d}",
            stage="prompt",
            request=make_request(self.mode, prompt, options, self.ctx.sampling),
            context={"parents": [parent for _, parent in chosen]},
        )

    def on_response(self, job: Job, response: Response) -> Outcome:
        if job.stage == "prompt":
            return self._on_prompt(job, response)
        if job.stage == "classify":
            return self._on_classify(job, response)
        return self._on_instances(job, response)

    def _on_prompt(self, job: Job, response: Response) -> Outcome:
        self._pending_prompts = max(0, self._pending_prompts - 1)
        self.stats_.prompts += 1
        outcome = Outcome()
        if response.finish_reason == "length":
            self.stats_.dropped["truncated_response"] += 1
            answer = {"role": "assistant", "content": response.text}
            record = Record(messages=[*self._prompt_turns(job), answer], meta=self._meta(job))
            outcome.rejected.append(Rejection(record, "self_instruct", "truncated_response"))
            return outcome
        parents = list(job.context.get("parents") or [])
        for raw in split_numbered_list(response.text, chat=self.mode == "chat"):
            instruction = _capitalize(normalize_whitespace(raw))
            if not instruction:
                continue
            self.stats_.parsed += 1
            meta = self._meta(job, instruction=instruction, parents=parents)
            record = Record(messages=[{"role": "user", "content": instruction}], meta=meta)
            rule = self.rules.check(instruction)
            if rule is not None:
                self.stats_.dropped[rule[0]] += 1
                outcome.rejected.append(Rejection(record, "instruction_rules", *rule))
                continue
            novelty = self.pool.judge(instruction)
            if not novelty.kept:
                self.stats_.dropped["too_similar"] += 1
                detail = {"rouge_l": novelty.rouge_max, "most_similar": novelty.most_similar}
                outcome.rejected.append(Rejection(record, "rouge_l", "too_similar", detail))
                continue
            context = {
                "instruction": instruction,
                "parents": parents,
                "rouge_max": novelty.rouge_max,
                "rouge_max_seed": novelty.rouge_max_seed,
            }
            outcome.jobs.append(self._admit(context))
        return outcome

    def _prompt_turns(self, job: Job) -> list[dict[str, str]]:
        request = job.request
        return list(request.messages or [{"role": "user", "content": request.prompt or ""}])

    def _admit(self, context: dict[str, Any]) -> Job:
        """Add a new instruction to the pool and return its classify job."""
        instruction = context["instruction"]
        digest = content_hash(instruction, length=12)
        suffix, n = digest, 1
        while f"si:classify:{suffix}" in self._keys:
            n += 1
            suffix = f"{digest}-{n}"
        key = f"si:classify:{suffix}"
        self._keys.add(key)
        self.pool.add(instruction, context["rouge_max_seed"])
        self._machine_ids.append(f"task-{suffix}")
        self._pending_tasks += 1
        context = {**context, "task": f"task-{suffix}", "suffix": suffix}
        return self._classify_job(key, context)

    # --- stage 2: classification task or not -------------------------------------------------
    def _classify_job(self, key: str, context: dict[str, Any]) -> Job:
        options = {
            "temperature": 0.0,
            "max_tokens": 3 if self.mode == "completion" else 8,
            "stop": ["\n", "Task"],
        }
        prompt = classify_prompt(context["instruction"])
        request = make_request(self.mode, prompt, options, self.ctx.sampling)
        return Job(key=key, stage="classify", request=request, context=context)

    def _on_classify(self, job: Job, response: Response) -> Outcome:
        words = response.text.strip().split()
        is_clf = bool(words) and words[0].strip(".,!:").lower() == "yes"
        self.stats_.classified += 1
        self.stats_.classification += is_clf
        context = {**job.context, "is_classification": is_clf}
        return Outcome(jobs=[self._instances_job(context)])

    # --- stage 3: instances ------------------------------------------------------------------
    def _instances_job(self, context: dict[str, Any]) -> Job:
        spec = self.spec
        prompt = instances_prompt(
            context["instruction"], bool(context["is_classification"]), spec.max_instances
        )
        stop = [f"Example {spec.max_instances + 1}"]
        options = {
            "temperature": 0.0,
            "presence_penalty": spec.instance_presence_penalty,
            "max_tokens": spec.instance_max_tokens,
            "stop": [*stop, "Task:"] if self.mode == "completion" else stop,
        }
        request = make_request(self.mode, prompt, options, self.ctx.sampling)
        key = f"si:instances:{context['suffix']}"
        return Job(key=key, stage="instances", request=request, context=context)

    def _on_instances(self, job: Job, response: Response) -> Outcome:
        self._pending_tasks = max(0, self._pending_tasks - 1)
        context = job.context
        instruction = context["instruction"]
        text = response.text
        if self.mode == "chat":  # a chat reply may echo the task line or start another task
            text = text.split("\nTask:")[0]
            if text.lstrip().startswith("Task:"):
                text = text.lstrip().partition("\n")[2]
        is_clf = bool(context["is_classification"])
        parse = parse_classification_instances if is_clf else parse_generation_instances
        pairs = parse(text)
        meta_base = {
            "instruction": instruction,
            "is_classification": is_clf,
            "parents": context.get("parents", []),
            "task": context["task"],
            "rouge_max": context.get("rouge_max"),
            "rouge_max_seed": context.get("rouge_max_seed"),
        }
        outcome = Outcome()
        if not pairs:
            self.stats_.dropped["no_instances"] += 1
            record = Record(
                messages=[
                    {"role": "user", "content": instruction},
                    {"role": "assistant", "content": response.text},
                ],
                meta=self._meta(job, **meta_base, input=""),
            )
            outcome.rejected.append(Rejection(record, "instances", "no_instances"))
            return outcome
        kept, dropped = filter_instances(
            pairs, response.finish_reason == "length", self.spec.max_instances
        )
        for (given, answer), reason in dropped:
            self.stats_.dropped[reason] += 1
            record = instruction_record(
                instruction, given, answer, self._meta(job, **meta_base, input=given)
            )
            outcome.rejected.append(Rejection(record, "instances", reason))
        for given, answer in kept:
            meta = self._meta(job, **meta_base, input=given)
            outcome.candidates.append(instruction_record(instruction, given, answer, meta))
        return outcome

    # --- bookkeeping -------------------------------------------------------------------------
    def on_failure(self, job: Job, error: TeacherError) -> Outcome:
        if job.stage == "prompt":
            self._pending_prompts = max(0, self._pending_prompts - 1)
        elif job.stage == "instances" or job.stage == "classify":
            self._pending_tasks = max(0, self._pending_tasks - 1)
        return super().on_failure(job, error)

    def restore(self, state: RestoreState) -> None:
        """The pool is the seeds plus the instruction of every classify job, in creation order."""
        for job in state.jobs:
            if job.stage == "prompt":
                self._next_prompt = max(self._next_prompt, int(job.key.rsplit(":", 1)[1]) + 1)
                self.stats_.prompts += 1
            elif job.stage == "classify" and job.key not in self._keys:
                self._keys.add(job.key)
                self.pool.add(job.context["instruction"], job.context.get("rouge_max_seed"))
                self._machine_ids.append(job.context["task"])
            elif job.stage == "instances":
                self.stats_.classified += 1
                self.stats_.classification += bool(job.context.get("is_classification"))
        ours = [r for r in state.rejected if r.record.meta.get("generator") == self.kind]
        for rejection in ours:
            if rejection.filter in ("self_instruct", "instruction_rules", "rouge_l", "instances"):
                self.stats_.dropped[rejection.reason] += 1
        self.stats_.parsed = len(self.pool.machine) + sum(
            r.filter in ("instruction_rules", "rouge_l") for r in ours
        )
        for record in state.accepted:
            self.on_accepted(record)

    def stats(self) -> dict[str, Any]:
        return self.stats_.as_dict(self.pool, classify=True)
