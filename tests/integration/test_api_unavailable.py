"""Which real database errors the API calls an outage (UNAVAILABLE, retry) and which a bug
(INTERNAL_SERVER_ERROR): only a lost, refused or busy connection is an outage, not every
OperationalError. Each error is produced by a real SQLite file or PostgreSQL server."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from conftest import POSTGRES_DSN
from sqlalchemy import create_engine, text
from support.ports import free_port

from api.unavailable import is_unavailable


def raised(url: str, *statements: str, **engine_options: object) -> BaseException:
    """The error the last of `statements` raises through SQLAlchemy."""
    engine = create_engine(url, **engine_options)  # type: ignore[arg-type]
    try:
        with engine.connect() as connection:
            for statement in statements:
                connection.execute(text(statement))
    except Exception as error:
        return error
    finally:
        engine.dispose()
    raise AssertionError(f"{statements[-1]!r} did not fail")


def test_a_missing_sqlite_table_is_not_an_outage(sqlite_url: str) -> None:
    assert not is_unavailable(raised(sqlite_url, "SELECT * FROM nowhere"))


def test_a_locked_sqlite_database_is_an_outage(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x INTEGER)")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        error = raised(f"sqlite:///{path}", "INSERT INTO t VALUES (1)", connect_args={"timeout": 0})
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert "locked" in str(error)
    assert is_unavailable(error)


@pytest.mark.postgres
def test_a_refused_postgresql_connection_is_an_outage(postgres_url: str) -> None:
    port = free_port()  # nobody listens on it
    host_port = POSTGRES_DSN.split("@", 1)[1].split("/", 1)[0]
    url = postgres_url.replace(f"@{host_port}/", f"@127.0.0.1:{port}/", 1)
    assert is_unavailable(raised(url, "SELECT 1"))


@pytest.mark.postgres
def test_a_terminated_postgresql_connection_is_an_outage(postgres_url: str) -> None:
    error = raised(postgres_url, "SELECT pg_terminate_backend(pg_backend_pid())", "SELECT 1")
    assert is_unavailable(error)


@pytest.mark.postgres
def test_a_postgresql_statement_timeout_or_missing_table_is_not_an_outage(
    postgres_url: str,
) -> None:
    timeout = raised(postgres_url, "SET statement_timeout = 1", "SELECT pg_sleep(1)")
    assert "statement timeout" in str(timeout)  # an OperationalError, yet not an outage
    assert not is_unavailable(timeout)
    assert not is_unavailable(raised(postgres_url, "SELECT * FROM nowhere"))
