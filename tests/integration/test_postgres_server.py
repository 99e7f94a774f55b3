"""The throwaway PostgreSQL server the fault tests stop and kill (tests/support/
postgres_server.py): it starts on its own port, answers, stops and starts again, and leaves
nothing behind. Skips without the server binaries, fails under TIMELINE_REQUIRE_POSTGRES=1."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from support.postgres_server import require_postgres_binaries, throwaway_postgres

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def answers(dsn: str) -> bool:
    with psycopg.connect(dsn, connect_timeout=5) as connection:
        return connection.execute("SELECT 1").fetchone() == (1,)


def test_the_throwaway_server_starts_stops_starts_again_and_leaves_nothing_behind() -> None:
    bindir = require_postgres_binaries()
    with throwaway_postgres(bindir) as server:
        directory = server.directory
        assert server.port != 5432 and "127.0.0.1" in server.dsn
        assert answers(server.dsn)
        with psycopg.connect(server.dsn, autocommit=True) as connection:
            connection.execute("CREATE TABLE kept (n int)")
            connection.execute("INSERT INTO kept VALUES (1)")
            server.stop()
            with pytest.raises(psycopg.OperationalError):  # the open session was ended
                connection.execute("SELECT 1")
        with pytest.raises(psycopg.OperationalError):  # and new ones are refused
            psycopg.connect(server.dsn, connect_timeout=5)
        assert not server.is_running()

        server.start()
        assert answers(server.dsn)
        server.kill()
        assert not server.accepts_connections()
        server.start()  # after a crash: the WAL is replayed, committed rows survive
        with psycopg.connect(server.dsn) as connection:
            assert connection.execute("SELECT n FROM kept").fetchall() == [(1,)]
    assert not Path(directory).exists()


def test_the_directory_is_deleted_and_the_server_stopped_when_the_test_fails() -> None:
    bindir = require_postgres_binaries()
    with pytest.raises(RuntimeError, match="the test failed"), throwaway_postgres(bindir) as server:
        directory, dsn = server.directory, server.dsn
        raise RuntimeError("the test failed")
    assert not directory.exists()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(dsn, connect_timeout=5)
