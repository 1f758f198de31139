"""The run directory: the unit of reproducibility and resume.

::

    runs/NAME/
      journal.jsonl          the commit point, written first: its first line marks the directory
                             as a run directory and holds the run's identity
      recipe.resolved.yaml   what ran, defaults filled in, no secrets
      manifest.json          status, counts per stage and drop reason, tokens, cost, timings
      accepted/*.jsonl       Records that passed, append-only
      rejected/*.jsonl       Records that failed, with filter and reason
      cache.sqlite           the request cache (unless configured elsewhere)

teachkit writes into a directory only when it is new, empty, or a run directory (its journal
says so); any other directory is refused, so files of a user's own are never touched.
"""

from __future__ import annotations

import contextlib
import enum
import errno
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import orjson

from teachkit.errors import EnvironmentFault, RunDirError

__all__ = ["DirKind", "RunDir", "atomic_write", "environment_errors"]

#: what a directory may hold before it becomes a run directory (the lock a crashed start left)
_ALLOWED_IN_NEW = frozenset({".lock"})


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so readers see the old or the new file, never half of one."""
    tmp = path.with_name(f".{path.name}.tmp")
    with environment_errors(path):
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)


@contextlib.contextmanager
def environment_errors(path: Path) -> Iterator[None]:
    """Turn the machine's refusals (disk full, read-only, permission, a file where a folder
    should be) into an :class:`EnvironmentFault` naming the path and the fix."""
    try:
        yield
    except OSError as exc:
        reason = {
            errno.ENOSPC: "the disk is full; free some space",
            errno.EDQUOT: "the disk quota is used up; free some space",
            errno.EROFS: "the file system is read-only; choose a writable --out",
            errno.EACCES: "permission was denied; check the owner and mode of the folder",
            errno.EPERM: "the operation is not permitted; check the owner and mode of the folder",
            errno.ENOTDIR: "a file stands where a folder should be; move it away",
            errno.EISDIR: "a folder stands where a file should be; move it away",
            errno.ENOENT: "a folder on the way was removed meanwhile",
            errno.EEXIST: "a file appeared there meanwhile; move it away",
        }.get(exc.errno or 0, f"the machine refused ({exc.strerror or exc})")
        raise EnvironmentFault(
            f"Cannot write {exc.filename or path}: {reason}, then run the same command again.",
            path=str(exc.filename or path),
        ) from exc


class DirKind(enum.Enum):
    """What ``--out`` points at."""

    #: nothing there yet
    ABSENT = "absent"
    #: an empty directory
    EMPTY = "empty"
    #: a run directory: it has a journal
    RUN = "run"


class RunDir:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock_file: IO[bytes] | None = None

    # --- layout -----------------------------------------------------------------------------
    @property
    def accepted_dir(self) -> Path:
        return self.path / "accepted"

    @property
    def rejected_dir(self) -> Path:
        return self.path / "rejected"

    @property
    def journal_path(self) -> Path:
        return self.path / "journal.jsonl"

    @property
    def manifest_path(self) -> Path:
        return self.path / "manifest.json"

    @property
    def recipe_path(self) -> Path:
        return self.path / "recipe.resolved.yaml"

    @property
    def default_cache_path(self) -> Path:
        return self.path / "cache.sqlite"

    @property
    def lock_path(self) -> Path:
        return self.path / ".lock"

    def exists(self) -> bool:
        """True when the path is a run directory (it has a journal)."""
        return self.journal_path.exists()

    def kind(self) -> DirKind:
        """What the path is; a path teachkit must not write into is refused with a sentence."""
        path = self.path
        if not path.exists():
            if path.is_symlink():
                raise RunDirError(f"{path} is a broken symbolic link; choose another --out.")
            return DirKind.ABSENT
        if not path.is_dir():
            raise RunDirError(
                f"{path} exists and is not a directory; choose another --out.", path=str(path)
            )
        if self.journal_path.exists() or self.journal_path.is_symlink():
            if not self.journal_path.is_file():
                raise RunDirError(
                    f"{self.journal_path} is not a regular file, so {path} is not a run directory "
                    "teachkit can use. Move it away, or choose another --out.",
                    path=str(path),
                )
            return DirKind.RUN
        try:
            names = {entry.name for entry in os.scandir(path)}
        except OSError as exc:
            raise RunDirError(
                f"Cannot list {path}: {exc.strerror or exc}.", path=str(path)
            ) from exc
        # the lock, and the side file of a journal whose first line a kill interrupted
        names = {n for n in names if not n.startswith(".journal.jsonl.")}
        if names <= _ALLOWED_IN_NEW:
            return DirKind.EMPTY
        shown = ", ".join(sorted(names - _ALLOWED_IN_NEW)[:5])
        raise RunDirError(
            f"{path} is not a teachkit run directory (it has no journal.jsonl) and is not empty "
            f"(it holds {shown}). teachkit writes only into a new or empty directory or a run "
            "directory it made, so none of these files was touched. Choose another --out.",
            path=str(path),
        )

    def create(self) -> None:
        with environment_errors(self.path):
            self.path.mkdir(parents=True, exist_ok=True)
            for folder in (self.accepted_dir, self.rejected_dir):
                if folder.exists() and not folder.is_dir():
                    raise RunDirError(
                        f"{folder} is a file where the run directory needs a folder; move it "
                        "away and run again.",
                        path=str(folder),
                    )
                folder.mkdir(exist_ok=True)

    # --- single writer ----------------------------------------------------------------------
    def lock(self) -> None:
        """Take the run directory for this process; a second concurrent run fails clearly."""
        with environment_errors(self.path):
            self.path.mkdir(parents=True, exist_ok=True)
            if self.lock_path.is_dir():
                raise RunDirError(
                    f"{self.lock_path} is a folder; teachkit needs that name for its lock file. "
                    "Move it away and run again.",
                    path=str(self.lock_path),
                )
            handle = open(self.lock_path, "ab")  # noqa: SIM115 - held for the whole run
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            handle.close()
            raise RunDirError(
                f"Another teachkit process is running in {self.path}. Wait for it to finish or "
                "stop it; two runs must not write the same directory.",
                path=str(self.path),
            ) from exc
        self._lock_file = handle

    def unlock(self) -> None:
        if self._lock_file is not None:
            fcntl.flock(self._lock_file.fileno(), fcntl.LOCK_UN)
            self._lock_file.close()
            self._lock_file = None

    def is_live(self) -> bool:
        """True while a process holds the run directory's lock (a run is going on)."""
        if self._lock_file is not None:
            return True
        try:
            handle = open(self.lock_path, "rb")  # noqa: SIM115 - closed below
        except OSError:
            return False
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        except OSError:
            return False
        finally:
            handle.close()
        return False

    # --- manifest ---------------------------------------------------------------------------
    def read_manifest(self) -> dict[str, Any] | None:
        """The manifest, or None when there is none. It is a summary the journal can rebuild,
        so one that does not parse is an error that says to move it away."""
        try:
            raw = self.manifest_path.read_bytes()
        except FileNotFoundError:
            return None
        except IsADirectoryError:
            raise RunDirError(
                f"{self.manifest_path} is a folder, not teachkit's manifest. Move it away; "
                "teachkit rebuilds the manifest from the journal.",
                path=str(self.manifest_path),
            ) from None
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            data = exc
        if not isinstance(data, dict):
            raise RunDirError(
                f"{self.manifest_path} is not a teachkit manifest (not a JSON object); it was "
                "damaged or edited by hand. Move it away: teachkit rebuilds it from the journal.",
                path=str(self.manifest_path),
            )
        return data

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        atomic_write(
            self.manifest_path,
            orjson.dumps(manifest, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n",
        )
