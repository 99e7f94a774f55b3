"""Tuning of the event streams and their wake-ups (`TIMELINE_STREAM_*`)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class StreamSettings(BaseSettings):
    """Tuning of the event streams (`TIMELINE_STREAM_*`)."""

    model_config = SettingsConfigDict(env_prefix="TIMELINE_STREAM_", extra="ignore")

    buffer: int = Field(
        default=1_000,
        ge=1,
        description="Live events buffered per subscriber before it is disconnected as too slow.",
    )
    page: int = Field(default=500, ge=1, description="Events read from the store at once.")
    poll_interval: float = Field(
        default=0.25,
        gt=0,
        description="Seconds between polls of the log on SQLite (backstop of the commit watch).",
    )
    watch_interval: float = Field(
        default=0.01,
        gt=0,
        description="Seconds between looks at SQLite's data_version (no table read): the "
        "wake-up for commits by other processes.",
    )
    postgres_poll_interval: float = Field(
        default=5.0, gt=0, description="Seconds between polls on PostgreSQL, behind LISTEN/NOTIFY."
    )
    keepalive: float = Field(
        default=15.0, gt=0, description="Seconds between SSE keep-alive comments on an idle stream."
    )
