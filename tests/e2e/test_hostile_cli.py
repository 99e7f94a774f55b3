"""Read-only CLI commands pointed at the wrong database, through the real `timeline` script.

A misspelled TIMELINE_DATABASE_URL must fail loudly (non-zero, the URL named) and create
nothing: no SQLite file, no tables on PostgreSQL; `verify` of an empty log fails unless
`--allow-empty`, so a scheduled integrity check cannot pass on an empty database.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from tests.conftest import POSTGRES_DSN, require_postgres
from tests.e2e.test_cli_query import run_cli, the_error
from timeline.application import Timeline
from timeline.settings import Settings

pytestmark = pytest.mark.e2e

#: Every read `timeline --help` lists (queries, export, verify, listings), with arguments.
READS = [
    ("verify",),
    ("verify", "--allow-empty"),
    ("at", "meta/hate-speech"),
    ("on", "meta/hate-speech", "2022-03-11"),
    ("history", "meta/hate-speech"),
    ("diff", "meta/hate-speech", "2022-03-11T00:00:00Z", "2022-03-14T00:00:00Z"),
    ("status", "roskomnadzor/instagram-restriction"),
    ("export",),
    ("token", "list"),
    ("webhook", "list"),
    ("webhook", "deliveries"),
]


@pytest.mark.parametrize("command", READS, ids=" ".join)
def test_a_read_of_a_missing_sqlite_file_fails_and_creates_nothing(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    url = "sqlite:///misspelled.db"
    result = run_cli(url, tmp_path, *command)
    line = the_error(result)
    assert result.returncode == 4, result.stderr
    assert url in line and "does not exist" in line
    assert list(tmp_path.iterdir()) == []


def test_verify_of_an_empty_sqlite_file_names_the_missing_log(tmp_path: Path) -> None:
    (tmp_path / "zero.db").touch()  # e.g. left behind by an older `verify`
    result = run_cli("sqlite:///zero.db", tmp_path, "verify")
    assert result.returncode == 4
    assert "holds no event log" in the_error(result)
    assert (tmp_path / "zero.db").stat().st_size == 0


def test_verify_of_an_empty_log_fails_unless_allowed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    Timeline(Settings(database_url=url)).close()  # a real, empty event store

    refused = run_cli(url, tmp_path, "verify")
    assert refused.returncode == 6, refused.stderr
    assert "is empty" in the_error(refused) and "--allow-empty" in refused.stderr

    allowed = run_cli(url, tmp_path, "verify", "--allow-empty")
    assert allowed.returncode == 0, allowed.stderr
    assert allowed.stdout.startswith("ok: 0 events verified")


@pytest.mark.postgres
def test_a_read_of_a_postgres_database_without_tables_fails_and_creates_none(
    tmp_path: Path,
) -> None:
    require_postgres()
    name = f"timeline_empty_{uuid.uuid4().hex[:12]}"  # its own database: runs may overlap
    with psycopg.connect(POSTGRES_DSN, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    params = conninfo_to_dict(POSTGRES_DSN)
    empty = make_conninfo(**{**params, "dbname": name})
    url = f"postgresql://{params.get('user', 'postgres')}@{params.get('host', '127.0.0.1')}:" + (
        f"{params.get('port', 5432)}/{name}"
    )
    try:
        for command in (("verify",), ("at", "meta/hate-speech"), ("export",), ("token", "list")):
            result = run_cli(url, tmp_path, *command)
            assert result.returncode == 4, (command, result.stderr)
            assert f"{url} holds no" in the_error(result)
        with psycopg.connect(empty) as conn:
            tables = conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
            ).fetchall()
        assert tables == []
    finally:
        with psycopg.connect(POSTGRES_DSN, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
