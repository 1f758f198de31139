"""Structured output: ask the teacher for a JSON object, then parse, repair and validate the answer.

:class:`OutputSpec` declares the wanted fields; :func:`schema` gives their JSON schema (sent
natively where a backend can constrain decoding), :func:`instruction` the prompt asking for it, and
:func:`parse` reads an answer back. Repairs are the safe kind only (code fences, prose around the
object, trailing commas, smart quotes outside strings, unknown keys dropped, enum case, numbers
written as text); a value is never invented. Failures raise :class:`StructuredOutputError`.

The parts: :mod:`~teachkit.generators.structured.spec` (the output spec and its JSON schema),
:mod:`~teachkit.generators.structured.prompt` (the instruction text) and
:mod:`~teachkit.generators.structured.repair` (parsing and repairing answers).
"""

from __future__ import annotations

from teachkit.generators.structured.prompt import instruction
from teachkit.generators.structured.repair import StructuredOutputError, parse
from teachkit.generators.structured.spec import FieldSpec, OutputSpec, schema, use_native

__all__ = [
    "FieldSpec",
    "OutputSpec",
    "StructuredOutputError",
    "instruction",
    "parse",
    "schema",
    "use_native",
]
