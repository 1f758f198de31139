"""A generator that asks the teacher a fixed list of questions, one job per question.

Each question may carry its expected answer, kept in ``meta["answer"]`` for a verifier::

    generator:
      kind: questions
      count: 3
      system: Answer in one short sentence.
      questions:
        - {question: What is the capital of France?, answer: Paris.}
        - {question: What is two plus two?, answer: "4"}
        - {question: Name a primary colour.}
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from teachkit.generators.base import Generator, GeneratorContext, Job, Outcome, RestoreState
from teachkit.recipe.base import StrictModel
from teachkit.recipe.kinds import GeneratorSpecBase
from teachkit.records import Message, Record, Rejection
from teachkit.teachers.backend import Request, Response


class Question(StrictModel):
    question: str = Field(min_length=1)
    #: the expected answer, if known
    answer: str | None = None


class QuestionsSpec(GeneratorSpecBase):
    kind: Literal["questions"] = "questions"
    questions: list[Question] = Field(min_length=1)
    #: system prompt sent with every question (and kept as the record's system turn)
    system: str | None = None

    @model_validator(mode="after")
    def _enough(self) -> QuestionsSpec:
        if self.count > len(self.questions):
            raise ValueError(f"count {self.count} is more than the {len(self.questions)} questions")
        return self

    def build(self, ctx: GeneratorContext) -> QuestionsGenerator:
        return QuestionsGenerator(self, ctx)


class QuestionsGenerator(Generator):
    kind = "questions"
    spec: QuestionsSpec

    def __init__(self, spec: QuestionsSpec, ctx: GeneratorContext) -> None:
        super().__init__(spec, ctx)
        self.next_index = 0

    def restore(self, state: RestoreState) -> None:
        self.next_index = max((job.context["index"] + 1 for job in state.jobs), default=0)

    def _messages(self, index: int) -> list[Message]:
        messages: list[Message] = []
        if self.spec.system:
            messages.append({"role": "system", "content": self.spec.system})
        messages.append({"role": "user", "content": self.spec.questions[index].question})
        return messages

    def next_job(self) -> Job | None:
        if self.next_index >= len(self.spec.questions):
            return None  # every question was asked: the run ends "exhausted" if count is not met
        index, self.next_index = self.next_index, self.next_index + 1
        request = Request(messages=self._messages(index), options=dict(self.ctx.sampling))
        return Job(key=f"q:{index:06d}", stage="ask", request=request, context={"index": index})

    def on_response(self, job: Job, response: Response) -> Outcome:
        index = int(job.context["index"])
        meta: dict[str, Any] = {**self.ctx.provenance(), "job": job.key}
        expected = self.spec.questions[index].answer
        if expected is not None:
            meta["answer"] = expected
        answer = response.text.strip()
        record = Record(
            messages=[*self._messages(index), {"role": "assistant", "content": answer}], meta=meta
        )
        if not answer:
            return Outcome(rejected=[Rejection(record, "generator", "empty_answer")])
        return Outcome(candidates=[record])
