"""Magpie (Xu et al., ICLR 2025): an aligned model writes the requests itself.

Given only the *pre-query template*, the part of its chat template before a user's words, an
aligned model continues with a plausible user request. Each conversation takes two jobs per
turn:

1. ``instruction``: the pre-query template as a raw completion (temperature 1.0, top_p 1.0,
   stop at the template's end-of-turn tokens and, by default, at a newline), then the
   sanitiser (:mod:`teachkit.generators.magpie_sanitize`), which drops a request with its reason;
2. ``response``: the cleaned request through the ordinary chat path (temperature 0).

With ``turns: N`` the conversation so far, rendered by the same template and followed by its
assistant-end and user-start tokens, asks for the next request. The pre-query template comes from
the teacher's own chat template (the embedded backend reads it from the GGUF file), from the
recipe (``chat_template``: a tokenizer's template string), from a known family (``template:
chatml | llama3 | mistral | gemma | phi3 | qwen``) or verbatim (``pre_query``); see
:mod:`teachkit.generators.magpie_template`.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Literal

from pydantic import Field, model_validator

from teachkit.errors import RecipeError, TeacherError
from teachkit.generators.base import (
    Generator,
    GeneratorContext,
    Job,
    Outcome,
    RestoreState,
    failure_record,
)
from teachkit.generators.magpie_sanitize import sanitize
from teachkit.generators.magpie_template import FAMILIES, ConversationTemplate, special_tokens
from teachkit.recipe.base import StrictModel
from teachkit.recipe.kinds import GeneratorSpecBase
from teachkit.records import Message, Record, Rejection
from teachkit.teachers.backend import ChatTemplate, Request, Response

__all__ = ["MT_SYSTEM_PROMPT", "MagpieGenerator", "MagpieResponse", "MagpieSpec"]

#: the system prompt Magpie puts before a conversation when it asks for a follow-up request
MT_SYSTEM_PROMPT = (
    "You are a helpful AI assistant. The user will engage in a multi-round conversation with "
    "you, asking initial questions and following up with additional related questions. Your "
    "goal is to provide thorough, relevant and insightful responses to help the user with their "
    "queries."
)


class MagpieResponse(StrictModel):
    """Sampling of the response stage (Magpie: greedy)."""

    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    max_tokens: int = Field(default=1024, ge=1)
    #: drop a conversation whose response hit max_tokens (``truncated_response``)
    drop_truncated: bool = True


class MagpieSpec(GeneratorSpecBase):
    """``generator: {kind: magpie, count: 100}``; defaults are those of the Magpie scripts."""

    kind: Literal["magpie"] = "magpie"
    #: where the chat template comes from: ``auto`` (the teacher's own) or a family's layout
    template: Literal["auto", "chatml", "llama3", "mistral", "gemma", "phi3", "qwen"] = "auto"
    #: the model's chat template (Jinja2, as in its tokenizer config), for servers that do not
    #: expose it; with its special tokens
    chat_template: str | None = Field(default=None, min_length=1)
    bos_token: str = ""
    eos_token: str = ""
    #: the exact pre-query template, used as is (the template still gives stops and follow-ups)
    pre_query: str | None = Field(default=None, min_length=1)
    #: a system turn rendered into the pre-query template (and kept in the records)
    system_prompt: str | None = Field(default=None, min_length=1)
    #: stop sequences of the instruction stage (default: the template's end-of-turn tokens)
    stop: list[str] | None = None
    #: also stop the instruction at its first newline (Magpie's early stopping)
    stop_at_newline: bool = True
    temperature: float = Field(default=1.0, ge=0.0, le=2.0)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    max_tokens: int = Field(default=512, ge=1)
    response: MagpieResponse = Field(default_factory=MagpieResponse)
    #: user turns per conversation
    turns: int = Field(default=1, ge=1, le=16)
    #: the system turn before a conversation when asking for its next request (None: none)
    mt_system_prompt: str | None = MT_SYSTEM_PROMPT
    #: clean requests (role words, labels, template tokens, answers); off: strip only
    sanitize: bool = True
    min_words: int | None = Field(default=1, ge=1)
    max_words: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _one_source(self) -> MagpieSpec:
        if self.chat_template is not None and self.template != "auto":
            raise ValueError(
                "give either template (a family name) or chat_template (a template string), "
                "not both"
            )
        if (self.bos_token or self.eos_token) and self.chat_template is None:
            raise ValueError("bos_token and eos_token go with chat_template; add it or remove them")
        if self.min_words and self.max_words and self.min_words > self.max_words:
            raise ValueError("min_words cannot exceed max_words")
        return self

    def build(self, ctx: GeneratorContext) -> MagpieGenerator:
        return MagpieGenerator(self, ctx)


def resolve_template(spec: MagpieSpec, teacher: ChatTemplate | None) -> ConversationTemplate | None:
    """The chat template a run renders its prompts with (None: ``pre_query`` and ``stop`` only)."""
    if spec.chat_template is not None:
        source = ChatTemplate(spec.chat_template, spec.bos_token, spec.eos_token)
        return ConversationTemplate(source, "recipe")
    if spec.template != "auto":
        return ConversationTemplate(FAMILIES[spec.template], f"family:{spec.template}")
    if teacher is not None:
        return ConversationTemplate(teacher, "teacher")
    if spec.pre_query is not None and spec.stop is not None and spec.turns == 1:
        return None
    families = ", ".join(FAMILIES)
    raise RecipeError(
        "generator.template is 'auto', but the teacher backend does not expose its model's chat "
        f"template. Set generator.template to the model's family ({families}), or "
        "generator.chat_template to the chat_template string of its tokenizer config."
    )


class MagpieGenerator(Generator):
    kind = "magpie"
    spec: MagpieSpec

    def __init__(self, spec: MagpieSpec, ctx: GeneratorContext) -> None:
        super().__init__(spec, ctx)
        if not ctx.capabilities.completion:
            raise RecipeError(
                f"Magpie sends raw prompts (the pre-query template), but the {ctx.teacher_backend} "
                "backend only takes chat messages. Use a backend with raw completions: the "
                "embedded llamacpp one, or openai pointed at a server with /v1/completions "
                "(vLLM, SGLang, llama.cpp server)."
            )
        self.template = resolve_template(spec, ctx.chat_template)
        template = self.template
        system: list[Message] = []
        if spec.system_prompt is not None:
            system = [{"role": "system", "content": spec.system_prompt}]
        self.system = system
        if spec.pre_query is not None:
            self.pre_query = spec.pre_query
        else:
            assert template is not None
            self.pre_query = template.user_prefix(system)
        stop = list(spec.stop) if spec.stop is not None else []
        if spec.stop is None and template is not None:
            stop = template.stop_tokens()
        if spec.stop_at_newline and "\n" not in stop:
            stop.append("\n")
        self.stop = stop
        tokens = template.tokens() if template is not None else []
        self.tokens = list(dict.fromkeys([*tokens, *special_tokens(self.pre_query), *stop]))
        self.tokens = [t for t in self.tokens if t.strip()]
        self.origin = template.origin if template is not None else "pre_query"
        self.next_index = 0
        self.pending: set[int] = set()
        self.accepted = 0
        self.dropped: Counter[str] = Counter()
        self.steps: Counter[str] = Counter()
        self.counts: Counter[str] = Counter()

    # --- jobs -------------------------------------------------------------------------------
    def next_job(self) -> Job | None:
        if self.accepted + len(self.pending) >= self.count:
            return None
        index = self.next_index
        self.next_index += 1
        self.pending.add(index)
        return self._instruction_job(index, 1, [], [])

    def _instruction_job(
        self, index: int, turn: int, history: list[Message], raw: list[str]
    ) -> Job:
        spec = self.spec
        if turn == 1:
            prompt = self.pre_query
        else:
            assert self.template is not None  # turns > 1 always has a template
            mt: list[Message] = []
            if spec.mt_system_prompt is not None:
                mt = [{"role": "system", "content": spec.mt_system_prompt}]
            prompt = self.template.user_prefix([*mt, *history])
        options = self._options(
            temperature=spec.temperature,
            top_p=spec.top_p,
            max_tokens=spec.max_tokens,
            stop=list(self.stop),
        )
        return Job(
            key=f"magpie:{index:06d}:t{turn}:instruction",
            stage="instruction",
            # every conversation starts from the same prompt: ``sample`` makes each a new draw
            request=Request(prompt=prompt, options=options, sample=index),
            context={"index": index, "turn": turn, "history": history, "raw": raw},
        )

    def _options(self, **own: Any) -> dict[str, Any]:
        """The stage's own settings over the recipe's sampling (seed, penalties); one draw each."""
        merged = {k: v for k, v in self.ctx.sampling.items() if k not in ("n", "stop")}
        merged.update(own)
        return merged

    def _response_job(self, job: Job, instruction: str, raw: str, steps: list[str]) -> Job:
        context = job.context
        history = [*context["history"], {"role": "user", "content": instruction}]
        options = self._options(**self.spec.response.model_dump(exclude={"drop_truncated"}))
        return Job(
            key=f"magpie:{context['index']:06d}:t{context['turn']}:response",
            stage="response",
            request=Request(messages=[*self.system, *history], options=options),
            context={**context, "history": history, "raw": [*context["raw"], raw], "steps": steps},
        )

    # --- answers ----------------------------------------------------------------------------
    def on_response(self, job: Job, response: Response) -> Outcome:
        if job.stage == "instruction":
            return self._on_instruction(job, response)
        return self._on_answer(job, response)

    def _on_instruction(self, job: Job, response: Response) -> Outcome:
        self.counts["instructions"] += 1
        spec = self.spec
        raw = response.text
        clean = sanitize(
            raw,
            finish_reason=response.finish_reason,
            tokens=self.tokens,
            min_words=spec.min_words,
            max_words=spec.max_words,
            clean=spec.sanitize,
        )
        self.steps.update(clean.steps)
        if clean.reason is not None:
            return self._drop(job, clean.reason, [{"role": "user", "content": raw}], clean.detail)
        return Outcome(jobs=[self._response_job(job, clean.text, raw, clean.steps)])

    def _on_answer(self, job: Job, response: Response) -> Outcome:
        self.counts["responses"] += 1
        context = job.context
        answer = response.text.strip()
        history: list[Message] = [*context["history"], {"role": "assistant", "content": answer}]
        truncated = response.finish_reason == "length" and self.spec.response.drop_truncated
        if truncated or not answer:
            reason = "truncated_response" if answer else "empty_response"
            return self._drop(job, reason, history, {"turn": context["turn"]})
        turn = int(context["turn"])
        if turn < self.spec.turns:
            follow = self._instruction_job(int(context["index"]), turn + 1, history, context["raw"])
            return Outcome(jobs=[follow])
        self.pending.discard(int(context["index"]))
        self.counts["conversations"] += 1
        return Outcome(candidates=[Record([*self.system, *history], self._meta(job))])

    def _drop(
        self, job: Job, reason: str, messages: list[Message], detail: dict[str, Any]
    ) -> Outcome:
        self.pending.discard(int(job.context["index"]))
        self.dropped[reason] += 1
        record = Record([*self.system, *job.context["history"], *messages], self._meta(job))
        return Outcome(rejected=[Rejection(record, "magpie", reason, detail)])

    def _meta(self, job: Job) -> dict[str, Any]:
        context = job.context
        meta = self.ctx.provenance()
        meta.update(
            generator=self.kind,
            job=job.key,
            stage=job.stage,
            conversation=int(context["index"]),
            turns=int(context["turn"]),
            template=self.origin,
            pre_query=self.pre_query,
            raw_instructions=list(context["raw"]),
            sanitize=list(context.get("steps") or []),
        )
        return meta

    # --- bookkeeping ------------------------------------------------------------------------
    def on_failure(self, job: Job, error: TeacherError) -> Outcome:
        self.pending.discard(int(job.context["index"]))
        record = failure_record(job, self.ctx)
        record.meta.update(generator=self.kind, conversation=int(job.context["index"]))
        message = {"message": str(error)}
        return Outcome(rejected=[Rejection(record, "teacher", error.reason, message)])

    def on_accepted(self, record: Record) -> None:
        self.accepted += 1

    def restore(self, state: RestoreState) -> None:
        """Conversations continue where they were: a conversation is over once one of its
        records was committed; the others are still in flight (their jobs are re-sent)."""
        started = {int(job.context["index"]) for job in state.jobs if "index" in job.context}
        self.next_index = max(started, default=-1) + 1
        finished: set[int] = set()
        for record in [*state.accepted, *(r.record for r in state.rejected)]:
            if record.meta.get("generator") == self.kind:
                finished.add(int(record.meta["conversation"]))
        for rejection in state.rejected:
            if rejection.filter == "magpie":
                self.dropped[rejection.reason] += 1
        self.pending = started - finished
        self.accepted = len(state.accepted)
        candidates = [*state.accepted]
        candidates += [r.record for r in state.rejected if r.filter not in ("magpie", "teacher")]
        self.counts["conversations"] = sum(r.meta.get("generator") == self.kind for r in candidates)

    def stats(self) -> dict[str, Any]:
        return {
            "template": self.origin,
            "pre_query": self.pre_query,
            "stop": self.stop,
            **dict(self.counts),
            "dropped": dict(sorted(self.dropped.items())),
            "sanitized": dict(sorted(self.steps.items())),
        }
