"""``teachkit eval``: a student answers held-out real prompts; a judge compares in both orders."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any

import typer
import yaml
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from teachkit.engine.eval import evaluate
from teachkit.errors import RecipeError
from teachkit.recipe.base import TeacherConfig

__all__ = ["register", "teacher_config"]

out = Console(highlight=False)


class _Against(StrEnum):
    reference = "reference"
    teacher = "teacher"


def teacher_config(
    what: str,
    section: Path | None,
    backend: str | None,
    model: str | None,
    base_url: str | None,
    api_key_env: str | None,
) -> TeacherConfig | None:
    """A teacher section from a YAML file and/or flags (flags win); None when neither is given."""
    data: dict[str, Any] = {}
    if section is not None:
        try:
            loaded = yaml.safe_load(section.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise RecipeError(f"--{what} {section} cannot be read as YAML ({exc}).") from None
        if isinstance(loaded, dict) and isinstance(loaded.get(what), dict):
            loaded = loaded[what]  # a file holding `student: {...}` or `teacher: {...}`
        elif isinstance(loaded, dict) and isinstance(loaded.get("teacher"), dict):
            loaded = loaded["teacher"]
        if not isinstance(loaded, dict):
            raise RecipeError(f"--{what} {section} must hold a teacher section (a mapping).")
        data.update(loaded)
    for key, value in (
        ("backend", backend),
        ("model", model),
        ("base_url", base_url),
        ("api_key_env", api_key_env),
    ):
        if value is not None:
            data[key] = value
    if not data:
        return None
    try:
        return TeacherConfig.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5]
        )
        raise RecipeError(f"The {what} settings are invalid: {problems}.") from None


def _table(result: dict[str, Any]) -> Table:
    table = Table(title=f"{result['student'].get('model')} against the {result['against']}")
    for column in ("prompts", "n", "wins", "ties", "losses", "disagree", "unjudged", "score"):
        table.add_column(column, justify="right" if column != "prompts" else "left")
    for name, side in result["sides"].items():
        score = side["score"]
        shown = (
            "–"
            if score["value"] is None
            else f"{score['value']:.0%} [{score['low']:.0%}, {score['high']:.0%}]"
        )
        table.add_row(
            name,
            str(side["prompts"]),
            str(side["wins"]),
            str(side["ties"]),
            str(side["losses"]),
            str(side["disagreements"]),
            str(side["unjudged"]),
            shown,
        )
    return table


def eval_command(
    run_dir: Path = typer.Argument(..., help="A run directory."),
    eval_file: Path | None = typer.Option(
        None,
        "--eval",
        help="Real prompts with reference answers (default: the export's "
        "validation rows that are real).",
    ),
    student: Path | None = typer.Option(
        None, "--student", help="YAML teacher section of the student."
    ),
    student_backend: str | None = typer.Option(
        None, "--student-backend", help="e.g. llamacpp, openai."
    ),
    student_model: str | None = typer.Option(
        None, "--student-model", help="Model id or GGUF path."
    ),
    student_base_url: str | None = typer.Option(None, "--student-base-url"),
    student_key_env: str | None = typer.Option(None, "--student-api-key-env"),
    judge: Path | None = typer.Option(None, "--judge", help="YAML teacher section of the judge."),
    judge_backend: str | None = typer.Option(None, "--judge-backend"),
    judge_model: str | None = typer.Option(None, "--judge-model"),
    judge_base_url: str | None = typer.Option(None, "--judge-base-url"),
    judge_key_env: str | None = typer.Option(None, "--judge-api-key-env"),
    against: _Against = typer.Option(
        _Against.reference, "--against", help="Compare with the reference answer or the teacher's."
    ),
    limit: int = typer.Option(50, "--limit", min=1, help="Prompts per side (a seeded sample)."),
    seed: int = typer.Option(0, "--seed"),
    no_cache: bool = typer.Option(False, "--no-cache", help="Do not read or write the cache."),
    cache: Path | None = typer.Option(None, "--cache", help="Request cache (default: the run's)."),
) -> None:
    """Evaluate a student on real prompts: win/tie/loss against the reference, with intervals."""
    student_config = teacher_config(
        "student", student, student_backend, student_model, student_base_url, student_key_env
    )
    if student_config is None:
        raise RecipeError(
            "Name the student to evaluate: --student-backend llamacpp (the embedded model), "
            "--student-backend openai --student-model NAME --student-base-url URL, or --student "
            "FILE with a teacher section."
        )
    judge_config = teacher_config(
        "judge", judge, judge_backend, judge_model, judge_base_url, judge_key_env
    )
    result = evaluate(
        run_dir,
        student=student_config,
        judge=judge_config,
        eval_file=eval_file,
        against=against.value,
        limit=limit,
        seed=seed,
        use_cache=not no_cache,
        cache_path=cache,
    )
    out.print(_table(result))
    if result.get("gap") is not None:
        out.print(f"Synthetic minus real score: {result['gap']:+.2f}")
    out.print(f"Wrote {run_dir / 'eval.json'} and {run_dir / result['answers']}.")


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_command)
