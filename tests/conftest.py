"""Fixtures that build real databases: a SQLite file per test, a PostgreSQL schema per test.

PostgreSQL (127.0.0.1:5432, user postgres, database test) is skipped only when it is
unreachable and TIMELINE_REQUIRE_POSTGRES is unset; CI sets it, so there it fails instead.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from timeline.application import Timeline
from timeline.settings import Settings

POSTGRES_DSN = os.environ.get("TIMELINE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
REQUIRE_POSTGRES = os.environ.get("TIMELINE_REQUIRE_POSTGRES", "") not in ("", "0")


def postgres_available() -> bool:
    try:
        with psycopg.connect(POSTGRES_DSN, connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


def require_postgres() -> None:
    """Skip (laptop without PostgreSQL) or fail (CI) when the server is unreachable."""
    if postgres_available():
        return
    if REQUIRE_POSTGRES:
        pytest.fail(
            f"PostgreSQL is required (TIMELINE_REQUIRE_POSTGRES=1) but {POSTGRES_DSN} "
            "is unreachable"
        )
    pytest.skip(f"PostgreSQL unreachable at {POSTGRES_DSN}")


def postgres_schema_url(schema: str) -> str:
    """A SQLAlchemy URL whose connections see only `schema` (search_path)."""
    base = POSTGRES_DSN.replace("postgresql://", "postgresql+psycopg://", 1)
    return f"{base}?options=-csearch_path%3D{schema}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL schema for one test, dropped afterwards."""
    require_postgres()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_DSN, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield postgres_schema_url(schema)
    finally:
        with psycopg.connect(POSTGRES_DSN, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A fresh SQLite file for one test."""
    return f"sqlite:///{tmp_path / 'timeline.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    """Every storage test runs twice: on a SQLite file and on PostgreSQL."""
    name = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return str(request.getfixturevalue(name))


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url)


@pytest.fixture
def timeline(settings: Settings) -> Iterator[Timeline]:
    app = Timeline(settings)
    try:
        yield app
    finally:
        app.close()
