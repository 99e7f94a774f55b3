"""Alembic migrations of the permanent tables: what cannot be rebuilt from the log (tokens,
webhooks, idempotency keys) and the log's own side tables (streams, the hash chain).

The read models are not here: they are rebuilt from the log when their SCHEMA_VERSION
changes. `upgrade(engine)` brings a database to the newest revision; on a database made
before migrations existed (tables created on first use, no `alembic_version`) the baseline
creates just the tables it lacks.
"""

from __future__ import annotations

import time
import weakref
from pathlib import Path
from threading import Lock

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

HERE = Path(__file__).resolve().parent

_done: weakref.WeakSet[Engine] = weakref.WeakSet()
_lock = Lock()


def config(connection: Connection | None = None) -> Config:
    """The Alembic configuration, built in code (no alembic.ini to ship or find)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.attributes["connection"] = connection
    return cfg


def head() -> str:
    """The newest revision."""
    revision = ScriptDirectory.from_config(config()).get_current_head()
    assert revision is not None
    return revision


def current(connection: Connection) -> str | None:
    """The revision a database is at (None: never migrated)."""
    return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine) -> None:
    """Bring the permanent tables to the newest revision: idempotent, cheap once done in this
    process, and safe when several processes start at once (serialised by an advisory lock
    on PostgreSQL; on SQLite the loser of a race retries)."""
    if engine in _done:
        return
    with _lock:
        if engine in _done:
            return
        for attempt in range(5):
            try:
                _upgrade(engine)
                break
            except DBAPIError:
                if attempt == 4:
                    raise
                time.sleep(0.2)
        _done.add(engine)


def _upgrade(engine: Engine) -> None:
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(
                text("SELECT pg_advisory_xact_lock(hashtext(current_schema() || :key))"),
                {"key": ":timeline-migrations"},
            )
        revision = current(connection)
        if revision == head():
            return
        command.upgrade(config(connection), "head")
