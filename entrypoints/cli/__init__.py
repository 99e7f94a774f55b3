"""The `timeline` command line: one module per group of commands, registered here.

Errors are turned into one line on stderr and a non-zero exit in one place (`main`): a user
of the CLI sees what was wrong and with which option or line, never a traceback
(set TIMELINE_DEBUG=1 to see one).

Importing this package loads typer and the command modules only: each command imports what
it needs when it runs, so `timeline version` or a point-in-time answer starts fast.
"""

from __future__ import annotations

import os
import sys

import typer

from entrypoints.cli import (
    evidence,
    io,
    project,
    query,
    redact,
    search,
    serve,
    tokens,
    verify,
    webhooks,
)

app = typer.Typer(
    help="Policy Timeline: an event-sourced, bitemporal timeline of corporate policy.\n\n"
    "Start with `timeline serve --demo`, then ask `timeline on meta/hate-speech 2022-03-11 "
    "--tz Europe/Moscow`. The database is TIMELINE_DATABASE_URL (default: the SQLite file "
    "timeline.db in the working directory).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)

#: Exit codes: 1 refused input or not found, 3 conflict, 4 database unavailable or holding no
#: log (a read names the URL), 70 a bug, 78 a setting (TIMELINE_*) is invalid; verify adds
#: 5 (tampered) and 6 (empty log), verify-evidence 5 (a part did not verify); serve adds 7
#: (the address is in use or not ours to bind); a read with no answer adds 8 (not yet recorded
#: at --known-at) and 9 (known, but no version in force at --valid-at), beside 1 for never
#: recorded (API NOT_YET_KNOWN, NOT_IN_FORCE, NOT_FOUND).
EXIT_REFUSED, EXIT_CONFLICT, EXIT_DATABASE, EXIT_BUG, EXIT_CONFIG = 1, 3, 4, 70, 78
EXIT_ADDRESS = 7
EXIT_NOT_YET_KNOWN, EXIT_NOT_IN_FORCE = 8, 9
#: The exit code of each reason a read has no answer, by its API code.
EXIT_NO_ANSWER = {"NOT_YET_KNOWN": EXIT_NOT_YET_KNOWN, "NOT_IN_FORCE": EXIT_NOT_IN_FORCE}


@app.command()
def version() -> None:
    """Print the installed version."""
    from importlib.metadata import version as package_version

    typer.echo(package_version("policy-timeline"))


for module in (serve, query, search, io, project, tokens, webhooks, evidence):
    module.register(app)
verify.register(app)
redact.register(app)


def main() -> None:
    """Console-script entry point: run the command, reporting any failure in one line."""
    try:
        app()
    except SystemExit:
        raise
    except BrokenPipeError:  # `timeline export | head`: the reader left; not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(EXIT_REFUSED)
    except Exception as error:  # the one place where failures become a message
        if os.environ.get("TIMELINE_DEBUG"):
            raise
        message, code = describe(error)
        sys.stderr.write(f"error: {message}\n")
        sys.stderr.flush()
        sys.exit(code)


def describe(error: BaseException) -> tuple[str, int]:
    """A one-line message and the exit code for a failure."""
    from pydantic import ValidationError

    from domain.errors import TimelineError, VersionConflict
    from timeline.database import LogMissing
    from timeline.settings import describe_invalid

    if isinstance(error, ValidationError) and error.title.endswith("Settings"):
        return _one_line(f"invalid setting: {describe_invalid(error)}"), EXIT_CONFIG
    if isinstance(error, LogMissing):  # a wrong URL: the database, not the input, is at fault
        return _one_line(error.message), EXIT_DATABASE
    if isinstance(error, VersionConflict):
        return _one_line(error.message), EXIT_CONFLICT
    if isinstance(error, TimelineError):
        return _one_line(error.message), EXIT_NO_ANSWER.get(error.code, EXIT_REFUSED)
    if isinstance(error, OSError) and error.filename is not None:
        return _one_line(f"{error.filename}: {error.strerror or error}"), EXIT_REFUSED
    if isinstance(error, _database_errors()):
        cause = getattr(error, "orig", None) or error.__cause__ or error
        return _one_line(
            f"database unavailable or refused the operation (TIMELINE_DATABASE_URL): {cause}"
        ), EXIT_DATABASE
    return _one_line(
        f"unexpected {type(error).__name__}: {error} (run with TIMELINE_DEBUG=1 for the traceback)"
    ), EXIT_BUG


def _database_errors() -> tuple[type[BaseException], ...]:
    """The database libraries' error classes, of those this command loaded: an error can
    only come from a library that was imported, so describing one imports nothing more."""
    found: list[type[BaseException]] = []
    if (sqlalchemy := sys.modules.get("sqlalchemy.exc")) is not None:
        found.append(sqlalchemy.SQLAlchemyError)
    if (persistence := sys.modules.get("eventsourcing.persistence")) is not None:
        found.append(persistence.PersistenceError)
    return tuple(found)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())
