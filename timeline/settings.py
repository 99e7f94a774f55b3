"""Settings from the environment (`TIMELINE_*`), with defaults that run with nothing installed."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Where the events live and how the service behaves; one setting picks the database."""

    model_config = SettingsConfigDict(env_prefix="TIMELINE_", extra="ignore")

    database_url: str = Field(
        default="sqlite:///timeline.db",
        description="SQLAlchemy URL of the event store and read models; a SQLite file in the "
        "working directory by default, `postgresql+psycopg://user@host/db` in production.",
    )
    read_your_writes_timeout: float = Field(
        default=5.0, ge=0, description="Seconds a write waits for the projections to catch up.")

    @property
    def sqlalchemy_url(self) -> str:
        """The URL with the psycopg 3 driver named, so `postgresql://` URLs also work."""
        url = self.database_url
        for prefix in ("postgresql://", "postgres://"):
            if url.startswith(prefix):
                return "postgresql+psycopg://" + url[len(prefix):]
        return url

    @property
    def is_postgres(self) -> bool:
        return self.sqlalchemy_url.startswith("postgresql")
