"""Problems to solve: read from a JSONL file, or written by the teacher.

A file holds one JSON object a line. Which fields hold what is configurable, and presets name the
common layouts:

==============  =========================================================================
preset          fields
==============  =========================================================================
``gsm8k``       ``question``; ``answer`` is a worked solution ending in ``#### 42``
``math``        ``problem``; ``solution`` is a worked solution with a ``\\boxed{}`` answer
``openr1``      ``problem``; ``answer`` is the final answer (OpenR1-Math, NuminaMath)
``humaneval``   ``prompt``, ``test`` (defines ``check(candidate)``), ``entry_point``, ``task_id``
``mbpp``        ``text``, ``test_list`` (assert statements), ``task_id``
==============  =========================================================================

The reference's final answer is taken from a worked solution with the math verifier's own
extraction (``#### N``, the last ``\\boxed{}``); ``answer_format: plain`` uses the field as it is.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import orjson
from pydantic import Field

from teachkit.errors import DataError
from teachkit.recipe.base import StrictModel
from teachkit.recipe.paths import InputPath, resolve_input
from teachkit.verifiers.math import extract_answer, find_boxed

__all__ = ["PRESETS", "Problem", "ProblemsFile", "load_problems", "reference_answer"]

AnswerFormat = Literal["auto", "plain", "hashes", "boxed"]

#: preset -> field names and answer format
PRESETS: dict[str, dict[str, str | None]] = {
    "gsm8k": {"problem": "question", "answer": "answer", "answer_format": "hashes"},
    "math": {"problem": "problem", "answer": "solution", "answer_format": "boxed"},
    "openr1": {"problem": "problem", "answer": "answer", "answer_format": "plain"},
    "humaneval": {
        "problem": "prompt",
        "answer": None,
        "tests": "test",
        "entry_point": "entry_point",
        "id": "task_id",
    },
    "mbpp": {"problem": "text", "answer": None, "tests": "test_list", "id": "task_id"},
}


@dataclass(slots=True)
class Problem:
    """One problem: its statement, and what a trace is checked against."""

    id: str
    #: position among the problems (file line order, or the writing job's index)
    index: int
    text: str
    #: the reference final answer (math)
    answer: str | None = None
    #: the reference worked solution, when the source has one
    solution: str | None = None
    #: unit tests (a list of asserts, or a script defining ``check(candidate)``)
    tests: list[str] | str | None = None
    entry_point: str | None = None
    #: ``file`` or ``teacher``
    source: str = "file"
    #: the row's other scalar fields (template variables) or the axis values it was written for
    fields: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "index": self.index, "text": self.text}
        for name in ("answer", "solution", "tests", "entry_point"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        out["source"] = self.source
        if self.fields:
            out["fields"] = self.fields
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Problem:
        return cls(
            id=str(data["id"]),
            index=int(data["index"]),
            text=str(data["text"]),
            answer=data.get("answer"),
            solution=data.get("solution"),
            tests=data.get("tests"),
            entry_point=data.get("entry_point"),
            source=str(data.get("source") or "file"),
            fields=dict(data.get("fields") or {}),
        )


class ProblemsFile(StrictModel):
    """Where problems come from when they are read from a file (``problems: {file: ...}``)."""

    file: InputPath = Field(min_length=1)
    #: a known layout (gsm8k, math, openr1, humaneval, mbpp); the fields below override it
    preset: Literal["gsm8k", "math", "openr1", "humaneval", "mbpp"] | None = None
    #: the field holding the problem statement (default: ``problem``)
    problem_field: str | None = None
    #: the field holding the reference answer or worked solution (default: ``answer``)
    answer_field: str | None = None
    #: how to read the reference: ``auto`` finds ``#### N`` or ``\\boxed{}``, else plain
    answer_format: AnswerFormat | None = None
    #: the field holding a stable problem id (default: the line number)
    id_field: str | None = None
    #: the fields holding unit tests and the function under test (code problems)
    tests_field: str | None = None
    entry_point_field: str | None = None
    #: use only the first this many problems
    limit: int | None = Field(default=None, ge=1)

    def resolved(self) -> dict[str, str | None]:
        """Field names and answer format after the preset and the explicit keys."""
        out: dict[str, str | None] = {
            "problem": "problem",
            "answer": "answer",
            "answer_format": "auto",
            "tests": None,
            "entry_point": None,
            "id": None,
        }
        out.update(PRESETS.get(self.preset or "", {}))
        explicit = {
            "problem": self.problem_field,
            "answer": self.answer_field,
            "answer_format": self.answer_format,
            "tests": self.tests_field,
            "entry_point": self.entry_point_field,
            "id": self.id_field,
        }
        out.update({k: v for k, v in explicit.items() if v is not None})
        return out


def reference_answer(value: str, answer_format: str) -> str | None:
    """The final answer in a reference: ``#### N``, the last ``\\boxed{}``, or the text."""
    text = value.strip()
    if answer_format == "plain":
        return text or None
    if answer_format == "hashes" or (answer_format == "auto" and "####" in text):
        found = extract_answer(text, extract=["hashes"])
        return found[0] if found else None
    if answer_format == "boxed" or (answer_format == "auto" and "\\boxed" in text):
        return find_boxed(text)
    return text or None


