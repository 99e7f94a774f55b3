"""Tuning of the event streams and their wake-ups (`TIMELINE_STREAM_*`) and of webhook
delivery (`TIMELINE_WEBHOOK_*`): the `stream` and `webhook` groups of timeline.settings.Settings."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from timeline.egress import EgressSettings


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


class WebhookSettings(EgressSettings):
    """Delivery tuning (`TIMELINE_WEBHOOK_*`), with the egress policy's and caps' settings."""

    backoff_base: float = Field(
        default=1.0, gt=0, description="Seconds before the 1st retry; doubles each attempt."
    )
    backoff_max: float = Field(default=600.0, gt=0, description="Longest wait between tries.")
    timeout: float = Field(
        default=10.0, gt=0, description="Seconds each step (connect, write, read) may wait."
    )
    lease: float = Field(
        default=60.0,
        gt=0,
        description="Seconds an endpoint stays leased to one worker without renewal.",
    )
    poll_interval: float = Field(
        default=1.0,
        gt=0,
        description="Seconds between looks for "
        "new events and endpoints when nothing wakes the worker.",
    )
    batch: int = Field(default=100, ge=1, description="Events read at once per endpoint.")
