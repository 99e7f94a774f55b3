"""The CloudEvents 1.0 JSON envelope of a logged event: one shape for NDJSON export and streams.

Used by `timeline export`, `/events` and `/events/stream`, so that a subscriber parses every
way out of the log the same way. The global log position is the cursor to resume from; it is
carried as the `position` extension attribute (CloudEvents allows integer extensions).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from pydantic.alias_generators import to_camel

from domain.values import format_instant

if TYPE_CHECKING:  # the type alone: encoding needs no event store (the CLI's JSON answers)
    from timeline.application import LoggedFact

SPEC_VERSION = "1.0"
#: The `source` of every event: one log per deployment, so one source.
SOURCE = "urn:policy-timeline"
#: Prefix of the `type` attribute: reverse-DNS style, then the domain event's name.
TYPE_PREFIX = "org.policy-timeline."


def to_cloudevent(logged: LoggedFact, slug: str) -> dict[str, Any]:
    """The envelope of one event of aggregate `slug`: id `kind:slug@version`, JSON data.

    `id` is the same text as the GraphQL `Event.id`; `subject` names the aggregate
    (`policy:meta/hate-speech`); `time` is `recordedAt`; `data` carries the three instants
    and the payload with camelCase keys, as the commands take them.
    """
    fact = logged.fact
    subject = f"{logged.kind}:{slug}"
    return {
        "specversion": SPEC_VERSION,
        "id": f"{subject}@{fact.version}",
        "source": SOURCE,
        "type": TYPE_PREFIX + fact.type,
        "time": format_instant(fact.recorded_at),
        "subject": subject,
        "datacontenttype": "application/json",
        "position": logged.position,
        "data": {
            "type": fact.type,
            "aggregateKind": logged.kind,
            "aggregateId": slug,  # as GraphQL's Event.aggregateId; `subject` is kind:slug
            "aggregateSlug": slug,
            "aggregateUuid": str(fact.aggregate_id),
            "aggregateVersion": fact.version,
            "position": logged.position,
            "effectiveAt": _instant(fact.effective_at),
            "announcedAt": _instant(fact.announced_at),
            "recordedAt": format_instant(fact.recorded_at),
            "payload": camel_json({k: v for k, v in fact.data.items() if k != "slug"}),
        },
    }


def camel_json(value: Any) -> Any:
    """JSON-native copy of `value` with snake_case keys in camelCase (instants in UTC ISO):
    the one wire rule for payloads, pydantic's `to_camel`, which also names the command fields
    (so a payload key reads as the client sent it)."""
    if isinstance(value, Mapping):
        return {to_camel(str(k)): camel_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [camel_json(v) for v in value]
    if isinstance(value, datetime):
        return format_instant(value)
    if isinstance(value, UUID):
        return str(value)
    return value


def _instant(value: datetime | None) -> str | None:
    return format_instant(value) if value is not None else None
