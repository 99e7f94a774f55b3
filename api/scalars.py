"""Custom scalars: DateTime (ISO 8601 with an offset, never guessed), Date, and JSON."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import strawberry
from strawberry.types.scalar import ScalarDefinition

from domain.errors import InvalidInput
from domain.values import parse_instant


def parse_datetime(value: Any) -> datetime:
    """An instant with an offset, in UTC, by the one instant parser (domain/values.py);
    anything else (numbers, numeric strings, naive times) is refused with the reason."""
    try:
        return parse_instant("DateTime", value)
    except InvalidInput as error:
        raise ValueError(error.reason) from None


def serialize_datetime(value: datetime) -> str:
    """Instants go out in UTC with their offset: `2022-03-13T21:00:00+00:00`."""
    return value.astimezone(UTC).isoformat()


def parse_date(value: Any) -> date:
    if not isinstance(value, str):
        raise ValueError("must be an ISO 8601 calendar date, e.g. 2022-03-11")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not an ISO 8601 calendar date, e.g. 2022-03-11") from None


DATETIME = strawberry.scalar(
    name="DateTime",
    description="An instant, ISO 8601 with an offset (2022-03-11T00:00:00+03:00); a value "
    "without an offset is refused, never guessed. Returned in UTC.",
    serialize=serialize_datetime,
    parse_value=parse_datetime,
)
DATE = strawberry.scalar(
    name="Date",
    description="A calendar day, ISO 8601 (2022-03-11).",
    serialize=lambda value: value.isoformat(),
    parse_value=parse_date,
)

#: For StrawberryConfig.scalar_map: Python types to their GraphQL scalars.
SCALARS: dict[object, ScalarDefinition] = {datetime: DATETIME, date: DATE}
