"""The `Event` type: one fact of the global log, with its JSON payload and a typed union member.

Shared by the `events` query and the GraphQL subscription (api/subscriptions.py): build with
`event_from(logged, slug)`, turn the `EventFilter` input into the one filter of
timeline/streams/reader.py with `stream_filter`, page with `read_events`.
The cursor of the log is the global position, as a decimal string, everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

import strawberry
from strawberry.scalars import JSON

from api.connections import PageInfo
from api.errors import BadInput
from api.values import Clause, Source
from domain.errors import InvalidInput
from domain.values import Reference
from timeline import cursors
from timeline.application import LoggedFact, Timeline
from timeline.streams import reader as event_stream
from timeline.streams.cloudevents import camel_json

#: Largest number of log entries one `events` page scans while filtering.
SCAN_LIMIT = 10_000


def parse_cursor(after: str | None, field: str = "after") -> int:
    """A log cursor is a global position (absent or '': the start); the one parser is
    timeline/cursors.py, its refusal BAD_INPUT naming the field."""
    try:
        return cursors.start_position(after, field)
    except InvalidInput as error:
        raise BadInput(error.field, error.reason) from None


# -- typed members ---------------------------------------------------------------------------


@strawberry.type
class PolicyAnnounced:
    title: str
    owner: str
    summary: str
    clauses: list[Clause]
    sources: list[Source]


@strawberry.type
class PolicyRevised:
    title: str | None
    summary: str
    add_clauses: list[Clause]
    amend_clauses: JSON = strawberry.field(description="Changed clause fields, by clause id.")
    remove_clauses: list[str]
    sources: list[Source]


@strawberry.type
class PolicyWithdrawn:
    summary: str
    sources: list[Source]


@strawberry.type
class RegulatoryActionAnnounced:
    authority: str
    jurisdiction: str
    targets: list[str]
    kind: str
    summary: str
    text: str
    in_response_to: list[str]
    sources: list[Source]


@strawberry.type
class RegulatoryActionAmended:
    kind: str | None
    summary: str | None
    text: str | None
    targets: list[str] | None
    in_response_to: list[str] | None
    sources: list[Source]


@strawberry.type
class RegulatoryActionLifted:
    summary: str
    sources: list[Source]


@strawberry.type
class StatementRecorded:
    actor: str
    kind: str
    summary: str
    text: str
    in_response_to: list[str]
    sources: list[Source]


@strawberry.type
class ActorRegistered:
    name: str
    kind: str
    parent: str | None
    sources: list[Source]


@strawberry.type
class ActorRenamed:
    name: str
    sources: list[Source]


@strawberry.type
class EventCorrected:
    target: str = strawberry.field(description="Reference of the corrected event.")
    changes: JSON
    reason: str
    sources: list[Source]


@strawberry.type
class EventRetracted:
    target: str = strawberry.field(description="Reference of the retracted event.")
    reason: str
    sources: list[Source]


EventData = Annotated[
    PolicyAnnounced
    | PolicyRevised
    | PolicyWithdrawn
    | RegulatoryActionAnnounced
    | RegulatoryActionAmended
    | RegulatoryActionLifted
    | StatementRecorded
    | ActorRegistered
    | ActorRenamed
    | EventCorrected
    | EventRetracted,
    strawberry.union("EventData", description="The event with typed fields, by its type."),
]

_MEMBERS: dict[str, type] = {
    cls.__name__: cls
    for cls in (
        PolicyAnnounced,
        PolicyRevised,
        PolicyWithdrawn,
        RegulatoryActionAnnounced,
        RegulatoryActionAmended,
        RegulatoryActionLifted,
        StatementRecorded,
        ActorRegistered,
        ActorRenamed,
        EventCorrected,
        EventRetracted,
    )
}


def typed(kind: str, slug: str, type_: str, data: Mapping[str, Any]) -> Any:
    """The union member for one event's payload."""
    member = _MEMBERS[type_]
    fields = {f.python_name for f in member.__strawberry_definition__.fields}  # type: ignore[attr-defined]
    values: dict[str, Any] = {name: data.get(name) for name in fields}
    values["sources"] = Source.many(data.get("sources") or ())
    if "clauses" in fields:
        values["clauses"] = Clause.many(data.get("clauses") or ())
    if "add_clauses" in fields:
        values["add_clauses"] = Clause.many(data.get("add_clauses") or ())
        values["amend_clauses"] = camel_json(data.get("amend_clauses") or [])
        values["remove_clauses"] = list(data.get("remove_clauses") or ())
    if "changes" in fields:
        values["changes"] = camel_json(data.get("changes") or {})
    if "target" in fields:
        values["target"] = str(Reference(kind, slug, int(data["target"])))
    for name in ("targets", "in_response_to"):
        if name in fields and values[name] is not None:
            values[name] = list(values[name])
    return member(**values)


# -- the event -------------------------------------------------------------------------------


@strawberry.type(description="One fact of the global, ordered log.")
class Event:
    id: strawberry.ID = strawberry.field(
        description="Reference of the event, `kind:slug@version` (policy:meta/hate-speech@2)."
    )
    position: int = strawberry.field(description="Global log position: the cursor.")
    type: str = strawberry.field(description="PolicyAnnounced, EventCorrected, ...")
    aggregate_kind: str = strawberry.field(
        description="policy | regulatory-action | statement | actor"
    )
    aggregate_id: strawberry.ID = strawberry.field(description="The aggregate's slug.")
    aggregate_version: int
    effective_at: datetime | None = strawberry.field(
        description="When it takes effect in the world (none for corrections/retractions)."
    )
    announced_at: datetime | None
    recorded_at: datetime = strawberry.field(description="When the service stored it.")
    payload: JSON = strawberry.field(description="The event's fields, camelCase.")
    data: EventData


