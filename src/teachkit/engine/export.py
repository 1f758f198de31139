"""``export``: a run directory's accepted records -> training files (``teachkit export``).

The engine reads the run directory, says what state the run is in, and hands the records and a
validated :class:`~teachkit.recipe.export.ExportSpec` to
:func:`teachkit.formats.export.export_records`, which writes the files::

    from teachkit.engine.export import export

    summary = export("runs/my-run", "data", format="chat", val_fraction=0.1, seed=0)
    summary = export("runs/my-run", "data", ExportSpec(format="alpaca", file_format="parquet"))

A run is ``complete``, ``incomplete`` (it stopped early: max_requests, an exhausted generator, a
budget, a failure), ``running`` (another process holds its lock) or ``killed`` (it stopped
mid-run without a word: killed or interrupted; run it again to resume). The state, with the
counts, is logged as a warning when the run is not complete and recorded in ``export.json``;
``require_complete`` refuses anything but a complete run.
"""

from __future__ import annotations

import fcntl
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from teachkit.errors import ExportError, RunDirError
from teachkit.formats.export import ExportSummary, export_records, row_problems, writable_format
from teachkit.formats.readers import check_data_file
from teachkit.formats.writers import require_pyarrow
from teachkit.recipe.export import ExportSpec
from teachkit.recipe.models import Recipe
from teachkit.recipe.paths import resolve_input
from teachkit.rundir.layout import RunDir
from teachkit.rundir.store import read_accepted

__all__ = ["RunState", "check_export", "export", "export_for_recipe", "run_state"]

log = logging.getLogger("teachkit")

_FINISHED = ("complete", "already_complete")
_STOPPED_EARLY = ("incomplete", "exhausted", "stopped", "failed")


@dataclass(frozen=True, slots=True)
class RunState:
    """What state a run directory is in, from its manifest, its lock and its journal."""

    #: complete, incomplete, running or killed
    state: str
    #: the manifest's status (None without a manifest)
    status: str | None
    #: records committed in the journal (what an export reads)
    accepted: int
    #: records the recipe asks for (None when unknown)
    requested: int | None

    @property
    def complete(self) -> bool:
        return self.state == "complete"

    def sentence(self, run_dir: Path) -> str:
        of = f"{self.accepted} of {self.requested}" if self.requested else f"{self.accepted}"
        if self.state == "complete":
            return f"The run {run_dir} is complete ({of} records accepted)."
        if self.state == "running":
            return (
                f"The run {run_dir} is still running ({of} records accepted so far): the export "
                "holds the records committed up to now."
            )
        if self.state == "killed":
            return (
                f"The run {run_dir} stopped mid-run, killed or interrupted ({of} records "
                "accepted): the export holds only those. Run the recipe again to resume it, "
                "then export."
            )
        return (
            f"The run {run_dir} is incomplete (status {self.status}, {of} records accepted): "
            "the export holds only those; see `teachkit status` for why it stopped."
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _locked(rundir: RunDir) -> bool:
    """Whether another process holds the run directory's lock (a run is writing it)."""
    path = rundir.path / ".lock"
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed below; never creates the file
    except OSError:
        return False
    with handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    return False


def run_state(run_dir: str | Path, accepted: int) -> RunState:
    """The state of ``run_dir`` whose journal holds ``accepted`` committed records."""
    rundir = RunDir(run_dir)
    manifest = rundir.read_manifest() or {}
    status = manifest.get("status")
    requested = manifest.get("requested")
    requested = int(requested) if isinstance(requested, int) else None
    if _locked(rundir):
        state = "running"
    elif status in _FINISHED and int(manifest.get("accepted", -1)) == accepted:
        state = "complete"
    elif status in _STOPPED_EARLY and int(manifest.get("accepted", -1)) == accepted:
        state = "incomplete"
    else:  # "running"/"interrupted" without a process, no manifest, or counts that disagree
        state = "killed"
    return RunState(state=state, status=status, accepted=accepted, requested=requested)


def _spec(spec: ExportSpec | None, options: dict[str, Any]) -> ExportSpec:
    if spec is not None:
        if options:
            raise ExportError(
                f"Pass either an ExportSpec or keyword options, not both (got {sorted(options)})."
            )
        return spec
    try:
        return ExportSpec.model_validate(options)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'options'}: "
            f"{err['msg'].removeprefix('Value error, ')}"
            for err in exc.errors()
        )
        raise ExportError(f"The export options are invalid: {problems}.") from None


