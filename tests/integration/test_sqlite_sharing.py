"""A SQLite file is shared by the API, a projection worker and the CLI: writers wait, not fail."""

from __future__ import annotations

from timeline.application import Timeline
from timeline.settings import Settings


def test_a_sqlite_store_waits_thirty_seconds_for_the_write_lock(sqlite_url: str) -> None:
    timeline = Timeline(Settings(database_url=sqlite_url))
    try:
        with timeline.engine.connect() as connection:
            cursor = connection.connection.driver_connection.execute(  # type: ignore[union-attr]
                "PRAGMA busy_timeout"
            )
            assert cursor.fetchone()[0] == 30_000
    finally:
        timeline.close()


def test_an_explicit_sqlite_timeout_in_the_url_is_kept() -> None:
    url = Settings(database_url="sqlite:///x.db?timeout=2").sqlalchemy_url
    assert url == "sqlite:///x.db?timeout=2"
