"""CLI commands: `timeline project`, the projection worker (and `--rebuild` from the log)."""

from __future__ import annotations

import logging
import signal
from types import FrameType
from typing import TYPE_CHECKING

import typer

from entrypoints.cli.console import err, warn_unknown_variables

if TYPE_CHECKING:
    from projections.runner import ProjectionRunner


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command()(project)


def project(
    rebuild: bool = typer.Option(
        False,
        "--rebuild",
        help="First replay the whole log into "
        "fresh tables (progress bar), swapped in when complete.",
    ),
    once: bool = typer.Option(
        False,
        "--once",
        help="Catch up to the head of the log and exit instead of waiting for new events.",
    ),
    batch_size: int = typer.Option(
        500, "--batch-size", min=1, max=10_000, help="Events applied per transaction."
    ),
    verbose: bool = typer.Option(
        False, "--verbose", "-v", help="Print the position after every committed batch."
    ),
) -> None:
    """Run the projection worker: apply new events to the read models as they are recorded.

    One worker per projection is active (a PostgreSQL advisory lock, or a file lock beside a
    SQLite database); a second one stands by until the first stops. Stops on Ctrl-C/SIGTERM.
    """
    from timeline.bootstrap import bootstrap

    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    warn_unknown_variables()
    services = bootstrap()
    runner = services.projections
    runner.batch_size = batch_size
    if verbose:
        runner.on_batch = lambda position: err().print(f"projected up to position {position}")

    def stop(signum: int, frame: FrameType | None) -> None:
        runner.stop(timeout=0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        if rebuild:
            if not runner.lock.acquire():
                err().print(
                    "[red]another projection worker is active; stop it before rebuilding[/]"
                )
                raise typer.Exit(1)
            _rebuild(runner)
            if once:
                return
        if once:
            runner.run(once=True)
        else:
            runner.serve()  # survives a database restart
        err().print(
            f"read models at position {runner.position()} "
            f"(log head {services.timeline.head_position()})"
        )
    finally:
        runner.lock.release()
        services.close()


def _rebuild(runner: ProjectionRunner) -> None:
    """Replay the log into fresh tables with a progress bar."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("rebuilding read models"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=err()) as progress:
        task = progress.add_task("rebuild", total=runner.events.head_position() or 1)

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        position = runner.rebuild(advance)
        progress.update(task, completed=position, total=max(position, 1))
    err().print(f"rebuilt: read models at position {position}")
