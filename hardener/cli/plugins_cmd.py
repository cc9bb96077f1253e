"""`hardener plugins`: the registered architectures, their variants and input specs."""
from __future__ import annotations

from rich.table import Table

from hardener.cli.common import JsonOption, console, handles_errors, print_json


@handles_errors
def plugins(as_json: bool = JsonOption) -> None:
    """List architecture plugins (built-in and third-party), their variants and default input specs."""
    from hardener.jobs.plugins import run_plugins

    listed = run_plugins()
    if as_json:
        print_json(listed)
        return
    table = Table(title="Architecture plugins (entry-point group hardener.architectures)")
    for column in ("name", "variants", "default input spec", "about"):
        table.add_column(column)
    for row in listed["plugins"]:
        table.add_row(row["name"], ", ".join(row["variants"]), row["input_spec"], row["description"])
    console.print(table)
    for name, reason in listed["failed"].items():
        console.print(f"[yellow]plugin {name!r} failed to load:[/] {reason}", highlight=False)
