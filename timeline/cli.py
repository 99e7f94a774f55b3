"""The `timeline` command line."""

from __future__ import annotations

import typer

app = typer.Typer(help="Policy Timeline: an event-sourced, bitemporal timeline of policy.",
                  no_args_is_help=True)


@app.command()
def version() -> None:
    """Print the version."""
    from importlib.metadata import version as package_version

    typer.echo(package_version("policy-timeline"))


def main() -> None:
    app()
