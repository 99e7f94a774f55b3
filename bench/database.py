"""A fresh database per benchmark run: a SQLite file in a temporary directory, or a new
PostgreSQL schema (the search_path trick of tests/conftest.py), removed afterwards."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg


def is_postgres(database: str) -> bool:
    return database.startswith(("postgresql", "postgres:"))


def _plain_dsn(url: str) -> str:
    """The libpq form of a SQLAlchemy URL (no `+psycopg`)."""
    for prefix in ("postgresql+psycopg://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql://" + url[len(prefix) :]
    return url


@contextmanager
def fresh_database(database: str, label: str = "bench", keep: str | None = None) -> Iterator[str]:
    """Yield the URL of an empty database: `sqlite` or a PostgreSQL URL.

    With `keep`, the database is named instead (`bench_keep_<keep>`: a file under the system's
    temporary directory, or a schema), reused if it exists and left in place afterwards, so a
    long load (a million events) is paid once and resumed where it stopped."""
    if keep is not None:
        yield kept_database(database, f"{label}_keep_{keep}")
        return
    if database == "sqlite":
        directory = Path(tempfile.mkdtemp(prefix=f"timeline-{label}-"))
        try:
            yield f"sqlite:///{directory / 'timeline.db'}"
        finally:
            shutil.rmtree(directory, ignore_errors=True)
        return
    if not is_postgres(database):
        raise SystemExit(f"--database must be 'sqlite' or a postgresql:// URL, not {database!r}")
    dsn = _plain_dsn(database)
    schema = f"{label}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(f"CREATE SCHEMA {schema}")
    separator = "&" if "?" in dsn else "?"
    url = dsn.replace("postgresql://", "postgresql+psycopg://", 1)
    try:
        yield f"{url}{separator}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(dsn, autocommit=True) as connection:
            connection.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def kept_database(database: str, name: str) -> str:
    """The URL of a named database that outlives the run (created when missing)."""
    if not name.replace("_", "").isalnum():
        raise SystemExit(f"--keep must be letters, digits and underscores, not {name!r}")
    if database == "sqlite":
        path = Path(tempfile.gettempdir()) / f"timeline-{name}.db"
        return f"sqlite:///{path}"
    if not is_postgres(database):
        raise SystemExit(f"--database must be 'sqlite' or a postgresql:// URL, not {database!r}")
    dsn = _plain_dsn(database)
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(f"CREATE SCHEMA IF NOT EXISTS {name}")
    separator = "&" if "?" in dsn else "?"
    url = dsn.replace("postgresql://", "postgresql+psycopg://", 1)
    return f"{url}{separator}options=-csearch_path%3D{name}"
