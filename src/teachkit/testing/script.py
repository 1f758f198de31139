"""What the fake server answers: scripted rules, a callable, or a deterministic default.

A script is either

* a callable ``(FakeCall) -> str | None`` (None falls through to the default answer), or
* a rules mapping ``{regex: answer}`` where the answer is a string or a list of strings used in
  turn; the first rule whose regex matches the last user message (or the raw prompt) wins.

The default answer is derived from a hash of the prompt, the choice index and the seed, so
distinct prompts get distinct answers. With a ``seed``, or at temperature 0, the same request
always gets the same answer; otherwise a repeated prompt gets a new answer each time (its first
answer is always the same), as a sampling server would. When JSON is asked for
(``response_format`` or a forced Anthropic tool), the default answer is a small instance of the
requested schema.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import orjson

__all__ = [
    "FakeCall",
    "SchemaTooLarge",
    "Script",
    "Scripter",
    "load_script",
    "schema_instance",
]

Api = Literal["chat", "completions", "messages"]


@dataclass(slots=True)
class FakeCall:
    """One choice the fake server is about to answer."""

    api: Api
    #: the last user message (chat, messages) or the raw prompt (completions)
    prompt: str
    #: the whole request body as the client sent it
    body: dict[str, Any] = field(default_factory=dict)
    #: which of the ``n`` choices this is
    index: int = 0


Script = Callable[[FakeCall], str | None] | Mapping[str, str | Sequence[str]]

_WORD_LIST = (
    "river stone garden lantern harbor meadow copper signal orchard compass ledger canyon "
    "thread violet maple harvest beacon glacier pepper summit falcon window marble willow "
    "circuit paper ember island puzzle velvet rocket anchor timber quartz saddle mirror "
    "bridge candle forest pillow jacket tunnel oyster ribbon shadow castle feather planet "
    "cotton arrow basket cobalt desert engine fabric galaxy hammer iris jungle kettle lemon "
    "magnet nectar orbit pebble quiver radar silver tulip umbrella vessel walnut yonder zephyr "
    "amber breeze cedar dune echo fjord grove hollow inlet jasper kelp lagoon mosaic nimbus "
    "opal prism quill reef sable thistle utopia vapor wisp yarrow zenith"
)
_WORDS = tuple(_WORD_LIST.split())


def _digest(*parts: object) -> bytes:
    return hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=32).digest()


def default_text(prompt: str, *salt: object, words: int = 24) -> str:
    """A deterministic, prompt-specific sentence (distinct prompts, distinct sentences)."""
    digest = _digest(prompt, *salt)
    picks = [_WORDS[b % len(_WORDS)] for b in (digest + _digest(digest))[:words]]
    return f"Answer {digest[:4].hex()}: {' '.join(picks)}."


#: bounds of one schema instance: values made, characters made, nesting
MAX_SCHEMA_VALUES = 10_000
MAX_SCHEMA_CHARS = 1_000_000
MAX_SCHEMA_DEPTH = 32


class SchemaTooLarge(ValueError):
    """A JSON schema asks for more than the fake server makes for one answer."""


class _Budget:
    def __init__(self) -> None:
        self.values = 0
        self.chars = 0

    def spend(self, chars: int = 0) -> None:
        self.values += 1
        self.chars += chars
        if self.values > MAX_SCHEMA_VALUES or self.chars > MAX_SCHEMA_CHARS:
            raise SchemaTooLarge(
                f"The JSON schema asks for more than {MAX_SCHEMA_VALUES:,} values or "
                f"{MAX_SCHEMA_CHARS:,} characters in one answer; the fake server answers "
                "smaller schemas only (lower minItems / minLength)."
            )


def _whole(value: Any, default: int) -> int:
    """A schema bound as an int: a number is truncated, anything else is the default."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return default
    if not math.isfinite(value):
        raise SchemaTooLarge("The JSON schema holds a bound that is not a finite number.")
    return int(value)


def schema_instance(schema: Any, seed: str = "", name: str = "value") -> Any:
    """A small value that satisfies common JSON schemas (objects, arrays, scalars, enums).

    The work is bounded: a schema asking for more than :data:`MAX_SCHEMA_VALUES` values,
    :data:`MAX_SCHEMA_CHARS` characters or :data:`MAX_SCHEMA_DEPTH` levels raises
    :class:`SchemaTooLarge` (the fake server answers it with HTTP 400).
    """
    return _instance(schema, seed, name, _Budget(), 0)


