"""Progress display on stderr (stdout stays clean for --json and pipes)."""
from __future__ import annotations

import contextlib
from typing import Callable, Iterator

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                           TimeRemainingColumn)

stderr = Console(stderr=True)


class Reporter:
    """A thin wrapper so stages report progress without knowing about rich."""

    def __init__(self, enabled: bool = True):
        self.enabled = enabled and stderr.is_terminal
        self._progress: Progress | None = None

    def __enter__(self) -> "Reporter":
        if self.enabled:
            self._progress = Progress(
                TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                console=stderr, transient=True)
            self._progress.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self._progress:
            self._progress.__exit__(*exc)

    @contextlib.contextmanager
    def task(self, description: str, total: int | None) -> Iterator[Callable[[int], None]]:
        """Yields advance(n); shows frames per second while it runs."""
        if not self._progress:
            yield lambda n=1: None
            return
        p = self._progress
        tid = p.add_task(description, total=total, rate="")

        def advance(n: int = 1) -> None:
            p.advance(tid, n)
            speed = p.tasks[p.task_ids.index(tid)].speed
            if speed:
                p.update(tid, rate=f"{speed:.1f} fps")

        try:
            yield advance
        finally:
            p.remove_task(tid)

    def log(self, message: str) -> None:
        (self._progress.console if self._progress else stderr).print(message, highlight=False)
