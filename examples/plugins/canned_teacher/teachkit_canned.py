"""A teacher backend that answers from a table of canned answers: offline demos and tests.

Recipe::

    teacher:
      backend: canned
      options:
        answers: {"capital of France": "Paris.", "(?i)hello": "Hello!"}
        default: "I do not know."
"""

from __future__ import annotations

import re
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from teachkit.teachers.backend import Backend, Capabilities, Request, Response, Usage


class CannedBackend(Backend):
    id = "canned"
    capabilities: ClassVar[Capabilities] = Capabilities(chat=True, completion=True, local=True)
    default_model = "canned-1"

    class Options(BaseModel):
        model_config = ConfigDict(extra="forbid")

        #: regular expression -> answer; the first that matches the prompt wins
        answers: dict[str, str] = Field(default_factory=dict)
        #: the answer when no expression matches
        default: str = "I do not know."

    async def generate(self, request: Request) -> Response:
        assert isinstance(self.options, CannedBackend.Options)
        if request.prompt is not None:
            prompt = request.prompt
        else:
            prompt = (request.messages or [{"content": ""}])[-1]["content"]
        answer = self.options.default
        for pattern, text in self.options.answers.items():
            if re.search(pattern, prompt):
                answer = text
                break
        return Response(
            texts=[answer],
            finish_reasons=["stop"],
            usage=Usage(len(prompt.split()), len(answer.split())),
            model=self.model,
        )
