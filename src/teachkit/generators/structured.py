"""Structured output: ask the teacher for a JSON object, then parse, repair and validate the answer.

:class:`OutputSpec` declares the wanted fields; :func:`schema` gives their JSON schema (sent
natively where a backend can constrain decoding), :func:`instruction` the prompt asking for it, and
:func:`parse` reads an answer back. Repairs are the safe kind only (code fences, prose around the
object, trailing commas, smart quotes outside strings, unknown keys dropped, enum case, numbers
written as text); a value is never invented. Failures raise :class:`StructuredOutputError`.
"""

from __future__ import annotations

import copy
import json
import math
import re
from collections.abc import Iterator
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from teachkit.errors import RecipeError
from teachkit.prompts.axes import variable_name_problem
from teachkit.recipe.base import StrictModel
from teachkit.teachers.backend import Capabilities

__all__ = ["FieldSpec", "OutputSpec", "StructuredOutputError",
           "instruction", "parse", "schema", "use_native"]  # fmt: skip

_SCALARS = {
    "str": "string", "string": "string", "text": "string", "int": "integer", "integer": "integer",
    "float": "number", "number": "number", "bool": "boolean", "boolean": "boolean",
}  # fmt: skip
#: every accepted type spelling -> (JSON type, item type of a list)
_SPELLINGS: dict[str, tuple[str, str | None]] = {
    **{name: (kind, None) for name, kind in _SCALARS.items()},
    **{f"list[{name}]": ("array", kind) for name, kind in _SCALARS.items()},
    "list": ("array", "string"),
}
#: the JSON-schema keywords teachkit validates (others are refused when the recipe loads)
_KEYWORDS = frozenset(
    ("type", "properties", "required", "additionalProperties", "items", "enum", "description",
     "title", "minLength")
)  # fmt: skip
_TYPES = frozenset(("object", "array", *_SCALARS.values()))


class StructuredOutputError(ValueError):
    """The answer is not the JSON object asked for; ``reason`` is short and machine-friendly."""

    def __init__(self, reason: str, message: str = "") -> None:
        super().__init__(message or reason)
        self.reason = reason


class FieldSpec(StrictModel):
    """One wanted field (every field is required in the answer)."""

    #: str, int, float, bool, list[str], list[int], ...
    type: str = "string"
    description: str = ""
    #: the allowed values of a string field
    enum: list[str] | None = Field(default=None, min_length=1)
    #: strings: minimum length after trimming (unset: a required string must not be blank)
    min_length: int | None = Field(default=None, ge=0)

    @field_validator("type")
    @classmethod
    def _spelling(cls, value: str) -> str:
        spelling = value.strip().lower().replace(" ", "")
        if spelling not in _SPELLINGS:
            raise ValueError(f"unknown field type {value!r}; use str, int, float, bool, list[str]")
        if spelling != "string" and _SPELLINGS[spelling][0] == "string":
            spelling = "string"
        return spelling

    @model_validator(mode="after")
    def _enum_of_strings(self) -> FieldSpec:
        if self.enum is not None and self.type != "string":
            raise ValueError("'enum' lists the allowed values of a string field; drop 'type'")
        return self

    def to_schema(self) -> dict[str, Any]:
        kind, items = _SPELLINGS[self.type]
        out: dict[str, Any] = {"type": kind}
        if self.description:
            out["description"] = self.description
        if self.enum is not None:
            out["enum"] = list(self.enum)
        elif items is not None:
            out["items"] = {"type": items}
        elif kind == "string" and self.min_length is not None:
            out["minLength"] = self.min_length
        return out


