"""Masking secrets: the one place every error and answer from a backend passes through.

A :class:`Redactor` knows a backend's secrets (its API key) and masks them, plus anything shaped
like a key, in an exception's message, its context and the exceptions chained to it. The
:class:`~teachkit.teachers.Teacher` runs every error a backend raises through it before the
controller, the logs, the manifest or a rejected record can see it, so no backend can forget;
answers are masked too (only the secrets themselves, so generated text that merely looks like a
key is left alone).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from teachkit.teachers.backend import Response

__all__ = ["KEY_PATTERNS", "MASK", "Redactor"]

MASK = "***"
#: shapes of credentials masked in error messages whatever the backend declared
KEY_PATTERNS = (
    re.compile(r"\bsk-[A-Za-z0-9_\-]{6,}"),  # OpenAI, Anthropic and many compatible servers
    re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/\-]{8,}=*"),
    re.compile(
        r"(?i)\b(x-api-key|api[_-]?key|access[_-]?token)([\"']?\s*[:=]\s*[\"']?)[^\s\"',}]{6,}"
    ),
)
#: how deep a chain of causes is followed
_MAX_CHAIN = 16


class Redactor:
    """Masks ``secrets`` (exact values) and key-shaped text."""

    def __init__(self, secrets: Iterable[str]) -> None:
        # longest first, so a secret that contains another is masked whole
        self.secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def text(self, text: str) -> str:
        """``text`` with every secret and key-shaped string masked."""
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        text = KEY_PATTERNS[0].sub("sk-" + MASK, text)
        text = KEY_PATTERNS[1].sub("Bearer " + MASK, text)
        return KEY_PATTERNS[2].sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", text)

    def _value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, bytes):
            return self.text(value.decode("utf-8", "replace")).encode()
        return value

    def error(self, exc: BaseException) -> BaseException:
        """Mask ``exc`` in place (message, context, chained causes) and return it."""
        seen: set[int] = set()
        current: BaseException | None = exc
        for _ in range(_MAX_CHAIN):
            if current is None or id(current) in seen:
                break
            seen.add(id(current))
            current.args = tuple(self._value(a) for a in current.args)
            context = getattr(current, "__dict__", {}).get("context")
            if isinstance(context, dict):
                for key, value in list(context.items()):
                    context[key] = self._value(value)
            notes = getattr(current, "__notes__", None)
            if isinstance(notes, list):
                current.__notes__ = [self.text(n) if isinstance(n, str) else n for n in notes]
            current = current.__cause__ or current.__context__
        return exc

    def response(self, response: Response) -> Response:
        """Mask the secrets (exact values only) in an answer."""
        if not self.secrets:
            return response
        texts = response.texts
        if any(secret in text for text in texts for secret in self.secrets):
            cleaned = []
            for text in texts:
                for secret in self.secrets:
                    text = text.replace(secret, MASK)
                cleaned.append(text)
            response.texts = cleaned
        if any(secret in response.model for secret in self.secrets):
            response.model = MASK
        if any(secret in reason for reason in response.finish_reasons for secret in self.secrets):
            response.finish_reasons = [self.text(reason) for reason in response.finish_reasons]
        return response
