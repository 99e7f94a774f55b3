"""The permanent tables are migrated by Alembic: a fresh database and one made before
migrations existed end at the newest revision, with the same tables as the models."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, MetaData, create_engine, inspect, select, text

from timeline import integrity, migrations, store, tokens
from timeline.application import Timeline
from timeline.settings import Settings
from timeline.streams import webhooks

MODELS = (store.metadata, integrity.metadata, tokens.metadata, webhooks.metadata)


def models() -> MetaData:
    """Every permanent table as the code declares it, in one MetaData."""
    combined = MetaData()
    for metadata in MODELS:
        for table in metadata.tables.values():
            table.to_metadata(combined)
    return combined


def differences(engine: Engine) -> list[Any]:
    """What Alembic's autogenerate would change to make the database match the models
    (tables it does not own, the event store's and the read models', are left out)."""
    owned = set(models().tables)
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={
                "compare_type": True,
                "include_name": lambda name, kind, _parent: kind != "table" or name in owned,
            },
        )
        return list(compare_metadata(context, models()))


def revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return migrations.current(connection)


def test_a_new_database_is_at_the_newest_revision_with_the_models_tables(
    database_url: str,
) -> None:
    timeline = Timeline(Settings(database_url=database_url))
    try:
        assert revision(timeline.engine) == migrations.head()
        assert differences(timeline.engine) == []
    finally:
        timeline.close()


def test_a_database_from_before_migrations_is_upgraded_and_keeps_its_rows(
    database_url: str,
) -> None:
    engine = create_engine(Settings(database_url=database_url).sqlalchemy_url)
    try:
        # What the releases before migrations created: each module's tables on first use
        # (here no webhook was ever registered, so those tables are missing).
        for metadata in (store.metadata, integrity.metadata, tokens.metadata):
            metadata.create_all(engine)
        with engine.begin() as connection:
            connection.execute(
                tokens.api_tokens.insert().values(
                    token_id="t1",
                    secret_hash="0" * 64,
                    scopes="read",
                    name="kept",
                    created_at=datetime(2026, 1, 1, tzinfo=UTC),
                )
            )
        assert "alembic_version" not in inspect(engine).get_table_names()

        migrations.upgrade(engine)

        assert revision(engine) == migrations.head()
        assert differences(engine) == []
        with engine.connect() as connection:
            names = connection.execute(select(tokens.api_tokens.c.name)).scalars().all()
        assert names == ["kept"]
        assert "timeline_webhook_endpoints" in inspect(engine).get_table_names()
    finally:
        engine.dispose()


UPGRADE = """
import sys
from sqlalchemy import create_engine
from timeline import migrations
migrations.upgrade(create_engine(sys.argv[1]))
"""


def test_processes_starting_at_once_all_end_at_the_newest_revision(database_url: str) -> None:
    url = Settings(database_url=database_url).sqlalchemy_url
    runs = [
        subprocess.Popen([sys.executable, "-c", UPGRADE, url], stderr=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    for run in runs:
        _, err = run.communicate(timeout=120)
        assert run.returncode == 0, err
    engine = create_engine(url)
    try:
        assert revision(engine) == migrations.head()
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT count(*) FROM alembic_version")).scalar()
        assert rows == 1
    finally:
        engine.dispose()
