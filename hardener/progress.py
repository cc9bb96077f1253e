"""Progress reporting: the library calls a plain callback; only the CLI draws Rich bars."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable


@dataclass
class ProgressEvent:
    task: str  # what is running, e.g. "train classifier" or "train gan"
    completed: int  # units done (steps, epochs, ...)
    total: int
    metrics: dict[str, float] = field(default_factory=dict)  # latest loss, accuracy, ...
    message: str = ""  # an occasional line worth showing (checkpoint written, epoch summary)


ProgressFn = Callable[[ProgressEvent], None]


def no_progress(event: ProgressEvent) -> None:
    """The default callback: library calls are silent unless the caller asks otherwise."""
