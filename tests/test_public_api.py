"""The curated public API, and the README's command table, stay true."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import teachkit
from teachkit.cli import app

README = Path(__file__).resolve().parents[1] / "README.md"


def test_public_api_is_curated() -> None:
    assert sorted(teachkit.__all__) == sorted(
        [
            "Recipe",
            "Record",
            "RunSummary",
            "TeacherConfig",
            "TeachkitError",
            "__version__",
            "load_recipe",
            "parse_recipe",
            "plan",
            "read_accepted",
            "read_rejected",
            "run",
            "run_async",
        ]
    )
    for name in teachkit.__all__:
        assert hasattr(teachkit, name), name


def test_importing_teachkit_loads_no_heavy_extra() -> None:
    code = (
        "import sys, teachkit, teachkit.cli, teachkit.filters, teachkit.formats, "
        "teachkit.testing, teachkit.teachers.llamacpp\n"
        "heavy = {'torch', 'sentence_transformers', 'llama_cpp', 'pyarrow', 'datasets', 'ray'}\n"
        "print(sorted(heavy & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_readme_documents_every_command() -> None:
    text = README.read_text()
    commands = [
        c.name or (c.callback.__name__ if c.callback else "") for c in app.registered_commands
    ]
    assert set(commands) >= {"init", "run", "status", "filter", "export", "serve-fake"}
    for name in commands:
        assert re.search(rf"`teachkit {name}\b", text), (
            f"README does not document `teachkit {name}`"
        )


def test_readme_recipe_is_valid() -> None:
    import yaml

    from teachkit.recipe.load import parse_recipe

    block = re.search(r"## Recipes\n\n```yaml\n(.*?)```", README.read_text(), re.S)
    assert block is not None
    recipe = parse_recipe(yaml.safe_load(block.group(1)))
    assert [f.kind for f in recipe.filters] == ["rules", "dedup", "judge"]
