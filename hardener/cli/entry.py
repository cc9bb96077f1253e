"""The console script: signal handling is in place before anything heavy is imported (see signals.py)."""
from __future__ import annotations


def main() -> None:
    from hardener.cli.signals import exit_at_once_on_signals

    exit_at_once_on_signals()
    from hardener.cli.app import app

    app()
