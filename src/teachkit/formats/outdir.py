"""The export's output folder: files are staged beside it, then moved in; only its own files are
replaced.

An export never leaves half-written files and never overwrites or deletes a file it did not
write:

* every file is written into a staging folder beside the output folder
  (``.NAME.teachkit-export-XXXX``); only when all of them are written are they moved into place
  (a folder that does not exist yet is created by renaming the staging folder), so a failed
  write (a full disk, a Parquet error) leaves the output folder as it was;
* ``export.json`` records the SHA-256 of every file the export wrote (``hashes``); the next export
  into the same folder replaces a file only when its content still has that hash, refuses with a
  sentence when the folder holds another file of the same name (a user's ``README.md``, an edited
  ``train.jsonl``), and deletes the files of the previous export that it no longer writes, again
  only when their hash matches (an edited one is left in place with a warning).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path

import orjson

from teachkit.errors import EnvironmentFault, ExportError

__all__ = ["EXPORT_JSON", "OutputDir", "disk_fault", "file_hash", "hashes_of"]

log = logging.getLogger("teachkit")

#: the file that says what an export wrote
EXPORT_JSON = "export.json"


def file_hash(path: Path) -> str:
    """``sha256:<hex>`` of the file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return f"sha256:{digest.hexdigest()}"


def disk_fault(action: str, path: Path, exc: OSError) -> EnvironmentFault:
    return EnvironmentFault(
        f"{action} {path} failed: {exc.strerror or exc}. Free some space or fix the permissions "
        "(or pick another --to), then export again.",
        path=str(path),
    )


class OutputDir:
    """The folder an export writes into (``--to``)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if self.path.exists() and not self.path.is_dir():
            raise ExportError(
                f"--to {self.path} is a file, not a folder. Give the folder the training files "
                "should go into (it is created if needed).",
                path=str(self.path),
            )
        self.previous = self._previous_hashes()

    # --- what is ours -----------------------------------------------------------------------
    def _previous_hashes(self) -> dict[str, str]:
        """name -> hash of the files the previous export here wrote (empty when there was none)."""
        manifest = self.path / EXPORT_JSON
        if not manifest.is_file():
            return {}
        try:
            data = orjson.loads(manifest.read_bytes())
        except (orjson.JSONDecodeError, OSError):
            return {}
        hashes = data.get("hashes") if isinstance(data, dict) else None
        if not isinstance(hashes, dict):
            return {}
        return {str(k): str(v) for k, v in hashes.items()}

    def _ours(self, name: str) -> bool:
        """Whether ``name`` in the folder is a file the previous export wrote, unchanged."""
        path = self.path / name
        if name == EXPORT_JSON:
            return bool(self.previous) and path.is_file()
        expected = self.previous.get(name)
        return expected is not None and path.is_file() and file_hash(path) == expected

    def check(self, names: Iterable[str]) -> None:
        """:class:`ExportError` when writing ``names`` would replace a file the export did not
        write (or one changed since)."""
        if not self.path.is_dir():
            return
        blocked: list[str] = []
        for name in names:
            target = self.path / name
            parents = [self.path / p for p in Path(name).parents if p != Path(".")]
            in_the_way = any(p.exists() and not p.is_dir() for p in parents)
            taken = (target.exists() or target.is_symlink()) and not self._ours(name)
            if in_the_way or taken:
                blocked.append(name)
        if blocked:
            shown = ", ".join(sorted(blocked))
            raise ExportError(
                f"--to {self.path} already holds {shown}, which this export would overwrite but "
                "did not write (or which changed since it wrote them). Move them away, or pick "
                "another --to; an export replaces only the files it wrote itself.",
                path=str(self.path),
                files=sorted(blocked),
            )

    # --- staging and moving into place ------------------------------------------------------
    def stage(self) -> Path:
        """A new empty staging folder beside the output folder."""
        parent = self.path.parent
        try:
            parent.mkdir(parents=True, exist_ok=True)
            return Path(tempfile.mkdtemp(prefix=f".{self.path.name}.teachkit-export-", dir=parent))
        except OSError as exc:
            raise disk_fault("Creating a folder in", parent, exc) from exc

    @staticmethod
    def discard(staged: Path) -> None:
        shutil.rmtree(staged, ignore_errors=True)

    def commit(self, staged: Path, names: list[str]) -> None:
        """Move the staged ``names`` (export.json last) into place, then delete the previous
        export's files that this one did not write."""
        self.check(names)
        ordered = [n for n in names if n != EXPORT_JSON] + [n for n in names if n == EXPORT_JSON]
        try:
            if not self.path.exists():
                os.rename(staged, self.path)
                return
            for name in ordered:
                target = self.path / name
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(staged / name, target)
        except OSError as exc:
            raise disk_fault("Moving the exported files into", self.path, exc) from exc
        finally:
            self.discard(staged)
        self._remove_stale(set(names))

    def _remove_stale(self, written: set[str]) -> None:
        folders: set[Path] = set()
        for name in sorted(set(self.previous) - written):
            path = self.path / name
            if not path.exists():
                continue
            if not self._ours(name):
                log.warning(
                    "%s was written by the previous export but changed since; it is left in place",
                    path,
                )
                continue
            path.unlink()
            folders.update(p for p in Path(name).parents if p != Path("."))
        for folder in sorted(folders, key=lambda p: -len(p.parts)):
            with contextlib.suppress(OSError):  # only an empty folder is removed
                (self.path / folder).rmdir()


def hashes_of(root: Path, names: Iterable[str]) -> Mapping[str, str]:
    """name -> :func:`file_hash` for the files ``names`` under ``root``."""
    return {name: file_hash(root / name) for name in names}
