"""CPU the engine spends per record, with an in-process scripted teacher (no network).

A whole ``teachkit.run`` of a ``templated`` recipe (run directory, journal, request cache,
manifest) against :class:`teachkit.testing.ScriptedBackend`, so the process CPU time is the
engine's, the generator's and the store's alone. Compare two versions of teachkit by running
this script with each, alternately, in the same minutes (the minimum of the repeats is the
least disturbed figure)::

    python bench/engine_cpu.py --records 5000 --repeat 3
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import teachkit
from teachkit.recipe.models import Recipe
from teachkit.testing.scripted import ScriptedBackend


def once(records: int, concurrency: int) -> float:
    """Microseconds of CPU per accepted record for one run."""
    recipe = Recipe.model_validate(
        {
            "name": "engine-cpu",
            "teacher": {"backend": "scripted", "max_concurrency": concurrency},
            "generator": {
                "kind": "templated",
                "count": records,
                "prompt": "Question about {{ topic }}: why does the sky look blue at noon?",
                "axes": {"topic": [f"topic {i}" for i in range(records)]},
            },
        }
    )
    with tempfile.TemporaryDirectory() as tmp:
        start = time.process_time()
        summary = teachkit.run(recipe, Path(tmp) / "run")
        spent = time.process_time() - start
    assert summary.accepted == records, summary
    return spent * 1e6 / records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    ScriptedBackend.use()
    runs = [once(args.records, args.concurrency) for _ in range(args.repeat)]
    shown = ", ".join(f"{r:.0f}" for r in runs)
    print(
        f"{args.records} records, C={args.concurrency}: CPU µs/record {shown}; min {min(runs):.0f}"
    )


if __name__ == "__main__":
    main()
