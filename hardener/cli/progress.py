"""The one place progress events become Rich progress bars."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from hardener.cli.common import console
from hardener.progress import ProgressEvent, ProgressFn, no_progress


@contextmanager
def progress_bar(enabled: bool = True) -> Iterator[ProgressFn]:
    """Yield a callback that draws one bar per task, with its latest metrics; silent when disabled."""
    if not enabled:
        yield no_progress
        return
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[metrics]}"),
               TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=False) as bars:
        tasks: dict[str, int] = {}

        def update(event: ProgressEvent) -> None:
            if event.task not in tasks:
                tasks[event.task] = bars.add_task(event.task, total=event.total, metrics="")
            metrics = "  ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in event.metrics.items())
            bars.update(tasks[event.task], completed=event.completed, total=event.total, metrics=metrics)
            if event.message:
                bars.console.print(event.message, highlight=False)

        yield update
