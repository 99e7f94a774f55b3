"""What every CLI command shares: the consoles, opening the services, parsing instants and days.

Input is parsed here into the domain's own errors (InvalidInput naming the option), so that
`entrypoints.cli.main` turns every refusal into one line on stderr and a non-zero exit.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import Any

from rich.console import Console
from sqlalchemy import Engine, inspect

from domain import values
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
    """`--valid-at` and friends: an instant with an offset (the one parser of domain/values.py),
    or 'now'; None when not given. A date or a time without an offset gets a hint."""
    if text is None:
        return None
    given = text.strip()
    if given.lower() == "now":
        return datetime.now(UTC)
    try:
        return values.parse_instant(option, given)
    except InvalidInput:
        if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", given):
            raise InvalidInput(
                option,
                f"{text!r} is a date, not an instant; give a time and "
                f"an offset ({given}T12:00:00+03:00), or ask "
                "`timeline on POLICY DATE --tz ZONE` for a whole day",
            ) from None
        if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9:.]+", given):
            raise InvalidInput(
                option,
                f"{text!r} has no offset; an instant needs one, e.g. {given}+03:00 (or Z for UTC)",
            ) from None
        raise InvalidInput(option, f"{text!r} is not an ISO 8601 instant; {INSTANT_HELP}") from None


def parse_day(option: str, text: str) -> date:
    """A calendar day as YYYY-MM-DD."""
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(
            option, f"{text!r} is not a date; use YYYY-MM-DD, e.g. 2022-03-11"
        ) from None


def check_time_zone(option: str, name: str) -> str:
    """An IANA time zone name such as Europe/Moscow (the one check of domain/values.py)."""
    values.check_time_zone(option, name)
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
