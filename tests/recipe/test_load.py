"""Recipes: validation errors name the field path, the bad value and what is expected."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from teachkit.errors import RecipeError
from teachkit.recipe.load import apply_overrides, dump_recipe, load_recipe, parse_recipe
from teachkit.recipe.models import Recipe

GOOD = {
    "name": "ok",
    "teacher": {"backend": "scripted"},
    "generator": {"kind": "templated", "count": 3, "prompt": "Say {{ x }}.", "axes": {"x": ["a"]}},
}


def write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return path


def test_good_recipe_loads_and_resolves(tmp_path: Path) -> None:
    recipe = load_recipe(write(tmp_path, GOOD))
    assert recipe.generator is not None and recipe.generator.count == 3
    resolved = yaml.safe_load(dump_recipe(recipe))
    assert resolved["teacher"]["max_concurrency"] == 16
    assert resolved["cache"]["enabled"] is True
    assert recipe.base_dir == str(tmp_path.resolve())


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {"teacher": {"backend": "scripted", "temprature": 0.3}},
            r"teacher\.temprature: unknown key",
        ),
        (
            {"generator": {**GOOD["generator"], "count": "many"}},
            r"generator\.count: .*integer.*'many'",
        ),
        (
            {"generator": {**GOOD["generator"], "count": 0}},
            r"generator\.count: .*greater than or equal to 1",
        ),
        ({"generator": {**GOOD["generator"], "kind": "magic"}}, r"generator: unknown kind 'magic'"),
        ({"teacher": {"sampling": {"temperature": 9}}}, r"teacher\.sampling\.temperature"),
        ({"generator": {**GOOD["generator"], "prompt": "Say {{ y }}."}}, r"uses y.*available: x"),
        ({"generator": {**GOOD["generator"], "prompt": "Say {{ x }"}}, r"does not parse"),
        ({"teacher": {"api_key_env": "sk-live-123"}}, r"NAME of an environment variable"),
        ({"name": "bad name!"}, r"name: "),
    ],
)
def test_bad_recipes_explain_themselves(tmp_path: Path, change: dict, expected: str) -> None:
    with pytest.raises(RecipeError, match=expected):
        load_recipe(write(tmp_path, {**GOOD, **change}))


def test_missing_generator_is_only_an_error_for_run() -> None:
    recipe = parse_recipe({"name": "filters-only"})
    with pytest.raises(RecipeError, match="no generator"):
        recipe.require_generator()


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    with pytest.raises(RecipeError, match="not valid YAML at line 3"):
        load_recipe(write(tmp_path, "name: x\nteacher: [unclosed\n"))


def test_missing_file_and_non_mapping(tmp_path: Path) -> None:
    with pytest.raises(RecipeError, match="does not exist"):
        load_recipe(tmp_path / "nope.yaml")
    with pytest.raises(RecipeError, match="must be a mapping"):
        load_recipe(write(tmp_path, "- a\n- b\n"))


def test_overrides_by_dotted_path(tmp_path: Path) -> None:
    recipe = load_recipe(
        write(tmp_path, GOOD),
        [
            "generator.count=500",
            "teacher.base_url=http://127.0.0.1:9/v1",
            "teacher.sampling.stop=[END]",
        ],
    )
    assert recipe.generator is not None and recipe.generator.count == 500
    assert recipe.teacher.base_url == "http://127.0.0.1:9/v1"
    assert recipe.teacher.sampling.stop == ["END"]


def test_overrides_are_validated_like_the_file(tmp_path: Path) -> None:
    with pytest.raises(RecipeError, match=r"generator\.count"):
        load_recipe(write(tmp_path, GOOD), ["generator.count=lots"])
    with pytest.raises(RecipeError, match=r"teacher\.colour: unknown key"):
        load_recipe(write(tmp_path, GOOD), ["teacher.colour=red"])
    with pytest.raises(RecipeError, match="expected PATH=VALUE"):
        apply_overrides({}, ["generator.count"])


@pytest.mark.parametrize("value", [True, False, "3", 2.5])
def test_count_true_is_not_one(value: object) -> None:
    """A boolean, a string or a fraction is not a count: the recipe is refused, naming the field."""
    data = {
        "name": "x",
        "teacher": {"backend": "openai", "model": "m"},
        "generator": {"kind": "templated", "count": value, "prompt": "hi"},
    }
    with pytest.raises(ValidationError, match=r"generator\.count"):
        Recipe.model_validate(data)
