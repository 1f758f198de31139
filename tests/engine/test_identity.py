"""A run's identity covers the contents of every file the recipe reads, and lives in the
journal: an edited axis file, or a different recipe behind a deleted recipe.resolved.yaml, is
refused instead of mixing two datasets in one directory."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import pytest

import teachkit
from teachkit.errors import RunDirError
from teachkit.filters.base import FilterContext
from teachkit.filters.rules import RulesFilter, RulesSpec
from teachkit.recipe.identity import input_files, run_identity
from teachkit.recipe.kinds import FILTERS
from teachkit.recipe.load import load_recipe, parse_recipe

RECIPE = """
name: ident
teacher: {backend: scripted}
generator:
  kind: templated
  count: COUNT
  axes: {topic: topics.txt, tone: [plain, fun]}
  prompt: "Explain {{ topic }} in a {{ tone }} tone."
"""


def write(folder: Path, count: int, prompt: str | None = None) -> Path:
    text = RECIPE.replace("COUNT", str(count))
    if prompt is not None:
        text = text.replace('"Explain {{ topic }} in a {{ tone }} tone."', prompt)
    path = folder / "recipe.yaml"
    path.write_text(text)
    return path


def test_run_identity_misses_changed_inputs(tmp_path: Path, scripted: Any) -> None:
    (tmp_path / "topics.txt").write_text("rain\nsnow\nwind\n")
    run = tmp_path / "run"
    teachkit.run(load_recipe(write(tmp_path, 3)), run)
    (tmp_path / "topics.txt").write_text("lava\nmagma\nash\n")
    with pytest.raises(RunDirError, match=r"the input file topics\.txt changed"):
        teachkit.run(load_recipe(write(tmp_path, 6)), run)
    (tmp_path / "topics.txt").write_text("rain\nsnow\nwind\n")  # put back: the same run again
    summary = teachkit.run(load_recipe(write(tmp_path, 6)), run)
    assert summary.accepted == 6
    topics = {r.meta["axes"]["topic"] for r in teachkit.read_accepted(run)}
    assert topics <= {"rain", "snow", "wind"}


def test_deleting_the_resolved_recipe_lets_no_other_recipe_in(
    tmp_path: Path, scripted: Any
) -> None:
    (tmp_path / "topics.txt").write_text("rain\nsnow\n")
    run = tmp_path / "run"
    teachkit.run(load_recipe(write(tmp_path, 3)), run)
    (run / "recipe.resolved.yaml").unlink()
    other = write(tmp_path, 3, prompt='"Describe {{ topic }} ({{ tone }})."')
    with pytest.raises(RunDirError, match="different recipe"):
        teachkit.run(load_recipe(other), run)


def test_every_kind_of_input_file_is_in_the_identity(tmp_path: Path) -> None:
    (tmp_path / "seeds.jsonl").write_text(
        '{"id": "s1", "instruction": "Name a color.", "instances": [{"input": "", '
        '"output": "Red."}], "is_classification": false}\n'
    )
    (tmp_path / "against.jsonl").write_text('{"instruction": "Name a fruit."}\n')
    (tmp_path / "words.txt").write_text("cat\n")
    recipe = parse_recipe(
        {
            "name": "files",
            "generator": {"kind": "self_instruct", "count": 5, "seeds": "seeds.jsonl"},
            "filters": [{"kind": "novelty", "against": "against.jsonl"}],
        }
    )
    recipe.set_base_dir(str(tmp_path))
    assert input_files(recipe) == ["against.jsonl", "seeds.jsonl"]
    before = run_identity(recipe)
    (tmp_path / "against.jsonl").write_text('{"instruction": "Name a tree."}\n')
    after = run_identity(recipe)
    assert before.recipe_hash == after.recipe_hash and before.hash != after.hash
    assert before.differences(after) == [
        "the input file against.jsonl changed since the run started"
    ]
    # the shipped seed file counts too, by its contents
    shipped = parse_recipe({"generator": {"kind": "self_instruct", "count": 5}})
    assert run_identity(shipped).inputs["teachkit:seed_tasks.jsonl"].startswith("sha256:")


class WordListSpec(RulesSpec):
    """A plugin filter that reads a file named by a field the walk does not know."""

    kind: Literal["wordlist"] = "wordlist"  # type: ignore[assignment]
    wordlist: str = "words.txt"

    def input_files(self) -> list[str]:
        return [self.wordlist]

    def build(self, ctx: FilterContext) -> RulesFilter:
        return RulesSpec(kind="rules").build(ctx)


def test_a_spec_declares_its_own_input_files(tmp_path: Path) -> None:
    (tmp_path / "words.txt").write_text("cat\n")
    FILTERS.register("wordlist", WordListSpec)
    try:
        recipe = parse_recipe({"filters": [{"kind": "wordlist"}]})
        recipe.set_base_dir(str(tmp_path))
        assert input_files(recipe) == ["words.txt"]
    finally:
        FILTERS.unregister("wordlist")
