"""The layering: a part imports only its own layer or lower (see DESIGN.md)."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "teachkit"

#: top-level part of the package -> layer
LAYERS = {
    "records": 0,
    "errors": 0,
    "registry": 0,
    "similarity": 1,
    "teachers": 2,
    "prompts": 2,
    "recipe": 2,
    "testing": 2,
    "sandbox": 2,
    "generators": 3,
    "filters": 3,
    "verifiers": 3,
    "formats": 3,
    "quality": 3,
    "rundir": 4,
    "engine": 5,
    "cli": 6,
    "__init__": 6,  # the curated public API gathers every layer
    "__main__": 6,
}


def _part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("teachkit")]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "teachkit":
                found += [(node.lineno, f"teachkit.{a.name}") for a in node.names]
            elif node.module.startswith("teachkit."):
                found.append((node.lineno, node.module))
    return found


def upward_imports(root: Path = SRC) -> list[str]:
    """Every import in the package at ``root`` of a part in a higher layer than its own."""
    problems: list[str] = []
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root.parent).with_suffix("")
        module = ".".join(relative.parts)
        own = _part(module)
        assert own in LAYERS, f"{path}: part {own!r} has no layer; add it to LAYERS and DESIGN.md"
        for line, target in _imports(path):
            other = _part(target)
            assert other in LAYERS, f"{path}:{line} imports unknown part {target}"
            if LAYERS[other] > LAYERS[own]:
                problems.append(
                    f"{path.relative_to(root.parent)}:{line}: {own} (layer {LAYERS[own]}) imports "
                    f"{target} (layer {LAYERS[other]})"
                )
    return problems


def test_no_module_imports_a_higher_layer() -> None:
    problems = upward_imports()
    assert not problems, "upward imports:\n" + "\n".join(problems)


def test_an_upward_import_is_reported(tmp_path: Path) -> None:
    package = tmp_path / "teachkit"
    (package / "filters").mkdir(parents=True)
    (package / "records.py").write_text("import orjson\nfrom teachkit.errors import DataError\n")
    # a lazy import inside a function counts too
    (package / "filters" / "x.py").write_text(
        "def f():\n    from teachkit.engine.api import run\n    return run\n"
    )
    assert upward_imports(package) == [
        "teachkit/filters/x.py:2: filters (layer 3) imports teachkit.engine.api (layer 5)"
    ]