def _instance(schema: Any, seed: str, name: str, budget: _Budget, depth: int) -> Any:
    if depth > MAX_SCHEMA_DEPTH:
        raise SchemaTooLarge(
            f"The JSON schema nests more than {MAX_SCHEMA_DEPTH} levels; the fake server "
            "answers flatter schemas only."
        )
    budget.spend()
    if not isinstance(schema, dict):
        return default_text(seed, name, words=6)
    if "const" in schema:
        return schema["const"]
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return enum[0]
    for key in ("anyOf", "oneOf", "allOf"):
        options = schema.get(key)
        if isinstance(options, list) and options:
            return _instance(options[0], seed, name, budget, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or (kind is None and "properties" in schema):
        props = schema.get("properties")
        if not isinstance(props, dict):
            return {}
        return {
            str(k): _instance(v, f"{seed}/{k}", str(k), budget, depth + 1) for k, v in props.items()
        }
    if kind == "array":
        count = max(1, _whole(schema.get("minItems"), 1))
        if count > MAX_SCHEMA_VALUES:
            budget.spend(MAX_SCHEMA_CHARS + 1)
        item = schema.get("items") or {"type": "string"}
        return [_instance(item, f"{seed}/{i}", name, budget, depth + 1) for i in range(count)]
    if kind == "integer":
        return _whole(schema.get("minimum"), 1)
    if kind == "number":
        minimum = schema.get("minimum", 1.0)
        _whole(minimum, 1)  # refuses a bound that is not finite
        return float(minimum) if isinstance(minimum, int | float) else 1.0
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    text = default_text(seed, name, words=6)
    minimum = max(0, _whole(schema.get("minLength"), 0))
    budget.spend(max(minimum, len(text)))
    if len(text) < minimum:
        text = (text + " ") * (minimum // len(text) + 1)
    maximum = schema.get("maxLength")
    return text[: max(0, _whole(maximum, len(text)))] if maximum is not None else text


def load_script(path: str | Path) -> dict[str, str | list[str]]:
    """Read a rules mapping ``{regex: answer or [answers]}`` from a YAML or JSON file.

    Every problem (unreadable, not YAML, the wrong shape, an invalid regular expression) is a
    ``ValueError`` whose message names the file and the fix.
    """
    import yaml

    from teachkit.recipe.load import load_yaml

    try:
        data = load_yaml(Path(path).read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not UTF-8 text; save the script as UTF-8.") from None
    except OSError as exc:
        raise ValueError(f"{path} cannot be read ({exc.strerror}).") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ValueError(f"{path} is not valid YAML{where}: {problem}.") from None
    if not isinstance(data, dict) or not all(
        isinstance(v, str) or (isinstance(v, list) and v and all(isinstance(x, str) for x in v))
        for v in data.values()
    ):
        raise ValueError(
            f"{path}: a fake-server script is a mapping of regular expressions to an answer "
            "or a non-empty list of answers."
        )
    rules = {str(k): v for k, v in data.items()}
    for pattern in rules:
        try:
            re.compile(pattern, re.S)
        except re.error as exc:
            raise ValueError(
                f"{path}: {pattern[:60]!r} is not a valid regular expression ({exc}); fix it or "
                "quote it as a literal with re.escape."
            ) from None
    return rules


class Scripter:
    """Turns a :data:`Script` into answers; keeps the per-rule turn counters."""

    def __init__(self, script: Script | None) -> None:
        self._fn: Callable[[FakeCall], str | None] | None = None
        self._rules: list[tuple[re.Pattern[str], list[str]]] = []
        if callable(script):
            self._fn = script
        elif script is not None:
            for pattern, answer in script.items():
                answers = [answer] if isinstance(answer, str) else list(answer)
                if not answers:
                    raise ValueError(f"the script rule {pattern!r} has no answers")
                try:
                    compiled = re.compile(pattern, re.S)
                except re.error as exc:
                    raise ValueError(
                        f"the script rule {pattern[:60]!r} is not a valid regular expression "
                        f"({exc})"
                    ) from None
                self._rules.append((compiled, answers))
        self._turns: Counter[int] = Counter()
        self._repeats: Counter[bytes] = Counter()

    def scripted(self, call: FakeCall) -> str | None:
        """The script's answer, or None when no rule matches (the caller picks a default)."""
        if self._fn is not None:
            return self._fn(call)
        for number, (pattern, answers) in enumerate(self._rules):
            if pattern.search(call.prompt):
                turn = self._turns[number]
                self._turns[number] += 1
                return answers[turn % len(answers)]
        return None

    def default(self, call: FakeCall) -> str:
        body = call.body
        seed = body.get("seed")
        repeat = 0
        temperature = body.get("temperature")
        if seed is None and (temperature is None or temperature > 0):  # servers default to 1
            key = _digest(call.api, call.prompt, call.index)
            repeat = self._repeats[key]
            self._repeats[key] += 1
        return default_text(call.prompt, call.index, seed, repeat)

    def answer(self, call: FakeCall, schema: dict[str, Any] | None, json: bool) -> str:
        """The text for ``call``; ``schema``/``json`` say whether JSON output was asked for."""
        text = self.scripted(call)
        if text is not None:
            return text
        if schema is not None:
            seed = self.default(call)
            return orjson.dumps(schema_instance(schema, seed)).decode()
        if json:
            return orjson.dumps({"answer": self.default(call)}).decode()
        return self.default(call)
