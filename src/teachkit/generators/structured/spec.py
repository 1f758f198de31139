"""The output spec of structured generation and the JSON schema it asks for.

:class:`OutputSpec` declares the wanted fields, in a short ``fields`` form or as a ``json_schema``
(a subset of JSON Schema that teachkit validates; any other keyword is refused when the recipe
loads). :func:`schema` gives the JSON schema of the wanted object and :func:`use_native` whether
to send it to the backend for constrained decoding.
"""

from __future__ import annotations

import copy
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from teachkit.errors import RecipeError
from teachkit.prompts.axes import variable_name_problem
from teachkit.recipe.base import StrictModel
from teachkit.teachers.backend import Capabilities

__all__ = ["FieldSpec", "OutputSpec", "schema", "use_native"]

_SCALARS = {
    "str": "string",
    "string": "string",
    "text": "string",
    "int": "integer",
    "integer": "integer",
    "float": "number",
    "number": "number",
    "bool": "boolean",
    "boolean": "boolean",
}
#: every accepted type spelling -> (JSON type, item type of a list)
_SPELLINGS: dict[str, tuple[str, str | None]] = {
    **{name: (kind, None) for name, kind in _SCALARS.items()},
    **{f"list[{name}]": ("array", kind) for name, kind in _SCALARS.items()},
    "list": ("array", "string"),
}
#: the JSON-schema keywords teachkit validates (others are refused when the recipe loads)
_KEYWORDS = frozenset(
    (
        "type",
        "properties",
        "required",
        "additionalProperties",
        "items",
        "enum",
        "description",
        "title",
        "minLength",
    )
)
_TYPES = frozenset(("object", "array", *_SCALARS.values()))


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
        raise ValueError(
            f"{path} uses {unknown}, which teachkit does not validate; "
            f"supported keywords: {sorted(_KEYWORDS)}"
        )
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
