"""Reading a structured answer back: find the JSON object, repair it, validate it.

Repairs are the safe kind only (code fences, prose around the object, trailing commas, smart
quotes outside strings, unknown keys dropped, enum case, numbers written as text), each recorded
by name; a value is never invented. Failures raise :class:`StructuredOutputError` with a short
reason.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from typing import Any

__all__ = ["StructuredOutputError", "parse"]


class StructuredOutputError(ValueError):
    """The answer is not the JSON object asked for; ``reason`` is short and machine-friendly."""

    def __init__(self, reason: str, message: str = "") -> None:
        super().__init__(message or reason)
        self.reason = reason


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
        folded = _case_matches(value, node["enum"])
        if len(folded) != 1:
            raise _fail("enum", path, f"must be one of {node['enum']}, got {value!r}")
        repairs.append(f"enum_case:{path or '$'}")
        value = folded[0]
    if isinstance(value, str) and len(value.strip()) < node.get("minLength", int(required)):
        raise _fail("min_length", path, "is blank or too short")
    if isinstance(value, list) and "items" in node:
        value = [
            _validate(v, node["items"], f"{path}.{i}" if path else str(i), repairs, False)
            for i, v in enumerate(value)
        ]
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


def _case_matches(value: Any, allowed: list[Any]) -> list[str]:
    """The allowed strings equal to ``value`` once case and surrounding spaces are ignored."""
    if not isinstance(value, str):
        return []
    wanted = value.strip().casefold()
    return [v for v in allowed if isinstance(v, str) and v.casefold() == wanted]


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