def _read_rows(path: Path) -> list[tuple[int, Any]]:
    if not path.is_file():
        raise DataError(
            f"The problems file {path} does not exist. Check 'problems.file' (relative paths are "
            "resolved against the recipe's folder).",
            path=str(path),
        )
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"The problems file {path} cannot be read: {exc}.", path=str(path)) from exc
    rows: list[tuple[int, Any]] = []
    for number, line in enumerate(data.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append((number, orjson.loads(line)))
        except orjson.JSONDecodeError as exc:
            raise DataError(
                f"Line {number} of the problems file {path} is not JSON ({exc}). The file holds "
                "one JSON object a line (JSONL).",
                path=str(path),
                line=number,
            ) from None
    return rows


def _text(row: dict[str, Any], name: str | None) -> str | None:
    if name is None:
        return None
    value = row.get(name)
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def load_problems(
    spec: ProblemsFile, base_dir: str | Path, allowed: Iterable[str | Path] = ()
) -> list[Problem]:
    """Every problem in ``spec.file`` (up to ``spec.limit``); a DataError names a bad line. The
    file must lie in ``base_dir`` (the recipe's folder) or one of ``allowed``."""
    path = resolve_input(spec.file, base_dir, allowed=allowed, what="problems file")
    names = spec.resolved()
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    for number, row in _read_rows(path):
        where = {"path": str(path), "line": number}
        if not isinstance(row, dict):
            raise DataError(
                f"Line {number} of {path} is not a JSON object; each line holds one problem.",
                **where,
            )
        statement = _text(row, names["problem"])
        if not statement or not statement.strip():
            raise DataError(
                f"Line {number} of {path} has no problem text in the field "
                f"'{names['problem']}'. Set problems.problem_field (or a preset) to the field "
                f"that holds it; this line has: {', '.join(sorted(row)) or 'no fields'}.",
                **where,
            )
        raw_answer = _text(row, names["answer"])
        answer = solution = None
        if raw_answer is not None:
            answer = reference_answer(raw_answer, names["answer_format"] or "auto")
            if answer is None:
                raise DataError(
                    f"Line {number} of {path}: no final answer found in the field "
                    f"'{names['answer']}' (answer_format {names['answer_format']}). Fix the line, "
                    "or set problems.answer_format to plain.",
                    **where,
                )
            if answer != raw_answer.strip():
                solution = raw_answer
        tests = row.get(names["tests"]) if names["tests"] else None
        if tests is not None and not isinstance(tests, str | list):
            raise DataError(
                f"Line {number} of {path}: the tests field '{names['tests']}' must be a string "
                "or a list of assert statements.",
                **where,
            )
        index = len(problems)
        ident = _text(row, names["id"]) or f"p{index:06d}"
        if ident in seen:
            raise DataError(
                f"Line {number} of {path} repeats the problem id {ident!r} of line "
                f"{seen[ident]}; ids must be unique.",
                **where,
            )
        seen[ident] = number
        used = {v for k, v in names.items() if k != "answer_format"}
        extra = {
            k: v
            for k, v in row.items()
            if k not in used and isinstance(v, str | int | float | bool) and k.isidentifier()
        }
        problems.append(
            Problem(
                id=ident,
                index=index,
                text=statement.strip("\n"),
                answer=answer,
                solution=solution,
                tests=[str(t) for t in tests] if isinstance(tests, list) else tests,
                entry_point=_text(row, names["entry_point"]),
                source="file",
                fields=extra,
            )
        )
        if spec.limit is not None and len(problems) >= spec.limit:
            break
    if not problems:
        raise DataError(f"The problems file {path} holds no problems.", path=str(path))
    return problems
