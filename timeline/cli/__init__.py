"""The `timeline` command line: one module per group of commands, registered here."""

from __future__ import annotations

import typer

from timeline.cli import io, project, query, serve, tokens, webhooks

app = typer.Typer(
    help="Policy Timeline: an event-sourced, bitemporal timeline of corporate policy.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)



@app.command()
def version() -> None:
    """Print the installed version."""
    from importlib.metadata import version as package_version

    typer.echo(package_version("policy-timeline"))


for module in (serve, query, io, project, tokens, webhooks):
    module.register(app)


def main() -> None:
    """Console-script entry point."""
    app()
