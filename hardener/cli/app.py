"""The Typer app. Commands import torch lazily so `hardener --help` stays fast."""
from __future__ import annotations

import sys

import typer
from typer.core import TyperGroup

try:  # typer >= 0.24 vendors click; older releases use the click package
    from typer._click import exceptions as click_exceptions
except ImportError:  # pragma: no cover - depends on the installed typer
    from click import exceptions as click_exceptions

from hardener import __version__
from hardener.cli.attack import attack
from hardener.cli.audit_mia import audit_mia
from hardener.cli.compare import compare
from hardener.cli.common import set_debug
from hardener.cli.data import data_app
from hardener.cli.demo import demo
from hardener.cli.export import export
from hardener.cli.import_cmd import import_model
from hardener.cli.info import info
from hardener.cli.plugins_cmd import plugins
from hardener.cli.protect import protect
from hardener.cli.scan import scan
from hardener.cli.synthesize import synthesize
from hardener.cli.train import train_app
from hardener.cli.verify import verify


class OneLineUsageErrors(TyperGroup):
    """Usage errors (an option that does not parse, a missing argument) as one red line and exit 2, like
    every other bad input, instead of click's framed box."""

    def main(self, *args, standalone_mode: bool = True, **kwargs):  # type: ignore[override]
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)
        try:
            code = super().main(*args, standalone_mode=False, **kwargs)
        except click_exceptions.UsageError as exc:
            from rich.markup import escape

            from hardener.cli.common import err_console

            command = exc.ctx.command_path if exc.ctx is not None else "hardener"
            err_console.print(f"[bold red]error:[/] {escape(exc.format_message())} - see `{escape(command)} --help`",
                              highlight=False, soft_wrap=True)
            sys.exit(exc.exit_code)
        except click_exceptions.ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except typer.Abort:
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


app = typer.Typer(
    cls=OneLineUsageErrors,
    name="hardener",
    help="Harden face-recognition models against model inversion, prove it, and export them for serving.\n\n"
         "Exit codes: 0 success, 1 a release gate failed, 2 bad input or usage, 3 internal error.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"hardener {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks instead of one-line errors."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    set_debug(debug)


app.command()(plugins)
app.command()(info)
app.command(name="import")(import_model)
app.command()(export)
app.command()(attack)
app.command()(scan)
app.command(name="audit-mia")(audit_mia)
app.command()(protect)
app.command()(synthesize)
app.command()(verify)
app.command()(compare)
app.command()(demo)
app.add_typer(data_app, name="data")
app.add_typer(train_app, name="train")
