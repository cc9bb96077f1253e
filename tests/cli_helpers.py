"""What CLI tests share: invoking the app with any argument types, and the bad-input contract."""
from __future__ import annotations

from typer.testing import CliRunner

from hardener.cli.app import app

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def assert_bad_input(result, *phrases: str) -> None:
    """Exit 2, one line, no traceback, and every phrase named."""
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    for phrase in phrases:
        assert phrase in result.output, result.output
