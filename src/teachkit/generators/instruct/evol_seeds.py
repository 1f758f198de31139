"""Where Evol-Instruct's first instructions come from: a seed file, or another run's records.

A seed file is read by :func:`teachkit.formats.seeds.load_seed_tasks`, as for Self-Instruct; a
task's first input is appended to its instruction, as the original does with Alpaca's data.

``seeds: {run: path/to/run}`` takes the accepted records of a finished run directory: their user
turn is the instruction, and an Evol-Instruct record's evolution chain goes on from where it
stopped. Generators sit below the run directory's own reader (layer 3 under 4), so the shards
``accepted/*.jsonl`` are read here with the formats' record reader; they are only read from a run
that is not running, whose shards hold exactly its committed records (a killed run is resumed
first, which cuts what it had not committed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from teachkit.errors import DataError
from teachkit.formats.readers import read_records
from teachkit.formats.seeds import load_seed_tasks, resolve_seed_path
from teachkit.recipe.base import StrictModel

__all__ = ["EvolSeed", "RunSeeds", "load_evol_seeds"]


class RunSeeds(StrictModel):
    """``seeds: {run: runs/previous}``: the accepted records of another run."""

    run: str


@dataclass(slots=True)
class EvolSeed:
    id: str
    instruction: str
    #: evolution steps it already went through (from an earlier Evol-Instruct run)
    chain: list[dict[str, Any]] = field(default_factory=list)


def _from_file(location: str, base_dir: str | Path) -> list[EvolSeed]:
    seeds = []
    for task in load_seed_tasks(location, base_dir):
        given = task.instances[0][0].strip() if task.instances else ""
        text = task.instruction.strip()
        seeds.append(EvolSeed(task.id, f"{text}\n{given}" if given else text))
    return seeds


def _from_run(location: str, base_dir: str | Path) -> list[EvolSeed]:
    run = resolve_seed_path(location, base_dir)
    manifest = run / "manifest.json"
    if not manifest.is_file():
        raise DataError(
            f"{run} is not a teachkit run directory (it has no manifest.json). Point "
            "generator.seeds.run at the --out directory of a finished run.",
            path=str(run),
        )
    try:
        status = orjson.loads(manifest.read_bytes()).get("status")
    except (OSError, orjson.JSONDecodeError) as exc:
        raise DataError(f"Cannot read {manifest}: {exc}.", path=str(manifest)) from exc
    if status == "running":
        raise DataError(
            f"The run in {run} is running, or was killed before it finished, so its shards may "
            "hold records it never committed. Let it finish (run `teachkit run` on it again), "
            "then use it as seeds.",
            path=str(run),
        )
    seeds: list[EvolSeed] = []
    for shard in sorted((run / "accepted").glob("*.jsonl")):
        for record in read_records(shard, source="synthetic"):
            if not record.user.strip():
                continue
            chain = record.meta.get("evolution")
            steps = list(chain) if record.meta.get("generator") == "evol_instruct" and chain else []
            seeds.append(EvolSeed(record.id, record.user.strip(), steps))
    if not seeds:
        raise DataError(
            f"The run in {run} has no accepted record with a user turn to evolve.", path=str(run)
        )
    return seeds


def load_evol_seeds(seeds: str | RunSeeds, base_dir: str | Path) -> list[EvolSeed]:
    """The seed instructions of an Evol-Instruct run, in order."""
    if isinstance(seeds, RunSeeds):
        return _from_run(seeds.run, base_dir)
    return _from_file(seeds, base_dir)
