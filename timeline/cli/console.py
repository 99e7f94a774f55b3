"""What every CLI command shares: the consoles, opening the services, parsing instants and days.

Input is parsed here into the domain's own errors (InvalidInput naming the option), so that
`timeline.cli.main` turns every refusal into one line on stderr and a non-zero exit.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from rich.console import Console
from sqlalchemy import Engine, inspect

from domain.errors import InvalidInput
from timeline.application import Timeline
from timeline.bootstrap import Services, bootstrap
from timeline.settings import Settings

#: Answers go to stdout; progress, summaries and errors to stderr, so `--json` output pipes cleanly.
out = Console(highlight=False)
err = Console(stderr=True, highlight=False, soft_wrap=True)

INSTANT_HELP = "ISO 8601 instant with an offset (2022-03-11T12:00:00+03:00), or 'now'."


@contextmanager
def services(*, read_only: bool = False) -> Iterator[Services]:
    """The services built from the environment (TIMELINE_DATABASE_URL), closed afterwards.

    Read-only commands pass `read_only`: a missing database or one without the event log is
    then an error naming the URL, never a new empty database answering "nothing".
    """
    built = bootstrap(read_only=read_only)
    try:
        yield built
    finally:
        built.close()


@contextmanager
def log() -> Iterator[Timeline]:
    """The event log alone, read-only (for `verify` and `export`): no read models are opened
    or created, and a missing log is an error as in `services(read_only=True)`."""
    timeline = Timeline(Settings(), read_only=True)
    try:
        yield timeline
    finally:
        timeline.close()


def has_table(engine: Engine, name: str) -> bool:
    """Whether the table exists, looked up without creating anything (reads create nothing)."""
    return inspect(engine).has_table(name)


def parse_instant(option: str, text: str | None) -> datetime | None:
    """`--valid-at` and friends: an instant with an offset, or 'now'; None when not given."""
    if text is None:
        return None
    if text.strip().lower() == "now":
        return datetime.now(UTC)
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(option, f"{text!r} is not an ISO 8601 instant; {INSTANT_HELP}") from None
    if value.tzinfo is None or value.utcoffset() is None:
        if "T" not in text.strip().upper() and " " not in text.strip():
            raise InvalidInput(
                option,
                f"{text!r} is a date, not an instant; give a time and "
                f"an offset ({text.strip()}T12:00:00+03:00), or ask "
                "`timeline on POLICY DATE --tz ZONE` for a whole day",
            )
        raise InvalidInput(
            option,
            f"{text!r} has no offset; an instant needs one, e.g. "
            f"{text.strip()}+03:00 (or Z for UTC)",
        )
    return value.astimezone(UTC)


def parse_day(option: str, text: str) -> date:
    """A calendar day as YYYY-MM-DD."""
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(
            option, f"{text!r} is not a date; use YYYY-MM-DD, e.g. 2022-03-11"
        ) from None


def check_time_zone(option: str, name: str) -> str:
    """An IANA time zone name such as Europe/Moscow."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(
            option, f"{name!r} is not an IANA time zone such as 'Europe/Moscow' or 'UTC'"
        ) from None
    return name


def print_json(value: Any) -> None:
    """Machine-readable output for scripts: one JSON document on stdout."""
    sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False, default=_json_default))
    sys.stdout.write("\n")


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"cannot serialise {type(value).__name__}")
