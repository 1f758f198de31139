"""The prompt text that asks the teacher for exactly the wanted JSON object."""

from __future__ import annotations

import json
from typing import Any

from teachkit.generators.structured.spec import OutputSpec, schema

__all__ = ["instruction"]


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
    lines = [
        "Reply with a single JSON object and nothing else: no text before or after it, "
        "no code fences. Use exactly these keys:"
    ]
    for name, node in schema(spec)["properties"].items():
        about = f". {node['description']}" if node.get("description") else ""
        lines.append(f'- "{name}": {_describe(node)}{about}')
    return "\n".join(lines)
