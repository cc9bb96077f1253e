"""`hardener plugins`: the registered architectures, their variants and input specs."""
from __future__ import annotations

from rich.table import Table

from hardener.cli.common import JsonOption, console, handles_errors, print_json


@handles_errors
def plugins(as_json: bool = JsonOption) -> None:
    """List architecture plugins (built-in and third-party), their variants and default input specs."""
    from hardener import registry

    rows = [{"name": p.name, "variants": list(p.variants), "input_spec": p.input_spec(p.variants[0]).describe(),
             "description": p.description} for p in registry.all_plugins()]
    failed = registry.failures()
    if as_json:
        print_json({"plugins": rows, "failed": failed})
        return
    table = Table(title="Architecture plugins (entry-point group hardener.architectures)")
    for column in ("name", "variants", "default input spec", "about"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["name"], ", ".join(row["variants"]), row["input_spec"], row["description"])
    console.print(table)
    for name, reason in failed.items():
        console.print(f"[yellow]plugin {name!r} failed to load:[/] {reason}", highlight=False)
