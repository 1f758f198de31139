"""Progress reporting: the engine emits snapshots, the caller decides how to show them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

__all__ = ["NullProgress", "Progress", "ProgressSink"]


@dataclass(slots=True)
class Progress:
    count: int
    accepted: int = 0
    rejected: int = 0
    requests: int = 0  # answers received this session (sent or cached)
    cached: int = 0
    in_flight: int = 0
    stage: str = "starting"
    completion_tokens: int = 0
    elapsed: float = 0.0
    drops: dict[str, int] = field(default_factory=dict)

    @property
    def tokens_per_second(self) -> float:
        return self.completion_tokens / self.elapsed if self.elapsed > 0 else 0.0


class ProgressSink(Protocol):
    def update(self, progress: Progress) -> None: ...

    def close(self, progress: Progress) -> None: ...


class NullProgress:
    def update(self, progress: Progress) -> None:
        pass

    def close(self, progress: Progress) -> None:
        pass
