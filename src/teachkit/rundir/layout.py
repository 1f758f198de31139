"""The run directory: the unit of reproducibility and resume.

::

    runs/NAME/
      recipe.resolved.yaml   what ran, defaults filled in, no secrets
      manifest.json          status, counts per stage and drop reason, tokens, cost, timings
      journal.jsonl          jobs created and committed (how a killed run resumes)
      accepted/*.jsonl       Records that passed, append-only
      rejected/*.jsonl       Records that failed, with filter and reason
      cache.sqlite           the request cache (unless configured elsewhere)
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO, Any

import orjson

from teachkit.errors import RunDirError

__all__ = ["RunDir", "atomic_write"]


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so readers see the old or the new file, never half of one."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


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

    def exists(self) -> bool:
        return self.manifest_path.exists() or self.journal_path.exists()

    def create(self) -> None:
        if self.path.exists() and not self.path.is_dir():
            raise RunDirError(f"{self.path} exists and is not a directory; choose another --out.")
        for folder in (self.path, self.accepted_dir, self.rejected_dir):
            folder.mkdir(parents=True, exist_ok=True)

    # --- single writer ----------------------------------------------------------------------
    def lock(self) -> None:
        """Take the run directory for this process; a second concurrent run fails clearly."""
        self.create()
        handle = open(self.path / ".lock", "wb")  # noqa: SIM115 - held for the whole run
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            handle.close()
            raise RunDirError(
                f"Another teachkit process is running in {self.path}. Wait for it to finish or "
                "stop it; two runs must not write the same directory."
            ) from exc
        self._lock_file = handle

    def unlock(self) -> None:
        if self._lock_file is not None:
            fcntl.flock(self._lock_file.fileno(), fcntl.LOCK_UN)
            self._lock_file.close()
            self._lock_file = None

    # --- manifest ---------------------------------------------------------------------------
    def read_manifest(self) -> dict[str, Any] | None:
        if not self.manifest_path.exists():
            return None
        try:
            data: dict[str, Any] = orjson.loads(self.manifest_path.read_bytes())
        except orjson.JSONDecodeError as exc:
            raise RunDirError(
                f"{self.manifest_path} is not valid JSON ({exc}); it was not written by teachkit "
                "or was edited by hand. Move it away to rebuild it from the journal."
            ) from exc
        return data

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        atomic_write(
            self.manifest_path,
            orjson.dumps(manifest, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n",
        )
