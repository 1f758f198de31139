"""The example plugins of docs/extending.md (examples/plugins/): a teacher, a generator, a
filter, a verifier and an export format, each one file plus one entry point.

They are used twice: registered in this process (fast) and run through the command line, and
installed as packages into a fresh virtual environment, where only their entry points make them
known, and run through the ``teachkit`` commands of that environment.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import json
import os
import re
import site
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from support import REPO
from teachkit.cli import main
from teachkit.engine import read_accepted, read_rejected
from teachkit.formats.readers import read_records
from teachkit.formats.rows import FORMATS
from teachkit.recipe.kinds import FILTERS, GENERATORS, VERIFIERS
from teachkit.teachers.registry import BACKENDS
from teachkit.testing import ScriptedBackend
from teachkit.verifiers import VerifierContext

PLUGINS = REPO / "examples" / "plugins"
DOC = REPO / "docs" / "extending.md"

#: plugin folder -> (module, registry, entry-point group, name, object)
EXAMPLES = {
    "canned_teacher": ("teachkit_canned", "teachkit.teachers", "canned", "CannedBackend"),
    "questions_generator": (
        "teachkit_questions",
        "teachkit.generators",
        "questions",
        "QuestionsSpec",
    ),
    "no_urls_filter": ("teachkit_no_urls", "teachkit.filters", "no_urls", "NoUrlsSpec"),
    "exact_answer_verifier": (
        "teachkit_exact_answer",
        "teachkit.verifiers",
        "exact_answer",
        "ExactAnswerSpec",
    ),
    "prompt_completion_format": (
        "teachkit_prompt_completion",
        "teachkit.formats",
        "prompt_completion",
        "PROMPT_COMPLETION",
    ),
}
_REGISTRIES: dict[str, Any] = {
    "teachkit.teachers": BACKENDS,
    "teachkit.generators": GENERATORS,
    "teachkit.filters": FILTERS,
    "teachkit.verifiers": VERIFIERS,
    "teachkit.formats": FORMATS,
}

ANSWERS = {
    "France": "Paris.",
    "Peru": "Lima.",
    "Japan": "Tokyo.",
    "Kenya": "See https://example.org/kenya for the answer.",
    "two plus two": "4",
}
QUESTIONS = [
    {"question": "What is the capital of France?", "answer": "Paris."},
    {"question": "What is the capital of Peru?", "answer": "Lima."},
    {"question": "What is the capital of Kenya?", "answer": "Nairobi."},
    {"question": "What is the capital of Japan?", "answer": "Tokyo."},
    {"question": "What is two plus two?", "answer": "4"},
    {"question": "What is the capital of Italy?", "answer": "Rome."},
]
VERIFY_LANDED = "verify" in FILTERS.names()


def _recipe(count: int = 5, verify: bool = False) -> dict[str, Any]:
    filters: list[dict[str, Any]] = [{"kind": "no_urls"}]
    if verify:
        filters.append({"kind": "verify", "verifier": {"kind": "exact_answer"}})
    return {
        "name": "capitals",
        "teacher": {"backend": "canned", "options": {"answers": ANSWERS}},
        "generator": {"kind": "questions", "count": count, "questions": QUESTIONS},
        "filters": filters,
        "export": {"format": "prompt_completion", "val_fraction": 0.2},
    }


def _load(folder: str) -> ModuleType:
    module, *_ = EXAMPLES[folder]
    spec = importlib.util.spec_from_file_location(module, PLUGINS / folder / f"{module}.py")
    assert spec is not None and spec.loader is not None
    loaded = importlib.util.module_from_spec(spec)
    sys.modules[module] = loaded
    spec.loader.exec_module(loaded)
    return loaded


@pytest.fixture
def registered() -> Iterator[dict[str, ModuleType]]:
    """Every example plugin registered in this process, as a notebook or a test would."""
    modules = {folder: _load(folder) for folder in EXAMPLES}
    for folder, (_module, group, name, attr) in EXAMPLES.items():
        _REGISTRIES[group].register(name, getattr(modules[folder], attr))
    yield modules
    for module, group, name, _attr in EXAMPLES.values():
        _REGISTRIES[group].unregister(name)
        sys.modules.pop(module, None)


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _check_run(run: Path, verified: bool = False) -> None:
    accepted = list(read_accepted(run))
    expected = {"Paris.", "Lima.", "Tokyo.", "4"} | (set() if verified else {"I do not know."})
    assert sorted(r.assistant for r in accepted) == sorted(expected)
    assert {r.meta["answer"] for r in accepted if r.assistant == "Paris."} == {"Paris."}
    dropped = {(r.filter, r.reason) for r in read_rejected(run)}
    assert ("no_urls", "url") in dropped
    dataset = run / "dataset"
    rows = _jsonl(dataset / "train.jsonl") + _jsonl(dataset / "validation.jsonl")
    assert sorted(row["completion"] for row in rows) == sorted(expected)
    assert all(set(row) == {"prompt", "completion"} for row in rows)
    written = json.loads((dataset / "export.json").read_text())
    assert written["format"] == "prompt_completion" and written["run_state"]["state"] == "complete"


# --- in-process registration ----------------------------------------------------------------
def test_plugins_registered_in_process_run_through_the_cli(
    registered: dict[str, ModuleType], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(_recipe()))
    run = tmp_path / "run"
    assert main(["run", str(recipe), "--out", str(run), "-q"]) == 0, capsys.readouterr().err
    _check_run(run)
    # the format is known to the export command, its help and the reader
    pc = tmp_path / "pc"
    assert main(["export", str(run), "--format", "prompt_completion", "--to", str(pc)]) == 0
    assert main(["export", "--help"]) == 0
    assert "prompt_completion" in capsys.readouterr().out
    back = list(read_records(tmp_path / "pc" / "train.jsonl"))
    assert back and all(r.messages[0]["role"] == "user" for r in back)
    # the filter on data the user already has: `teachkit filter`
    rows = tmp_path / "rows.jsonl"
    rows.write_text(
        json.dumps({"prompt": "Where is the manual?", "completion": "At www.example.com/m."})
        + "\n"
        + json.dumps({"prompt": "What is 3 + 3?", "completion": "6"})
        + "\n"
    )
    only_filters = tmp_path / "filters.yaml"
    only_filters.write_text(yaml.safe_dump({"name": "clean", "filters": [{"kind": "no_urls"}]}))
    curated = tmp_path / "curated"
    assert main(["filter", str(rows), "--recipe", str(only_filters), "--out", str(curated)]) == 0
    assert [r.assistant for r in read_accepted(curated)] == ["6"]
    assert [r.detail["url"] for r in read_rejected(curated)] == ["www.example.com/m."]


def test_the_verifier_plugin(registered: dict[str, ModuleType], tmp_path: Path) -> None:
    spec = VERIFIERS.get("exact_answer").model_validate({"kind": "exact_answer"})
    verifier = spec.build(VerifierContext(base_dir=tmp_path))
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(_recipe()))
    assert main(["run", str(recipe), "--out", str(tmp_path / "run"), "-q"]) == 0
    records = sorted(read_accepted(tmp_path / "run"), key=lambda r: r.user)
    verdicts = asyncio.run(verifier.verify_many(records))
    outcome = {r.user.rsplit(" ", 1)[-1]: v.reason for r, v in zip(records, verdicts, strict=True)}
    assert outcome == {
        "France?": "passed",
        "Italy?": "wrong_answer",
        "Japan?": "passed",
        "Peru?": "passed",
        "two?": "passed",
    }
    assert verdicts[[r.user for r in records].index("What is the capital of Italy?")].detail == (
        "expected 'Rome.', got 'I do not know.'"
    )


@pytest.mark.skipif(not VERIFY_LANDED, reason="the verify filter is not in this tree yet")
def test_the_verifier_plugin_in_the_verify_filter(
    registered: dict[str, ModuleType], tmp_path: Path
) -> None:
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(_recipe(count=4, verify=True)))
    assert main(["run", str(recipe), "--out", str(tmp_path / "run"), "-q"]) == 0
    _check_run(tmp_path / "run", verified=True)
    assert any(r.reason == "wrong_answer" for r in read_rejected(tmp_path / "run"))


# --- installed packages, found through their entry points -------------------------------------
def test_each_example_is_one_file_and_one_entry_point() -> None:
    for folder, (module, group, name, attr) in EXAMPLES.items():
        files = sorted(p.name for p in (PLUGINS / folder).iterdir() if p.name != "__pycache__")
        assert files == sorted([f"{module}.py", "pyproject.toml"]), folder
        project = (PLUGINS / folder / "pyproject.toml").read_text()
        assert f'[project.entry-points."{group}"]\n{name} = "{module}:{attr}"' in project


def test_extending_md_shows_the_example_code() -> None:
    """Every example file is quoted whole in docs/extending.md, so the page stays true."""
    text = DOC.read_text(encoding="utf-8")
    for folder, (module, *_rest) in EXAMPLES.items():
        for name in (f"{module}.py", "pyproject.toml"):
            marker = f"<!-- examples/plugins/{folder}/{name} -->"
            assert marker in text, f"docs/extending.md does not quote {folder}/{name}"
            block = re.search(re.escape(marker) + r"\n```\w*\n(.*?)```", text, re.S)
            assert block is not None, marker
            assert block.group(1) == (PLUGINS / folder / name).read_text(encoding="utf-8"), name


def test_the_testing_example_of_extending_md(
    registered: dict[str, ModuleType], tmp_path: Path
) -> None:
    block = re.search(r"## Testing a plugin\n.*?```python\n(.*?)```", DOC.read_text(), re.S)
    assert block is not None
    namespace: dict[str, Any] = {}
    exec(compile(block.group(1), str(DOC), "exec"), namespace)
    try:
        namespace["test_no_urls_drops_links"](tmp_path)
    finally:
        ScriptedBackend.use()  # the default script again, for the other tests


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtual environment seeing the installed dependencies, with teachkit (this tree) and
    the five example plugins installed in it, editable, without network."""
    root = tmp_path_factory.mktemp("plugins")
    env = root / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(env)],
        check=True,
        timeout=120,
    )
    python = env / "bin" / "python"
    if sys.prefix != sys.base_prefix:  # run from a venv: see its packages too, not only the base's
        inner = subprocess.run(
            [python, "-c", "import site; print(site.getsitepackages()[0])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        (Path(inner) / "_outer_env.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    backend = subprocess.run([python, "-c", "import hatchling, editables"], capture_output=True)
    if backend.returncode != 0:
        pytest.skip(
            "hatchling or editables is not installed (pip install 'teachkit[dev]'), so pip "
            "cannot build the plugins offline with --no-build-isolation"
        )
    projects = [REPO, *(PLUGINS / folder for folder in EXAMPLES)]
    install = [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps"]
    install += ["--no-build-isolation", "--no-index", "--quiet"]
    for project in projects:
        install += ["-e", str(project)]
    done = subprocess.run(install, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    return env


@pytest.mark.slow
def test_installed_plugins_run_through_the_cli(venv: Path, tmp_path: Path) -> None:
    python = str(venv / "bin" / "python")
    where = subprocess.run(
        [python, "-c", "import teachkit, teachkit_canned; print(teachkit.__file__)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert where.stdout.strip() == str(REPO / "src" / "teachkit" / "__init__.py")
    env = {**os.environ, "COLUMNS": "200"}

    def teachkit(*args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [python, "-m", "teachkit", *args], capture_output=True, text=True, env=env, timeout=300
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done

    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(_recipe(count=4, verify=True) if VERIFY_LANDED else _recipe()))
    teachkit("run", str(recipe), "--out", str(tmp_path / "run"), "-q")
    _check_run(tmp_path / "run", verified=VERIFY_LANDED)
    assert "prompt_completion" in teachkit("export", "--help").stdout
    pc = str(tmp_path / "pc")
    teachkit("export", str(tmp_path / "run"), "--format", "prompt_completion", "--to", pc)
    assert (
        json.loads((tmp_path / "pc" / "export.json").read_text())["format"] == "prompt_completion"
    )
    only_filters = tmp_path / "filters.yaml"
    only_filters.write_text(yaml.safe_dump({"name": "clean", "filters": [{"kind": "no_urls"}]}))
    teachkit("filter", str(tmp_path / "run" / "dataset" / "train.jsonl"), "--recipe",
             str(only_filters), "--out", str(tmp_path / "curated"))  # fmt: skip
    train = (tmp_path / "run" / "dataset" / "train.jsonl").read_text().splitlines()
    assert [r.assistant for r in read_accepted(tmp_path / "curated")] == [
        json.loads(row)["completion"] for row in train
    ]
    # the verifier is found through its entry point in that environment
    check = (
        "from teachkit.recipe.kinds import VERIFIERS; "
        "print(VERIFIERS.get('exact_answer').__module__)"
    )
    found = subprocess.run([python, "-c", check], capture_output=True, text=True, check=True)
    assert found.stdout.strip() == "teachkit_exact_answer"
