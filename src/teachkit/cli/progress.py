"""Progress display: a live rich bar on a terminal, periodic plain lines otherwise."""

from __future__ import annotations

import time

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
from rich.progress import Progress as RichProgress

from teachkit.engine.progress import Progress

__all__ = ["make_progress"]


def _line(p: Progress) -> str:
    return (
        f"{p.accepted}/{p.count} accepted, {p.rejected} rejected, {p.requests} answers "
        f"({p.cached} cached), {p.in_flight} in flight, {p.tokens_per_second:.1f} tok/s, "
        f"stage {p.stage}"
    )


class LiveProgress:
    def __init__(self, console: Console) -> None:
        self.bar = RichProgress(
            TextColumn("[bold]{task.fields[stage]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("rejected {task.fields[rejected]}"),
            TextColumn("{task.fields[tps]} tok/s"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self.task = self.bar.add_task("run", total=None, stage="starting", rejected=0, tps="0.0")
        self.bar.start()

    def update(self, p: Progress) -> None:
        self.bar.update(
            self.task,
            total=p.count,
            completed=p.accepted,
            stage=p.stage,
            rejected=p.rejected,
            tps=f"{p.tokens_per_second:.1f}",
        )

    def close(self, p: Progress) -> None:
        self.update(p)
        self.bar.stop()


class PlainProgress:
    """No terminal: one line every ``every`` seconds, and a last one at the end."""

    def __init__(self, console: Console, every: float = 5.0) -> None:
        self.console = console
        self.every = every
        self.last = 0.0

    def update(self, p: Progress) -> None:
        now = time.monotonic()
        if now - self.last >= self.every:
            self.last = now
            self.console.print(
                f"[progress] {_line(p)}", highlight=False, soft_wrap=True, markup=False
            )

    def close(self, p: Progress) -> None:
        self.console.print(f"[progress] {_line(p)}", highlight=False, soft_wrap=True, markup=False)


class QuietProgress:
    def update(self, p: Progress) -> None:
        pass

    def close(self, p: Progress) -> None:
        pass


def make_progress(
    console: Console, quiet: bool = False
) -> LiveProgress | PlainProgress | QuietProgress:
    if quiet:
        return QuietProgress()
    if console.is_terminal:
        return LiveProgress(console)
    return PlainProgress(console)
