"""Magpie's pre-query templates, derived from a model's own chat template.

An aligned model writes a user's request by itself when it is given only what its chat template
puts before the user's words: the *pre-query template* (``<|im_start|>user\\n`` for ChatML models,
``<|begin_of_text|><|start_header_id|>user<|end_header_id|>\\n\\n`` for Llama 3). Rather than a
table of strings per model, teachkit renders the chat template (the Jinja2 source a tokenizer
config or a GGUF file carries) with a sentinel user message and cuts the text before the
sentinel. The same cut after a conversation gives the prompt for a follow-up request
(multi-turn), and the text between two sentinels gives the end-of-turn tokens used as stop
sequences.

The template comes from the teacher (the embedded backend reads the GGUF metadata), from the
recipe (a tokenizer's template string), or from :data:`FAMILIES`, a table of the common layouts
written as chat templates of the same kind.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import NoReturn

from jinja2 import TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from teachkit.errors import RecipeError
from teachkit.records import Message
from teachkit.teachers.backend import ChatTemplate

__all__ = ["FAMILIES", "ConversationTemplate", "special_tokens"]

_CHATML = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}"
    "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
_QWEN = (
    "{% if messages[0]['role'] != 'system' %}<|im_start|>system\nYou are Qwen, created by Alibaba "
    "Cloud. You are a helpful assistant.<|im_end|>\n{% endif %}" + _CHATML
)
_LLAMA3 = (
    "{{ bos_token }}{% for message in messages %}<|start_header_id|>{{ message['role'] }}"
    "<|end_header_id|>\n\n{{ message['content'] | trim }}<|eot_id|>{% endfor %}"
    "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}"
)
#: system text goes in front of the first user message (these formats have no system turn)
_FIRST_USER = (
    "{% if loop.index0 == 1 and messages[0]['role'] == 'system' %}"
    "{{ messages[0]['content'] }}\n\n{% endif %}"
)
_MISTRAL = (
    "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}[INST] "
    + _FIRST_USER
    + "{{ message['content'] }} [/INST]{% elif message['role'] == 'assistant' %}"
    "{{ message['content'] }}{{ eos_token }}{% endif %}{% endfor %}"
)
_GEMMA = (
    "{{ bos_token }}{% for message in messages %}{% if message['role'] != 'system' %}"
    "<start_of_turn>{{ 'model' if message['role'] == 'assistant' else 'user' }}\n"
    + _FIRST_USER
    + "{{ message['content'] | trim }}<end_of_turn>\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)
_PHI3 = (
    "{% for message in messages %}<|{{ message['role'] }}|>\n{{ message['content'] }}<|end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% else %}{{ eos_token }}{% endif %}"
)

#: chat templates of the common model families, for servers that do not expose their own
FAMILIES: dict[str, ChatTemplate] = {
    "chatml": ChatTemplate(_CHATML, "", "<|im_end|>"),
    "qwen": ChatTemplate(_QWEN, "", "<|im_end|>"),
    "llama3": ChatTemplate(_LLAMA3, "<|begin_of_text|>", "<|eot_id|>"),
    "mistral": ChatTemplate(_MISTRAL, "<s>", "</s>"),
    "gemma": ChatTemplate(_GEMMA, "<bos>", "<eos>"),
    "phi3": ChatTemplate(_PHI3, "", "<|endoftext|>"),
}

#: what looks like a special token of a chat template: <|eot_id|>, <start_of_turn>, </s>, [INST]
_TOKEN = re.compile(r"<\|[^<>|\s]{1,48}\|>|</?[A-Za-z_][\w.\-]{0,48}>|\[/?[A-Z_]{2,24}\]")
_SENTINELS = ("MAGPIEQUERYONE", "MAGPIEANSWERONE", "MAGPIEQUERYTWO")


def special_tokens(text: str) -> list[str]:
    """Special-token-looking strings in ``text``, in order, each once."""
    return list(dict.fromkeys(_TOKEN.findall(text)))


def _raise(message: str) -> NoReturn:
    raise TemplateError(message)


def _environment() -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"]
    )
    env.globals["raise_exception"] = _raise
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    env.filters["tojson"] = lambda value, **_: json.dumps(value)
    return env


_ENV = _environment()


@dataclass(frozen=True)
class ConversationTemplate:
    """A chat template that renders the raw prompts of a Magpie run."""

    template: ChatTemplate
    #: where it came from: ``teacher`` (the backend's), ``recipe`` or ``family:<name>``
    origin: str

    def render(self, messages: list[Message], *, add_generation_prompt: bool = False) -> str:
        try:
            compiled = _ENV.from_string(self.template.source)
            return compiled.render(
                messages=messages,
                add_generation_prompt=add_generation_prompt,
                bos_token=self.template.bos_token,
                eos_token=self.template.eos_token,
            )
        except TemplateError as exc:
            raise RecipeError(
                f"The chat template ({self.origin}) cannot render a conversation of "
                f"{', '.join(m['role'] for m in messages)} turns: {exc}. Check "
                "generator.system_prompt and generator.turns, or give generator.template or "
                "generator.chat_template."
            ) from exc

    def _cut(self, messages: list[Message], sentinel: str) -> tuple[str, str]:
        text = self.render(messages)
        if text.count(sentinel) != 1:
            raise RecipeError(
                f"The chat template ({self.origin}) does not place a message's text in the "
                "prompt exactly once, so no pre-query template can be cut from it. Give "
                "generator.pre_query (the exact text before a user's words) instead."
            )
        before, _, after = text.partition(sentinel)
        return before, after

    def user_prefix(self, history: list[Message]) -> str:
        """What the template writes after ``history`` and before the next user's words: with an
        empty history (or a system turn only), the pre-query template itself."""
        sentinel = _SENTINELS[0]
        return self._cut([*history, {"role": "user", "content": sentinel}], sentinel)[0]

    def separators(self) -> tuple[str, str]:
        """(user end + assistant start, assistant end + user start), as the template writes
        them between turns."""
        one, answer, two = _SENTINELS
        turns: list[Message] = [
            {"role": "user", "content": one},
            {"role": "assistant", "content": answer},
            {"role": "user", "content": two},
        ]
        text = self.render(turns)
        try:
            user_end = text[text.index(one) + len(one) : text.index(answer)]
            assistant_end = text[text.index(answer) + len(answer) : text.index(two)]
        except ValueError:
            raise RecipeError(
                f"The chat template ({self.origin}) does not write user and assistant turns in "
                "order, so its end-of-turn tokens cannot be found. Give generator.stop."
            ) from None
        return user_end, assistant_end

    def stop_tokens(self) -> list[str]:
        """The end-of-turn and turn-start tokens between turns, then the EOS token: what ends
        a user's request the model writes."""
        user_end, assistant_end = self.separators()
        found = special_tokens(user_end) + special_tokens(assistant_end)
        if self.template.eos_token:
            found.append(self.template.eos_token)
        return list(dict.fromkeys(found))

    def tokens(self) -> list[str]:
        """Every special token the template writes (sanitisation cuts the text at any)."""
        user_end, assistant_end = self.separators()
        found = special_tokens(self.user_prefix([]) + user_end + assistant_end)
        found += [t for t in (self.template.bos_token, self.template.eos_token) if t]
        return list(dict.fromkeys(found))
