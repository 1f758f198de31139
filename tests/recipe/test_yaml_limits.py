"""A ~1 KB alias bomb, a recursive anchor or deep nesting is refused before it is expanded."""

from __future__ import annotations

from pathlib import Path

import pytest

from teachkit.errors import RecipeError
from teachkit.recipe.load import MAX_ALIAS_NODES, load_recipe, load_yaml, parse_recipe

LEVELS = 9


def bomb(levels: int = LEVELS, indent: str = "") -> str:
    lines = [f"{indent}l0: &l0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, levels + 1):
        refs = ", ".join([f"*l{i - 1}"] * 10)
        lines.append(f"{indent}l{i}: &l{i} [{refs}]")
    return "\n".join(lines) + "\n"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "recipe.yaml"
    path.write_text(text)
    return path


def test_a_small_bomb_at_the_top_is_refused(tmp_path: Path) -> None:
    text = bomb() + "name: demo\n"
    assert len(text.encode()) < 1500  # ~1 KB that would expand to 10**10 values
    with pytest.raises(RecipeError, match="aliases") as caught:
        load_recipe(write(tmp_path, text))
    assert len(str(caught.value)) < 400


def test_a_bomb_inside_a_field_that_accepts_anything_is_refused(tmp_path: Path) -> None:
    text = "name: demo\nteacher:\n  backend: scripted\n  options:\n    extra_body:\n" + bomb(
        indent="      "
    )
    with pytest.raises(RecipeError, match="aliases"):
        load_recipe(write(tmp_path, text))


def test_a_recursive_anchor_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RecipeError, match="itself"):
        load_recipe(write(tmp_path, "name: &a [*a]\n"))


@pytest.mark.parametrize("depth", [150, 5000])
def test_deep_nesting_is_refused(tmp_path: Path, depth: int) -> None:
    with pytest.raises(RecipeError, match="levels deep"):
        load_recipe(write(tmp_path, "name: " + "[" * depth + "]" * depth + "\n"))


def test_a_set_override_is_bounded_too(tmp_path: Path) -> None:
    path = write(tmp_path, "name: demo\nteacher: {backend: scripted}\n")
    value = (
        "{"
        + ", ".join(f"k{i}: &k{i} [" + ", ".join([f"*k{i - 1}"] * 10) + "]" for i in range(1, 9))
        + "}"
    )
    value = "{k0: &k0 [a, a, a, a, a, a, a, a, a, a], " + value[1:]
    with pytest.raises(RecipeError, match="aliases"):
        load_recipe(path, [f"teacher.options={value}"])


def test_modest_aliases_still_work() -> None:
    data = load_yaml("base: &b {temperature: 0.5}\nteacher: {sampling: *b}\n")
    assert data["teacher"]["sampling"] == {"temperature": 0.5}
    wide = "a: &a [" + ", ".join(["x"] * 1000) + "]\nb: [" + ", ".join(["*a"] * 50) + "]\n"
    assert len(load_yaml(wide)["b"]) == 50  # 50,000 values: under the bound of
    assert MAX_ALIAS_NODES == 100_000


def test_error_messages_never_print_a_huge_value() -> None:
    with pytest.raises(RecipeError) as caught:
        parse_recipe({"name": ["x" * 1000] * 100_000})
    assert len(str(caught.value)) < 400
