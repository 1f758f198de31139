"""One registry for every extension point, found through entry-point groups.

teachkit has five roles that a package can extend, each an entry-point group:

==========================  =====================================================
group                       an entry point names
==========================  =====================================================
``teachkit.teachers``       a :class:`~teachkit.teachers.backend.Backend` subclass
``teachkit.generators``     a generator spec model (``kind: Literal[...]``)
``teachkit.filters``        a filter spec model (``kind: Literal[...]``)
``teachkit.verifiers``      a verifier spec model (``kind: Literal[...]``)
``teachkit.formats``        a :class:`~teachkit.formats.base.RowFormat` instance
==========================  =====================================================

The built-ins are declared in teachkit's own ``pyproject.toml`` exactly like a plugin's, so the
extension point is exercised by every run. A plugin package declares, for example::

    [project.entry-points."teachkit.filters"]
    profanity = "my_package.profanity:ProfanitySpec"

:func:`register` adds an entry in-process (tests, notebooks). An entry whose module fails to import
is an error that names the module and the reason, never a silent skip.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import EntryPoint, entry_points
from typing import Generic, TypeVar

from teachkit.errors import PluginError

__all__ = ["Registry"]

T = TypeVar("T")


class Registry(Generic[T]):
    """Named entries of one entry-point group, loaded on first use.

    ``check`` validates a loaded object (it returns a sentence saying what is wrong, or None), so
    a plugin that names the wrong kind of object fails with a message instead of later.
    """

    def __init__(
        self,
        group: str,
        what: str,
        check: Callable[[object], str | None] | None = None,
    ) -> None:
        self.group = group
        self.what = what
        self._check = check
        self._local: dict[str, T] = {}
        self._loaded: dict[str, T] = {}

    def _entry_points(self) -> dict[str, EntryPoint]:
        found: dict[str, EntryPoint] = {}
        for ep in entry_points(group=self.group):
            found.setdefault(ep.name, ep)
        return found

    def names(self) -> list[str]:
        """Every registered name, sorted."""
        return sorted(set(self._entry_points()) | set(self._local))

    def register(self, name: str, obj: T) -> None:
        """Register ``obj`` under ``name`` in this process (wins over an entry point)."""
        problem = self._check(obj) if self._check else None
        if problem:
            raise PluginError(f"Cannot register {self.what} {name!r}: {problem}.")
        self._local[name] = obj

    def unregister(self, name: str) -> None:
        self._local.pop(name, None)
        self._loaded.pop(name, None)

    def get(self, name: str) -> T:
        """The entry named ``name``; :class:`PluginError` when unknown or broken."""
        if name in self._local:
            return self._local[name]
        if name in self._loaded:
            return self._loaded[name]
        ep = self._entry_points().get(name)
        if ep is None:
            known = ", ".join(self.names()) or "none"
            raise PluginError(
                f"Unknown {self.what} {name!r}. Known: {known}. A plugin must be installed "
                f"(it declares an entry point in the group {self.group!r}) to be found."
            )
        obj = self._load(ep)
        self._loaded[name] = obj
        return obj

    def _load(self, ep: EntryPoint) -> T:
        try:
            obj: T = ep.load()
        except Exception as exc:
            raise PluginError(
                f"The {self.what} {ep.name!r} cannot be loaded: importing {ep.value} failed "
                f"({type(exc).__name__}: {exc}). Fix or reinstall the package that provides it.",
                plugin=ep.name,
                module=ep.module,
            ) from exc
        problem = self._check(obj) if self._check else None
        if problem:
            raise PluginError(
                f"The {self.what} {ep.name!r} ({ep.value}) is unusable: {problem}.",
                plugin=ep.name,
                module=ep.module,
            )
        return obj

    def load_all(self) -> dict[str, T]:
        """Every entry, loaded (the first broken one raises)."""
        return {name: self.get(name) for name in self.names()}
