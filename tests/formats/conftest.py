from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from teachkit.records import Record
from teachkit.rundir.layout import RunDir
from teachkit.rundir.store import write_records

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
SELF_INSTRUCT = DATA / "self-instruct"

_WORDS = [
    "river",
    "lantern",
    "quartz",
    "meadow",
    "falcon",
    "copper",
    "violin",
    "harbor",
    "pepper",
    "orbit",
    "canyon",
    "marble",
    "thunder",
    "willow",
    "saffron",
    "glacier",
    "compass",
    "ember",
    "lagoon",
    "timber",
    "cobalt",
    "prairie",
    "walnut",
    "beacon",
    "summit",
    "velvet",
    "anchor",
    "mosaic",
    "tundra",
    "cinder",
    "harvest",
    "nebula",
    "pebble",
    "quiver",
    "ribbon",
    "sable",
    "tangerine",
    "umber",
    "vortex",
    "wicker",
    "yonder",
    "zephyr",
    "alder",
    "birch",
    "cedar",
]


def sentence(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(words))


def synthetic(n: int, seed: int = 0, start: int = 0) -> list[Record]:
    """``n`` distinct single-turn records with random word salad (never near a real text)."""
    rng = random.Random(seed)
    out = []
    for i in range(start, start + n):
        user = f"Task {i}: {sentence(rng, 12)}?"
        out.append(
            Record(
                messages=[
                    {"role": "user", "content": user},
                    {"role": "assistant", "content": sentence(rng, 20) + "."},
                ],
                meta={"source": "synthetic"},
            )
        )
    return out


def write_run(
    run_dir: Path, records: Sequence[Record], shards: int = 2, status: str | None = "complete"
) -> Path:
    """A run directory whose store holds ``records`` (in order), committed over ``shards``, with
    the manifest a run that ended with ``status`` writes (None: no manifest, as after a kill
    before the first one)."""
    per_shard = max(1, -(-len(records) // shards))
    batches = [list(records[i * per_shard : (i + 1) * per_shard]) for i in range(shards)]
    write_records(run_dir, batches)
    if status is not None:
        RunDir(run_dir).write_manifest(
            {"status": status, "accepted": len(records), "requested": len(records)}
        )
    return run_dir


@pytest.fixture
def make_run(tmp_path: Path) -> Callable[[Sequence[Record]], Path]:
    counter = iter(range(1000))

    def make(records: Sequence[Record]) -> Path:
        return write_run(tmp_path / f"run{next(counter)}", records)

    return make
