"""The configured database, opened for reading without creating anything: `require_log`.

Kept apart from the application (and eventsourcing) so that the CLI's point-in-time
commands can check the database and read the projections without loading the write side.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, inspect
from sqlalchemy.engine import make_url

from domain.errors import TimelineError
from timeline.settings import Settings

#: The event store's table (eventsourcing names it after the application, `Timeline`): a
#: database without it holds no log.
EVENTS_TABLE = "timeline_events"


class LogMissing(TimelineError):
    """A read-only command was pointed at a database that holds no event log (a missing
    SQLite file, a PostgreSQL database without the tables): refused, never created."""

    code = "NOT_FOUND"


def require_log(settings: Settings, table: str = EVENTS_TABLE, what: str = "event log") -> None:
    """Raise LogMissing unless the database exists and holds the event log (or `table`, named
    `what` in the message); creates nothing.

    A SQLite file is checked on disk before any connection (connecting would create it);
    the tables are then looked up without DDL, on SQLite and PostgreSQL alike.
    """
    url = make_url(settings.sqlalchemy_url)
    shown = make_url(settings.database_url).render_as_string(hide_password=True)
    if url.get_backend_name() == "sqlite":
        path = url.database or ""
        if url.query.get("uri") in ("true", "1") and path.startswith("file:"):
            path = path[len("file:") :].partition("?")[0]
        if not path or path == ":memory:" or url.query.get("mode") == "memory":
            raise LogMissing(f"{shown} is an in-memory database: it holds no event log")
        if not Path(path).is_file():
            raise LogMissing(
                f"no database at {shown}: the SQLite file {path} does not exist (check "
                "TIMELINE_DATABASE_URL); nothing was created"
            )
    engine = create_engine(url)
    try:
        found = inspect(engine).has_table(table)
    finally:
        engine.dispose()
    if not found:
        raise LogMissing(
            f"{shown} holds no {what} (no table {table}; check "
            "TIMELINE_DATABASE_URL); nothing was created"
        )