def event_from(logged: LoggedFact, slug: str) -> Event:
    """The GraphQL event for one logged fact of the aggregate `slug`."""
    fact = logged.fact
    payload = {k: v for k, v in fact.data.items() if k != "slug"}
    return Event(
        id=strawberry.ID(str(Reference(logged.kind, slug, fact.version))),
        position=logged.position,
        type=fact.type,
        aggregate_kind=logged.kind,
        aggregate_id=strawberry.ID(slug),
        aggregate_version=fact.version,
        effective_at=fact.effective_at,
        announced_at=fact.announced_at,
        recorded_at=fact.recorded_at,
        payload=camel_json(payload),
        data=typed(logged.kind, slug, fact.type, fact.data),
    )


@strawberry.input(
    description=(
        "Which events to return: every given field must match (AND); within a field any "
        "value may (OR). The same criteria as the subscription, SSE, NDJSON and webhooks."
    )
)
class EventFilter:
    types: list[str] | None = None
    aggregate_kinds: list[str] | None = None
    aggregate_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Slugs (meta/hate-speech) or references (policy:meta/x)."
    )
    actors: list[str] | None = strawberry.field(
        default=None,
        description=(
            "Actor slugs the aggregate involves as of the event: owner, authority, targets, "
            "statement author, or the actor itself."
        ),
    )
    jurisdictions: list[str] | None = strawberry.field(
        default=None,
        description="ISO 3166 codes: an action's jurisdiction or a policy's clause scopes.",
    )
    aggregate: strawberry.ID | None = strawberry.field(
        default=None, description="Shorthand for one aggregateIds entry."
    )
    type: str | None = strawberry.field(default=None, description="Shorthand for one types entry.")
    actor: str | None = strawberry.field(
        default=None, description="Shorthand for one actors entry."
    )
    jurisdiction: str | None = strawberry.field(
        default=None, description="Shorthand for one jurisdictions entry."
    )


def _with(values: list[Any] | None, one: Any | None) -> list[Any]:
    """A list criterion with its singular shorthand added."""
    return [*(values or ()), *(() if one is None else (one,))]


#: The GraphQL names of reader.EventFilter.build's criteria, for error fields.
_WIRE_NAMES = {
    "filter.aggregate[": "aggregateIds[",
    "filter.kind[": "aggregateKinds[",
    "filter.actor[": "actors[",
    "filter.jurisdiction[": "jurisdictions[",
    "filter.type[": "types[",
}


def stream_filter(given: EventFilter | None, field: str = "filter") -> event_stream.EventFilter:
    """The one filter implementation (timeline/streams/reader.py) for the GraphQL input; a bad
    value is BAD_INPUT naming it as sent, e.g. `filter.actors[0]`."""
    if given is None:
        return event_stream.EventFilter()
    try:
        return event_stream.EventFilter.build(
            aggregates=[str(a) for a in _with(given.aggregate_ids, given.aggregate)],
            types=_with(given.types, given.type),
            actors=_with(given.actors, given.actor),
            jurisdictions=_with(given.jurisdictions, given.jurisdiction),
            kinds=given.aggregate_kinds or (),
        )
    except InvalidInput as error:
        name = error.field
        for internal, wire in _WIRE_NAMES.items():
            if name.startswith(internal):
                name = f"{field}.{wire}{name.removeprefix(internal)}"
        raise BadInput(name, error.reason) from None


@strawberry.type
class EventEdge:
    cursor: str
    node: Event


@strawberry.type
class EventConnection:
    edges: list[EventEdge]
    nodes: list[Event]
    page_info: PageInfo = strawberry.field(
        description="Cursors are log positions; `endCursor` is where the page's scan stopped."
    )


@dataclass(frozen=True)
class EventPage:
    events: list[Event]
    end_position: int
    has_next_page: bool


def read_events(
    timeline: Timeline,
    after: int,
    first: int,
    wanted: event_stream.EventFilter | None = None,
) -> EventPage:
    """Up to `first` matching events after position `after`, scanning at most SCAN_LIMIT,
    read and matched exactly as the subscription and the streams do (timeline.streams.reader)."""
    wanted = wanted or event_stream.EventFilter()
    reader = event_stream.EventReader(timeline, tags=wanted.needs_tags)
    found: list[Event] = []
    position, scanned = after, 0
    batch = first + 1 if wanted.selects_all else max(first, 100)
    while scanned < SCAN_LIMIT:
        page = reader.read(position, batch)
        for item in page:
            if wanted.matches(item):
                if len(found) == first:
                    return EventPage(found, position, True)
                found.append(event_from(item.logged, item.slug))
            position = item.position
        scanned += len(page)
        if len(page) < batch:
            return EventPage(found, position, False)
    return EventPage(found, position, True)


def connection(page: EventPage, after: int) -> EventConnection:
    """The page read after log position `after` as a Relay connection."""
    return EventConnection(
        edges=[EventEdge(cursor=str(e.position), node=e) for e in page.events],
        nodes=page.events,
        page_info=PageInfo(
            has_next_page=page.has_next_page,
            has_previous_page=after > 0,
            end_cursor=str(page.end_position) if page.events or page.has_next_page else None,
            start_cursor=str(page.events[0].position) if page.events else None,
        ),
    )
