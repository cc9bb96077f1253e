"""What SIGINT (Ctrl-C) and SIGTERM do, in two phases. Before a command runs nothing is written yet, so a
signal ends the process at once with one line. While a command runs, both raise KeyboardInterrupt (SIGTERM
as its subclass `Terminated`) so that every `finally` removes its temporaries, and the command's error
handler prints one line. Exit codes: 130 for SIGINT, 143 for SIGTERM.

Except during an import: commands import torch lazily (so `--help` stays fast), and an exception raised
while torch's import runs Python code called from C++ escapes through pybind11 and aborts the process
(exit -6, or -2 for SIGINT, with a C++ message) instead of unwinding. A signal that arrives while any
module is being imported therefore ends the process at once, as before a command, after removing the
temporaries of the outputs being written (a write in progress lives under a temporary name, so nothing
half-written is left under a real one; a `kill -9` leaves its temporary to the next write).

After the command has returned, its outputs are complete and Python's shutdown puts the default actions back
(its own finalisation, not ours): a signal then ends the process as the OS does (-15 to a parent in Python,
143 or 130 to a shell), without a line."""
from __future__ import annotations

import os
import signal
import sys
from contextlib import contextmanager
from typing import Iterator

from hardener.files import remove_live_temporaries

EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that cleanup runs before the exit."""

    exit_code = 143


def _exit_at_once(signum: int, frame) -> None:
    sys.stderr.write(f"interrupted ({signal.Signals(signum).name}) before the command started; nothing was written\n")
    sys.stderr.flush()
    os._exit(EXIT_CODES.get(signum, 1))


def _raise_interrupt(signum: int, frame) -> None:
    if importing():
        remove_live_temporaries()
        sys.stderr.write(f"interrupted ({signal.Signals(signum).name}) while loading libraries; stopped at once, "
                         "nothing half-written is left under an output's name\n")
        sys.stderr.flush()
        os._exit(EXIT_CODES.get(signum, 1))
    raise Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()


def importing() -> bool:
    """A module is being imported right now (its spec is marked `_initializing` until it has run)."""
    return any(getattr(getattr(module, "__spec__", None), "_initializing", False)
               for module in list(sys.modules.values()))


def exit_at_once_on_signals() -> None:
    """For the console script's start-up (imports, option parsing)."""
    for sig in EXIT_CODES:
        signal.signal(sig, _exit_at_once)


@contextmanager
def interrupts_raise() -> Iterator[None]:
    """While a command runs; the previous handlers come back afterwards. A no-op off the main thread."""
    try:
        previous = {sig: signal.signal(sig, _raise_interrupt) for sig in EXIT_CODES}
    except ValueError:  # signal handlers can only be set from the main thread
        yield
        return
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
