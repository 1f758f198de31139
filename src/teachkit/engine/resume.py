"""Checks before a session resumes a run directory: is it this run, and is it intact?

Both run before anything in the directory is written or cut.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import yaml

from teachkit.errors import RunDirError
from teachkit.recipe.identity import RunIdentity
from teachkit.recipe.load import recipe_hash
from teachkit.recipe.models import Recipe
from teachkit.records import Record
from teachkit.rundir.journal import JobEntry, read_journal
from teachkit.rundir.layout import RunDir
from teachkit.rundir.readers import read_accepted, read_rejected
from teachkit.rundir.state import run_state

__all__ = ["check_identity", "check_manifest"]


def _refuse(rundir: RunDir, changes: list[str]) -> RunDirError:
    return RunDirError(
        f"{rundir.path} cannot be resumed by this command: {'; '.join(changes)}. "
        "Records of two different runs must not mix. Use another --out directory, or "
        "delete that one to start over.",
        path=str(rundir.path),
    )


def check_identity(
    rundir: RunDir, recipe: Recipe, identity: RunIdentity, rows: list[Record] | None
) -> None:
    """A run directory holds one run: refuse another recipe, changed inputs, other rows."""
    journal = read_journal(rundir.journal_path)
    run = journal.run
    if run is not None:
        try:
            stored = RunIdentity.from_dict(run.identity)
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise RunDirError(
                f"{rundir.journal_path} has a damaged identity line ({exc}). Restore it from a "
                "backup, or start a fresh run directory.",
                path=str(rundir.journal_path),
            ) from None
        changes = stored.differences(identity)
        if changes:
            raise _refuse(rundir, changes)
        return
    if journal.entries:
        _check_format1(rundir, recipe, rows, journal.jobs())


def _check_format1(
    rundir: RunDir, recipe: Recipe, rows: list[Record] | None, jobs: Iterable[JobEntry]
) -> None:
    """A directory written before the journal held the identity: check what it has."""
    curated = any(entry.job.key.startswith("row:") for entry in jobs)
    if curated != (rows is not None):
        made = "`teachkit filter`" if curated else "`teachkit run`"
        raise _refuse(rundir, [f"it was made by {made}"])
    if rows is not None:  # the rows are keyed by content: every committed one must be there
        ids = {record.id for record in rows}
        kept = [r.id for r in read_accepted(rundir.path)]
        kept += [r.record.id for r in read_rejected(rundir.path)]
        if any(i not in ids for i in kept):
            raise _refuse(rundir, ["it was filtered from a different input file"])
        return
    old: Any = None
    if rundir.recipe_path.is_file():
        try:
            stamp = yaml.safe_load(rundir.recipe_path.read_text(encoding="utf-8")) or {}
            old = stamp.get("teachkit", {}).get("recipe_hash")
        except (yaml.YAMLError, UnicodeDecodeError, AttributeError):
            old = None
    if old is None:  # the committed records say which recipe made them
        first = next(iter(read_accepted(rundir.path)), None)
        old = first.meta.get("recipe_hash") if first is not None else None
    new = recipe_hash(recipe)
    if old and old != new:
        raise _refuse(
            rundir, [f"it holds a run of a different recipe (hash {old}, this one is {new})"]
        )


def check_manifest(rundir: RunDir) -> dict[str, Any]:
    """The journal is the truth; a manifest that counts more is a damaged journal. Returns the
    manifest (empty when there is none)."""
    state = run_state(rundir.path)
    manifest = rundir.read_manifest() or {}
    said = manifest.get("accepted")
    if isinstance(said, int) and said > state.accepted:
        raise RunDirError(
            f"{rundir.manifest_path} says {said} records were accepted, but the journal "
            f"commits only {state.accepted}: journal.jsonl was damaged or replaced, and "
            "nothing was changed. Restore journal.jsonl from a backup; or, to keep the "
            f"{state.accepted} committed records and make the rest again, move manifest.json "
            "away (e.g. rename it manifest.json.bak) and run the same command again.",
            path=str(rundir.path),
        )
    return manifest
