"""The console script: signal handling is in place before anything heavy is imported (see signals.py)."""
from __future__ import annotations


def main() -> None:
    from hardener.cli.signals import exit_at_once_on_signals

    exit_at_once_on_signals()
    from hardener import ranks

    if ranks.world_size() > 1:  # launched by torchrun: join the others; only rank 0 talks and writes
        ranks.start()
        if not ranks.is_main():
            import os
            import sys

            sys.stdout = open(os.devnull, "w")
    from hardener.cli.app import app

    app()