def export(
    run_dir: str | Path,
    to: str | Path | None = None,
    spec: ExportSpec | None = None,
    **options: Any,
) -> ExportSummary:
    """Write training files from the accepted records of ``run_dir`` into ``to`` (default: the
    spec's ``to``, else ``<run_dir>/dataset``), as ``spec`` (or the keyword ``options``, the
    fields of :class:`ExportSpec`) says. Returns what was written (also in ``to/export.json``)."""
    spec = _spec(spec, options)
    run_dir = Path(run_dir)
    out = Path(to) if to is not None else Path(spec.to) if spec.to else run_dir / "dataset"
    if not (run_dir / "accepted").is_dir():
        raise RunDirError(
            f"{run_dir} is not a run directory (it has no accepted/ folder). "
            "Pass the directory that `teachkit run` wrote.",
            path=str(run_dir),
        )
    if out.resolve() in {(run_dir / part).resolve() for part in ("accepted", "rejected")}:
        raise RunDirError(
            f"Cannot export into {out}: it holds the run's records. Pick another --to.",
            path=str(out),
        )
    fmt = writable_format(spec.format)
    records = list(read_accepted(run_dir))
    state = run_state(run_dir, len(records))
    if spec.require_complete and not state.complete:
        raise ExportError(
            state.sentence(run_dir) + " Nothing was exported (require_complete is set).",
            path=str(run_dir),
            state=state.state,
        )
    if not records:
        raise RunDirError(
            f"{run_dir} has no accepted records yet. Run the recipe first.", path=str(run_dir)
        )
    if not state.complete:
        log.warning("%s", state.sentence(run_dir))
    example = ""
    for record in records:
        row, problems = row_problems(fmt, record)
        if row is not None:
            break
        example = example or "; ".join(problems)
    else:
        raise RunDirError(
            f"None of the {len(records)} accepted records of {run_dir} can be a {fmt.name} row "
            f"(for example: {example}). Pick a format that fits the recipe's records.",
            path=str(run_dir),
        )
    return export_records(records, out, spec, source_run=str(run_dir), run_state=state.to_dict())


def _recipe_spec(recipe: Recipe) -> ExportSpec | None:
    """The recipe's export section with relative data paths resolved against its folder."""
    spec = recipe.export
    if spec is None:
        return None
    changes: dict[str, Any] = {}
    for key in ("validation", "mix_real"):
        value = getattr(spec, key)
        if value is not None:  # confined to the recipe's folder (teachkit.recipe.paths)
            where = f"export.{key} file"
            changes[key] = str(
                resolve_input(value, recipe.base_dir, allowed=recipe.allowed_paths, what=where)
            )
    return spec.model_copy(update=changes)


def check_export(recipe: Recipe) -> None:
    """Fail now, before a run starts, on an export section that could not be written at its end:
    an unknown or read-only format, a missing extra, a data file that is not there."""
    spec = _recipe_spec(recipe)
    if spec is None:
        return
    writable_format(spec.format)
    if spec.file_format != "jsonl":
        require_pyarrow()
    for path in (spec.validation, spec.mix_real):
        if path is not None:
            check_data_file(Path(path))


def export_for_recipe(recipe: Recipe, run_dir: str | Path) -> ExportSummary | None:
    """The recipe's ``export:`` section applied to its run directory (None without one).

    Relative ``validation`` and ``mix_real`` paths resolve against the recipe's folder, a
    relative ``to`` against the run directory."""
    spec = _recipe_spec(recipe)
    if spec is None:
        return None
    run_dir = Path(run_dir)
    return export(run_dir, run_dir / spec.to if spec.to else run_dir / "dataset", spec)
