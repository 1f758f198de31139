"""Mix real examples into the synthetic training set at a given fraction.

``real_fraction`` is the share of real rows in the final train set:
``real / (real + synthetic) = real_fraction``, so ``round(f * s / (1 - f))`` real rows join ``s``
synthetic ones. The real rows are a seeded sample of the real file; when it holds fewer than
needed, all of them are used and the achieved fraction is reported.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

from teachkit.formats.split import order_key, seeded_order
from teachkit.records import Record

__all__ = ["Mix", "mix_real", "real_needed"]

log = logging.getLogger("teachkit")


@dataclass(frozen=True, slots=True)
class Mix:
    train: list[Record]
    real_used: int
    real_wanted: int

    @property
    def real_fraction(self) -> float:
        """The achieved share of real rows in ``train``."""
        return self.real_used / len(self.train) if self.train else 0.0


def real_needed(synthetic: int, real_fraction: float) -> int:
    """Real rows to add to ``synthetic`` rows so that they make ``real_fraction`` of the total."""
    if not 0.0 <= real_fraction < 1.0:
        raise ValueError(f"real_fraction must be in [0, 1), got {real_fraction}")
    return math.floor(real_fraction * synthetic / (1.0 - real_fraction) + 0.5)


def mix_real(
    synthetic: Sequence[Record], real: Sequence[Record], real_fraction: float, seed: int = 0
) -> Mix:
    """Synthetic rows plus a seeded sample of ``real``, interleaved in a seeded order."""
    wanted = real_needed(len(synthetic), real_fraction)
    if wanted > len(real):
        log.warning(
            "real_fraction %.3f needs %d real examples but only %d are available; using them all",
            real_fraction,
            wanted,
            len(real),
        )
    ranked = sorted(range(len(real)), key=lambda i: (order_key(seed, "mix\x00" + real[i].id), i))
    sample = [real[i] for i in ranked[:wanted]]
    return Mix(
        train=seeded_order([*synthetic, *sample], seed), real_used=len(sample), real_wanted=wanted
    )
