"""The one wall around the event store library's internals (eventsourcing-sqlalchemy).

The service uses a few things the recorder has but its published interface does not promise:
the datastore's engine and session maker, the events table, the PostgreSQL table lock and
NOTIFY channel, the recorder's transaction. Every use goes through here, so an upgrade of the
library (bounded in pyproject.toml) is checked against this one module.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy import Engine, Table, text
from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session


def engine(recorder: Any) -> Engine:
    """The SQLAlchemy engine the recorder writes through."""
    found = recorder.datastore.engine
    assert isinstance(found, Engine)
    return found


def events_table(recorder: Any) -> Table:
    """The recorder's events table (the global log, `id` = position)."""
    table = recorder.events_record_cls.__table__
    assert isinstance(table, Table)
    return table


def events_table_name(recorder: Any) -> str:
    """The name of the events table, as the recorder was configured."""
    return str(recorder.events_table_name)


def transaction(recorder: Any, *, commit: bool) -> AbstractContextManager[Session]:
    """A session in the recorder's own transaction (the application's saves join it)."""
    transaction: AbstractContextManager[Session] = recorder.transaction(commit=commit)
    return transaction


def lock_table(recorder: Any, session: Session) -> None:
    """On PostgreSQL, lock the events table so positions commit in insert order (a no-op
    elsewhere): what the recorder does before its own inserts."""
    recorder._lock_table(session)


def notify(recorder: Any, session: Session) -> None:
    """On PostgreSQL, NOTIFY the recorder's channel (delivered at commit; a no-op elsewhere):
    what the recorder does after its own inserts."""
    recorder._notify_channel(session)


def channel(recorder: Any) -> str:
    """The NOTIFY channel the recorder signals on PostgreSQL (the events table's name)."""
    name = getattr(recorder, "channel_name", None)
    return str(name) if name else events_table_name(recorder).replace(".", "_")


def on_commit(recorder: Any, callback: Callable[[], None]) -> Callable[[], None]:
    """Call `callback()` after each commit of the recorder's sessions (this process's writes);
    returns the function that removes the hook. A no-op when the datastore has no maker."""
    maker = getattr(recorder.datastore, "session_maker", None)
    if maker is None:
        return lambda: None

    def hook(*_: Any) -> None:
        callback()

    sa_event.listen(maker, "after_commit", hook)
    return lambda: sa_event.remove(maker, "after_commit", hook)


def continue_positions(recorder: Any, session: Session) -> None:
    """After rows were inserted with explicit positions (a restore), make the next append
    take the position after the largest: PostgreSQL's id sequence is moved there (SQLite
    takes max(id) + 1 by itself). Not rolled back with the transaction: call it last."""
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        return
    name = events_table_name(recorder)
    if getattr(recorder, "schema_name", None):
        name = f"{recorder.schema_name}.{name}"
    connection.execute(
        text(
            f"SELECT setval(pg_get_serial_sequence(:table, 'id'), max(id)) FROM {name} "
            "HAVING max(id) IS NOT NULL"
        ),
        {"table": name},
    )
