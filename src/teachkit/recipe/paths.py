"""Where a recipe may read its data files from: its own folder, and folders the user allows.

Recipes are shared, so a recipe must not be able to read files that are not part of it. Every
data file a recipe names (axis files, seed files, ``against`` files, judge templates, SQL
fixtures, ...) is resolved by :func:`resolve_input`: the path is taken relative to the recipe's
folder, every symlink in it is resolved, and the result must lie inside that folder or inside
one of the folders the *user* allowed (``teachkit run --allow-path DIR``, or ``allow_paths=`` in
Python). An absolute path, a ``../`` path or a symlink that leads elsewhere is refused with a
:class:`~teachkit.errors.RecipeError` that names the path and the fix.

A spec field typed :data:`InputPath` is also checked while the recipe is validated, whenever the
validation carries the folders (``load_recipe`` and ``parse_recipe`` do), so a recipe that reaches
outside fails before any work; the loaders call :func:`resolve_input` again when they read, so a
spec built in Python is held to the same rule.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, ValidationInfo

from teachkit.errors import RecipeError

__all__ = [
    "PACKAGE_PREFIX",
    "InputPath",
    "allowed_roots",
    "check_input_path",
    "resolve_input",
    "validation_context",
]

#: a location starting with this names a file shipped inside teachkit (always readable)
PACKAGE_PREFIX = "teachkit:"

#: keys of the pydantic validation context that carry the folders
_BASE = "teachkit_base_dir"
_ALLOWED = "teachkit_allowed_paths"


def allowed_roots(paths: Iterable[str | os.PathLike[str]]) -> tuple[Path, ...]:
    """The allowed folders, made absolute with their symlinks resolved (the form compared)."""
    return tuple(Path(p).expanduser().resolve() for p in paths)


def _inside(path: Path, root: Path) -> bool:
    return path == root or path.is_relative_to(root)


def resolve_input(
    path: str | os.PathLike[str],
    base_dir: str | os.PathLike[str],
    *,
    allowed: Iterable[str | os.PathLike[str]] = (),
    what: str = "data file",
) -> Path:
    """The absolute, symlink-free path of a data file named in a recipe, or a RecipeError.

    ``path`` is resolved against ``base_dir`` (the recipe's folder; ``~`` is expanded, so it
    names a place outside). The result must lie inside ``base_dir`` or one of ``allowed``.
    ``what`` names the file in the message ("axis file", "seed file", ...). The file need not
    exist: a missing file is the reader's error to report.
    """
    text = os.fspath(path)
    if not text or "\x00" in text:
        raise RecipeError(
            f"The {what} path {text!r} is empty or holds a NUL character; give a file name "
            "relative to the recipe's folder.",
            path=text,
        )
    base = Path(base_dir).expanduser().resolve()
    try:
        target = (base / Path(text).expanduser()).resolve()
    except (OSError, RuntimeError) as exc:  # a symlink loop, a name too long
        raise RecipeError(
            f"The {what} path {text!r} cannot be resolved ({exc}); give a plain file name "
            "relative to the recipe's folder.",
            path=text,
        ) from None
    roots = (base, *allowed_roots(allowed))
    if any(_inside(target, root) for root in roots):
        return target
    shown = "" if str(target) == text else f" (it resolves to {target})"
    raise RecipeError(
        f"The {what} {text!r} lies outside the recipe's folder {base}{shown}. A recipe may "
        "only read files in its own folder; copy the file there, or allow its folder "
        "explicitly with `teachkit run --allow-path DIR` (allow_paths=[...] in Python) if you "
        "trust this recipe.",
        path=text,
        resolved=str(target),
        base_dir=str(base),
    )


def validation_context(
    base_dir: str | os.PathLike[str], allowed: Iterable[str | os.PathLike[str]] = ()
) -> dict[str, Any]:
    """The pydantic validation context under which :data:`InputPath` fields are checked."""
    return {_BASE: os.fspath(base_dir), _ALLOWED: tuple(os.fspath(p) for p in allowed)}


def check_input_path(value: str | None, info: ValidationInfo) -> str | None:
    """Validator of :data:`InputPath`: refuse a path outside the folders in the context.

    Without a context (a spec built in Python) nothing is checked here; the loader's call to
    :func:`resolve_input` checks it when the file is read. The value is kept as written.
    """
    context = info.context
    if value is None or not isinstance(context, dict) or _BASE not in context:
        return value
    if value.startswith(PACKAGE_PREFIX):
        return value
    try:
        resolve_input(value, context[_BASE], allowed=context.get(_ALLOWED, ()), what="file")
    except RecipeError as exc:
        raise ValueError(str(exc)) from None
    return value


#: the recipe type of a field naming a data file: a string checked against the recipe's folder
InputPath = Annotated[str, AfterValidator(check_input_path)]
