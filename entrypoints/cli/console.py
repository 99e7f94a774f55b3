"""What every CLI command shares: the consoles, opening the services, parsing instants and days.

Input is parsed here into the domain's own errors (InvalidInput naming the option), so that
`entrypoints.cli.main` turns every refusal into one line on stderr and a non-zero exit.

Heavy modules (rich, SQLAlchemy, the eventsourcing application) are imported inside the
functions that use them: a point-in-time command loads only what its answer needs.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from functools import cache
from typing import TYPE_CHECKING, Any

from domain import values
from domain.errors import InvalidInput, TimelineError

if TYPE_CHECKING:
    from rich.console import Console
    from sqlalchemy import Engine

    from timeline.application import Timeline
    from timeline.bootstrap import Services

INSTANT_HELP = "ISO 8601 instant with an offset (2022-03-11T12:00:00+03:00), or 'now'."


@cache
def out() -> Console:
    """The console for answers (stdout)."""
    from rich.console import Console

    return Console(highlight=False)


@cache
def err() -> Console:
    """The console for progress, summaries and errors (stderr), so `--json` pipes cleanly."""
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


def warn_unknown_variables() -> None:
    """At the start of a long-running command: name each TIMELINE_* variable that no setting
    reads (a typo would otherwise be ignored in silence), with the nearest known name."""
    import os

    from timeline.settings import Settings, unknown_variables

    for line in unknown_variables(os.environ, Settings):
        err().print(f"warning: {line}")


@contextmanager
def services(*, read_only: bool = False) -> Iterator[Services]:
    """The services built from the environment (TIMELINE_DATABASE_URL), closed afterwards.

    Read-only commands pass `read_only`: a missing database or one without the event log is
    then an error naming the URL, never a new empty database answering "nothing".
    """
    from timeline.bootstrap import bootstrap

    built = bootstrap(read_only=read_only)
    try:
        yield built
    finally:
        built.close()


@contextmanager
def log() -> Iterator[Timeline]:
    """The event log alone, read-only (for `verify` and `export`): no read models are opened
    or created, and a missing log is an error as in `services(read_only=True)`."""
    from timeline.application import Timeline
    from timeline.settings import Settings

    timeline = Timeline(Settings(), read_only=True)
    try:
        yield timeline
    finally:
        timeline.close()


@contextmanager
def read_models() -> Iterator[Engine]:
    """The engine of the read models, brought up to the head of the log first, for the
    point-in-time commands.

    When they already hold every event (a server or worker keeps them current), they are
    read with a plain SQLAlchemy engine: no eventsourcing application is built. Otherwise
    the services are built and the missing events applied first. Either way a missing
    database or log is LogMissing naming the URL; nothing is created.
    """
    from sqlalchemy import create_engine

    from timeline.database import require_log
    from timeline.settings import Settings

    settings = Settings()
    require_log(settings)
    engine = create_engine(settings.sqlalchemy_url)
    try:
        if _holds_head(engine):
            yield engine
            return
    finally:
        engine.dispose()
    with services(read_only=True) as built:
        yield _caught_up(built)


def _holds_head(engine: Engine) -> bool:
    """Whether the read models (at this code's schema version) have applied the log's head:
    the sealed head of the hash chain, which every event joins in its own transaction."""
    from sqlalchemy import select
    from sqlalchemy.exc import SQLAlchemyError

    from projections import tables as t
    from timeline import integrity

    try:
        with engine.connect() as connection:
            row = connection.execute(
                select(t.tracking.c.position, t.tracking.c.schema_version).where(
                    t.tracking.c.name == PROJECTION
                )
            ).first()
        head = integrity.head(engine).position
    except SQLAlchemyError:  # no read models yet, an older schema: the slow path builds them
        return False
    return row is not None and row.schema_version == t.SCHEMA_VERSION and row.position >= head


#: The projection the CLI reads (projections.runner.NAME, the runner's default).
PROJECTION = "timeline"


def _caught_up(built: Services) -> Engine:
    """Bring the read models up to the head of the log; the engine to query them with.

    If no projector is running (the lock is free), this process applies what is missing;
    otherwise it waits (read_your_writes_timeout) for the running one to reach the head.
    """
    runner, head = built.projections, built.timeline.head_position()
    if runner.lock.acquire():
        try:
            runner.catch_up()
        finally:
            runner.lock.release()
    elif not built.wait_for(head):
        raise TimelineError(
            f"the projections are behind the log (position {runner.position()} "
            f"of {head}) and the running projector did not catch up in "
            f"{built.settings.read_your_writes_timeout}s; try again"
        )
    return built.timeline.engine


def has_table(engine: Engine, name: str) -> bool:
    """Whether the table exists, looked up without creating anything (reads create nothing)."""
    from sqlalchemy import inspect

    return inspect(engine).has_table(name)


def basis(engine: Engine, known_at: datetime | None, position: str | None) -> int:
    """The log position a point-in-time command answers at: `--position N` (ASCII digits,
    the one cursor parser), or the one `--known-at` (default now) resolves to, by the API's
    own rule (`timeline.proofs.position_for`); both, or a position beyond the head, refused
    naming the option."""
    from timeline import proofs
    from timeline.cursors import optional_position

    given = optional_position(position, "--position")
    if known_at is not None and given is not None:
        raise InvalidInput("--position", "give --known-at or --position, not both")
    try:
        return proofs.position_for(engine, known_at, given)
    except InvalidInput as error:
        raise InvalidInput("--position", error.reason) from None


def parse_instant(option: str, text: str | None) -> datetime | None:
    """`--valid-at` and friends: an instant with an offset (the one parser of domain/values.py),
    or 'now'; None when not given. A date or a time without an offset gets a hint."""
    if text is None:
        return None
    given = text.strip()
    if given.lower() == "now":
        return datetime.now(UTC)
    try:
        return values.parse_instant(option, given)
    except InvalidInput:
        if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", given):
            raise InvalidInput(
                option,
                f"{text!r} is a date, not an instant; give a time and "
                f"an offset ({given}T12:00:00+03:00), or ask "
                "`timeline on POLICY DATE --tz ZONE` for a whole day",
            ) from None
        if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9:.]+", given):
            raise InvalidInput(
                option,
                f"{text!r} has no offset; an instant needs one, e.g. {given}+03:00 (or Z for UTC)",
            ) from None
        raise InvalidInput(option, f"{text!r} is not an ISO 8601 instant; {INSTANT_HELP}") from None


def parse_day(option: str, text: str) -> date:
    """A calendar day as YYYY-MM-DD."""
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(
            option, f"{text!r} is not a date; use YYYY-MM-DD, e.g. 2022-03-11"
        ) from None


def check_time_zone(option: str, name: str) -> str:
    """An IANA time zone name such as Europe/Moscow (the one check of domain/values.py)."""
    values.check_time_zone(option, name)
    return name


def print_json(value: Any) -> None:
    """Machine-readable output for scripts: one JSON document on stdout."""
    sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False, default=_json_default))
    sys.stdout.write("\n")


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"cannot serialise {type(value).__name__}")
