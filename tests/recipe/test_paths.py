"""A shared recipe reads data files only from its own folder (and folders the user allows)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from teachkit.cli import main
from teachkit.errors import DataError, RecipeError
from teachkit.formats.seeds import load_seed_tasks
from teachkit.prompts.axes import AxisSampler
from teachkit.recipe.load import load_recipe, parse_recipe
from teachkit.recipe.paths import resolve_input

SECRET = "root:$6$planted-shadow-line:19000:0:99999:7:::"


@pytest.fixture
def layout(tmp_path: Path) -> tuple[Path, Path]:
    """A recipe folder, and a secret file beside it (outside the folder)."""
    folder = tmp_path / "recipe"
    folder.mkdir()
    (folder / "topics.txt").write_text("gravity\nlight\n")
    outside = tmp_path / "private"
    outside.mkdir()
    (outside / "shadow").write_text(SECRET + "\n")
    return folder, outside / "shadow"


def recipe_with_axis(folder: Path, file: str) -> Path:
    data = {
        "name": "shared",
        "teacher": {"backend": "scripted"},
        "generator": {
            "kind": "templated",
            "count": 2,
            "axes": {"topic": {"file": file}},
            "prompt": "Explain {{ topic }}.",
        },
    }
    path = folder / "recipe.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_absolute_axis_file_is_refused_at_load(layout: tuple[Path, Path]) -> None:
    folder, secret = layout
    with pytest.raises(RecipeError, match="outside the recipe's folder") as caught:
        load_recipe(recipe_with_axis(folder, str(secret)))
    assert "--allow-path" in str(caught.value)
    assert SECRET not in str(caught.value)


@pytest.mark.parametrize(
    "name", ["../private/shadow", "./../private/shadow", "sub/../../private/shadow"]
)
def test_dotdot_axis_file_is_refused(layout: tuple[Path, Path], name: str) -> None:
    folder, _ = layout
    with pytest.raises(RecipeError, match="outside the recipe's folder"):
        load_recipe(recipe_with_axis(folder, name))


def test_home_relative_path_is_outside(layout: tuple[Path, Path]) -> None:
    folder, _ = layout
    with pytest.raises(RecipeError, match="outside"):
        load_recipe(recipe_with_axis(folder, "~/.bashrc"))


def test_symlink_out_of_the_folder_is_refused(layout: tuple[Path, Path]) -> None:
    folder, secret = layout
    (folder / "innocent.txt").symlink_to(secret)
    with pytest.raises(RecipeError, match="resolves to"):
        load_recipe(recipe_with_axis(folder, "innocent.txt"))
    # a folder symlink leading out is refused the same way
    (folder / "data").symlink_to(secret.parent, target_is_directory=True)
    with pytest.raises(RecipeError, match="outside"):
        load_recipe(recipe_with_axis(folder, "data/shadow"))


def test_symlink_inside_the_folder_is_fine(layout: tuple[Path, Path]) -> None:
    folder, _ = layout
    (folder / "alias.txt").symlink_to(folder / "topics.txt")
    recipe = load_recipe(recipe_with_axis(folder, "alias.txt"))
    assert recipe.generator is not None


def test_python_built_spec_is_checked_when_the_file_is_read(layout: tuple[Path, Path]) -> None:
    folder, secret = layout
    with pytest.raises(RecipeError, match="outside"):
        AxisSampler({"topic": str(secret)}, base_dir=folder)
    with pytest.raises(RecipeError, match="outside"):
        AxisSampler({"topic": {"file": "../private/shadow"}}, base_dir=folder)
    # parse_recipe confines to the working directory by default
    data = yaml.safe_load(recipe_with_axis(folder, str(secret)).read_text())
    with pytest.raises(RecipeError, match="outside"):
        parse_recipe(data, base_dir=folder)


def test_allow_path_admits_a_folder(layout: tuple[Path, Path]) -> None:
    folder, secret = layout
    recipe = load_recipe(recipe_with_axis(folder, str(secret)), allow_paths=[secret.parent])
    assert recipe.allowed_paths == (str(secret.parent),)
    sampler = AxisSampler(
        {"topic": str(secret)}, base_dir=recipe.base_dir, allowed=recipe.allowed_paths
    )
    assert sampler.values(0)["topic"] == SECRET


def test_seed_and_against_files_are_confined(layout: tuple[Path, Path]) -> None:
    folder, secret = layout
    with pytest.raises(RecipeError, match="seed file"):
        load_seed_tasks(str(secret), base_dir=folder)
    with pytest.raises(RecipeError, match="seed file"):
        load_seed_tasks("../private/shadow", base_dir=folder)
    data = {
        "name": "f",
        "teacher": {"backend": "scripted"},
        "filters": [{"kind": "novelty", "against": "../private/shadow"}],
    }
    with pytest.raises(RecipeError, match=r"filters\[0\]\.against: .*outside"):
        parse_recipe(data, base_dir=folder)
    data = {
        "name": "s",
        "teacher": {"backend": "scripted"},
        "generator": {"kind": "self_instruct", "count": 1, "seeds": str(secret)},
    }
    with pytest.raises(RecipeError, match=r"generator\.seeds: .*outside"):
        parse_recipe(data, base_dir=folder)


@pytest.mark.parametrize("name", ["teachkit:../../../etc/passwd", "teachkit:data/x", "teachkit:"])
def test_shipped_seed_names_cannot_walk_out(name: str) -> None:
    with pytest.raises(DataError, match="ships no seed file"):
        load_seed_tasks(name)


def test_resolve_input_returns_the_real_path(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("x")
    assert resolve_input("a.txt", tmp_path) == (tmp_path / "a.txt").resolve()
    assert resolve_input("sub/../a.txt", tmp_path) == (tmp_path / "a.txt").resolve()
    with pytest.raises(RecipeError):
        resolve_input("bad\x00name", tmp_path)
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    with pytest.raises(RecipeError):
        resolve_input("loop", tmp_path)


def test_cli_refuses_then_allows(
    layout: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    folder, secret = layout
    recipe = recipe_with_axis(folder, str(secret))
    before = sorted(os.listdir(folder))
    assert main(["run", str(recipe), "--dry-run", "--out", str(folder / "run")]) == 2
    err = capsys.readouterr().err
    assert "outside the recipe's folder" in err and SECRET not in err
    assert sorted(os.listdir(folder)) == before  # nothing created
    code = main(["run", str(recipe), "--dry-run", "--allow-path", str(secret.parent), "--out", "x"])
    assert code == 0