class OutputSpec(StrictModel):
    """The JSON object a generator wants back: a short ``fields`` form or a ``json_schema``.

    ``fields`` maps a name to a description (``answer: the full answer``), to a spec
    (``label: {enum: [positive, negative]}``), or takes the type in the key (``"score: int"``);
    a plain list of names asks for non-empty string fields. Every field is required.
    """

    fields: dict[str, FieldSpec] | None = None
    json_schema: dict[str, Any] | None = None
    #: answers asked for in all (first try + retries) before the record is rejected
    max_attempts: int = Field(default=3, ge=1, le=20)
    #: native: backend-constrained decoding (error if unsupported); instruction: prompt text only
    method: Literal["auto", "native", "instruction"] = "auto"

    @field_validator("fields", mode="before")
    @classmethod
    def _short_form(cls, data: Any) -> Any:
        if isinstance(data, list):
            data = dict.fromkeys(data, "")
        if not isinstance(data, dict):
            return data
        out: dict[str, Any] = {}
        for key, value in data.items():
            name, _, kind = (part.strip() for part in str(key).partition(":"))
            spec: Any = {"description": value or ""} if isinstance(value, str | None) else value
            if kind:
                if not isinstance(spec, dict) or "type" in spec:
                    raise ValueError(f"field {name!r} gives its type twice")
                spec = {**spec, "type": kind}
            problem = variable_name_problem(name)
            if problem or name in out:
                raise ValueError(f"field {problem or repr(name) + ' is declared twice'}")
            out[name] = spec
        return out

    @field_validator("json_schema")
    @classmethod
    def _supported(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            if value.get("type") != "object" or not isinstance(value.get("properties"), dict):
                raise ValueError("json_schema must describe an object: type 'object' + properties")
            _check_schema(value, "json_schema")
        return value

    @model_validator(mode="after")
    def _one_form(self) -> OutputSpec:
        if (self.fields is None) == (self.json_schema is None):
            raise ValueError("give exactly one of 'fields' or 'json_schema'")
        if self.fields is not None and not self.fields:
            raise ValueError("'fields' is empty; name at least one field")
        return self

    def field_names(self) -> list[str]:
        """Top-level keys of the answer: the variables the message templates can use."""
        return list(schema(self)["properties"])


def _check_schema(node: Any, path: str) -> None:
    if not isinstance(node, dict):
        raise ValueError(f"{path} must be a mapping")
    if unknown := sorted(set(node) - _KEYWORDS):
        raise ValueError(f"{path} uses {unknown}, which teachkit does not validate; "
                         f"supported keywords: {sorted(_KEYWORDS)}")  # fmt: skip
    if node.get("type", "object") not in _TYPES:
        raise ValueError(f"{path}: type must be one of {sorted(_TYPES)}")
    if not isinstance(node.get("additionalProperties", False), bool):
        raise ValueError(f"{path}: additionalProperties must be true or false")
    properties = node.get("properties", {})
    if missing := set(node.get("required", [])) - set(properties):
        raise ValueError(f"{path}: required names {sorted(missing)} not in properties")
    for name, child in properties.items():
        _check_schema(child, f"{path}.{name}")
    if "items" in node:
        _check_schema(node["items"], f"{path}.items")


def schema(spec: OutputSpec) -> dict[str, Any]:
    """The JSON schema of the wanted object (short form: all fields required, no other keys)."""
    if spec.json_schema is not None:
        return copy.deepcopy(spec.json_schema)
    fields = spec.fields or {}
    return {
        "type": "object",
        "properties": {name: f.to_schema() for name, f in fields.items()},
        "required": list(fields),
        "additionalProperties": False,
    }


def use_native(spec: OutputSpec, capabilities: Capabilities) -> bool:
    """Whether to send the schema natively (add the instruction to the prompt either way)."""
    if spec.method == "native" and not capabilities.json_schema:
        raise RecipeError(
            "The output asks for method 'native', but this teacher backend cannot constrain its "
            "answers to a JSON schema. Use method 'auto' or 'instruction'."
        )
    return spec.method != "instruction" and capabilities.json_schema


def _describe(node: dict[str, Any]) -> str:
    if "enum" in node:
        return "one of " + ", ".join(json.dumps(v, ensure_ascii=False) for v in node["enum"])
    kind = node.get("type", "object")
    if kind == "array":
        return f"a list (each item: {_describe(node.get('items', {}))})"
    if kind == "object":
        return "an object with the keys " + ", ".join(map(json.dumps, node.get("properties", {})))
    names = {"boolean": "true or false", "integer": "an integer", "number": "a number"}
    return names.get(kind, "a string")


def instruction(spec: OutputSpec) -> str:
    """Prompt text asking for exactly the wanted JSON object."""
    lines = ["Reply with a single JSON object and nothing else: no text before or after it, "
             "no code fences. Use exactly these keys:"]  # fmt: skip
    for name, node in schema(spec)["properties"].items():
        about = f". {node['description']}" if node.get("description") else ""
        lines.append(f'- "{name}": {_describe(node)}{about}')
    return "\n".join(lines)


def parse(
    text: str,
    schema: dict[str, Any],
    *,
    finish_reason: str | None = None,
    repairs: list[str] | None = None,
) -> dict[str, Any]:
    """The validated object in ``text``; raises :class:`StructuredOutputError`.

    ``finish_reason="length"`` (the answer hit max_tokens) makes an unreadable answer "truncated".
    ``repairs``, if given, receives the repairs applied (e.g. "code_fence", "dropped:notes").
    """
    applied: list[str] = [] if repairs is None else repairs
    found = _extract(text, applied, truncated=finish_reason == "length")
    return dict(_validate(found, schema, "", applied))


_FENCE = re.compile(r"```[ \t]*(?:json\w*|JSON)?[ \t]*\r?\n(.*?)(?:```|\Z)", re.DOTALL)
#: balanced spans tried per answer, so that brace-heavy prose cannot make parsing slow
_MAX_SPANS = 64


def _extract(text: str, repairs: list[str], *, truncated: bool) -> dict[str, Any]:
    stripped = text.strip().lstrip("\ufeff")
    if not stripped:
        raise StructuredOutputError("empty", "the answer is empty")
    direct = _loads(stripped)
    if isinstance(direct, dict):
        return direct
    regions = [(m.group(1), "code_fence") for m in _FENCE.finditer(stripped)]
    for region, how in [*regions, (stripped, "extracted")]:
        for start, end in _spans(region):
            if end is None:  # an object opens and never closes
                truncated = True
                break
            value = _loads(region[start:end])
            fixes: list[str] = []
            if not isinstance(value, dict):
                cleaned, fixes = _clean(region[start:end])
                value = _loads(cleaned) if fixes else None
            if isinstance(value, dict):
                if how == "code_fence" or start or end < len(region):
                    fixes.insert(0, how)
                repairs.extend(fixes)
                return value
    if truncated:
        raise StructuredOutputError("truncated", "the JSON object is cut off before its end")
    if "{" not in stripped:
        raise StructuredOutputError("no_json", "the answer contains no JSON object")
    raise StructuredOutputError("invalid_json", "the JSON object in the answer does not parse")


def _string_end(s: str, i: int) -> int | None:
    """Index just past the string that opens at ``s[i]`` (None when it never closes)."""
    j = i + 1
    while j < len(s):
        if s[j] == '"':
            return j + 1
        j += 2 if s[j] == "\\" else 1
    return None


def _spans(s: str) -> Iterator[tuple[int, int | None]]:
    """Balanced top-level ``{...}`` spans in order; an unclosed one (end None) ends the search."""
    start = s.find("{")
    for _ in range(_MAX_SPANS):
        if start < 0:
            return
        depth, i, end = 0, start, None
        while i < len(s) and end is None:
            if s[i] == '"':
                i = _string_end(s, i) or len(s)
                continue
            depth += {"{": 1, "}": -1}.get(s[i], 0)
            i += 1
            end = i if depth == 0 else None
        yield start, end
        if end is None:
            return
        start = s.find("{", end)


def _loads(s: str) -> Any:
    try:  # strict=False: raw newlines inside strings are a common, harmless slip
        return json.loads(s, strict=False)
    except (ValueError, RecursionError):
        return None


#: a JSON string (kept as is) | a string in smart quotes | a comma before a closing bracket
_TOKEN = re.compile(
    r'"(?:\\.|[^"\\])*"|[\u201c\u201d]([^\u201c\u201d]*)[\u201c\u201d]|,(?=\s*[}\]])', re.S
)


def _clean(s: str) -> tuple[str, list[str]]:
    """Outside strings only: drop trailing commas, turn smart-quoted strings into JSON strings."""
    fixes: dict[str, None] = {}

    def fix(match: re.Match[str]) -> str:
        token = match.group(0)
        if token.startswith('"'):
            return token
        if token == ",":
            fixes["trailing_comma"] = None
            return ""
        fixes["smart_quotes"] = None
        return '"' + re.sub(r'(?<!\\)"', r'\\"', match.group(1)) + '"'

    return _TOKEN.sub(fix, s), list(fixes)


_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\Z")


def _fail(kind: str, path: str, message: str) -> StructuredOutputError:
    return StructuredOutputError(f"schema:{kind}:{path or '$'}", f"{path or 'answer'} {message}")


def _validate(
    value: Any, node: dict[str, Any], path: str, repairs: list[str], required: bool = True
) -> Any:
    kind = node.get("type")
    if kind is not None and not _is_type(value, kind):
        converted = _coerce(value, kind)
        if converted is None:
            raise _fail("type", path, f"must be {kind}, got {type(value).__name__}")
        repairs.append(f"coerced:{path or '$'}")
        value = converted
    if "enum" in node and value not in node["enum"]:
        folded = [v for v in node["enum"] if isinstance(v, str) and isinstance(value, str)
                  and v.casefold() == value.strip().casefold()]  # fmt: skip
        if len(folded) != 1:
            raise _fail("enum", path, f"must be one of {node['enum']}, got {value!r}")
        repairs.append(f"enum_case:{path or '$'}")
        value = folded[0]
    if isinstance(value, str) and len(value.strip()) < node.get("minLength", int(required)):
        raise _fail("min_length", path, "is blank or too short")
    if isinstance(value, list) and "items" in node:
        value = [_validate(v, node["items"], f"{path}.{i}" if path else str(i), repairs, False)
                 for i, v in enumerate(value)]  # fmt: skip
    if isinstance(value, dict):
        properties: dict[str, Any] = node.get("properties", {})
        closed = node.get("additionalProperties", True) is False
        out: dict[str, Any] = {}
        wanted = node.get("required", [])
        for key, item in value.items():
            where = f"{path}.{key}" if path else key
            if key in properties:
                out[key] = _validate(item, properties[key], where, repairs, key in wanted)
            elif closed:  # an unasked-for key ("notes", "explanation"): dropping it loses nothing
                repairs.append(f"dropped:{where}")
            else:
                out[key] = item
        for key in wanted:
            if key not in out:
                raise _fail("missing", f"{path}.{key}" if path else key, "is missing")
        value = out
    return value


def _is_type(value: Any, kind: str) -> bool:
    if kind in ("integer", "number"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        return isinstance(value, int) if kind == "integer" else math.isfinite(value)
    types = {"string": str, "boolean": bool, "array": list, "object": dict}
    return isinstance(value, types[kind])


def _coerce(value: Any, kind: str) -> Any:
    """``value`` converted losslessly to ``kind`` ("7" or 7.0 to 7, "true" to True), else None."""
    text = value.strip() if isinstance(value, str) else None
    if kind == "boolean" and text is not None and text.lower() in ("true", "false"):
        return text.lower() == "true"
    if kind not in ("integer", "number"):
        return None
    if text is not None and _NUMBER.match(text):
        value = float(text) if any(c in text for c in ".eE") else int(text)
    if kind == "integer" and isinstance(value, float) and value.is_integer():
        value = int(value)
    return value if _is_type(value, kind) else None
