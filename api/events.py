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
from api.values import ClauseType, SourceType
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


#: The description of every member's `sources`.
_SOURCES = "Where the fact is documented."


@strawberry.type(name="PolicyAnnounced", description="A policy was announced.")
class PolicyAnnouncedType:
    title: str = strawberry.field(description="The policy's title.")
    owner: str = strawberry.field(description="The owner's slug.")
    summary: str = strawberry.field(description="One line saying what it is.")
    clauses: list[ClauseType] = strawberry.field(description="Its clauses, in order.")
    sources: list[SourceType] = strawberry.field(description=_SOURCES)


@strawberry.type(name="PolicyRevised", description="A policy was revised.")
class PolicyRevisedType:
    title: str | None = strawberry.field(description="The new title; null: unchanged.")
    summary: str = strawberry.field(description="One line saying what changed.")
    add_clauses: list[ClauseType] = strawberry.field(description="Clauses added.")
    amend_clauses: JSON = strawberry.field(description="Changed clause fields, by clause id.")
    remove_clauses: list[str] = strawberry.field(description="Ids of the clauses removed.")
    sources: list[SourceType] = strawberry.field(description=_SOURCES)


@strawberry.type(name="PolicyWithdrawn", description="A policy was withdrawn by its owner.")
class PolicyWithdrawnType:
    summary: str = strawberry.field(description="One line saying why or how.")
    sources: list[SourceType] = strawberry.field(description=_SOURCES)


@strawberry.type(
    name="RegulatoryActionAnnounced", description="An authority announced a regulatory action."
)
class RegulatoryActionAnnouncedType:
    authority: str = strawberry.field(description="The authority's slug.")
    jurisdiction: str = strawberry.field(description="ISO 3166 code where it applies.")
    targets: list[str] = strawberry.field(description="Slugs of the actors it targets.")
    kind: str = strawberry.field(description="restriction, block, fine, designation, ...")
    summary: str = strawberry.field(description="One line saying what it does.")
    text: str = strawberry.field(description="The action's full text.")
    in_response_to: list[str] = strawberry.field(
        description="References it cites, e.g. policy:meta/hate-speech@2."
    )
    sources: list[SourceType] = strawberry.field(description=_SOURCES)


@strawberry.type(
    name="RegulatoryActionAmended", description="A regulatory action was amended; null: unchanged."
)
class RegulatoryActionAmendedType:
    kind: str | None = strawberry.field(description="The new kind.")
    summary: str | None = strawberry.field(description="The new summary.")
    text: str | None = strawberry.field(description="The new text.")
    targets: list[str] | None = strawberry.field(description="The new targets.")
    in_response_to: list[str] | None = strawberry.field(description="The new references cited.")
    sources: list[SourceType] = strawberry.field(description=_SOURCES)


@strawberry.type(name="RegulatoryActionLifted", description="A regulatory action was lifted.")
class RegulatoryActionLiftedType:
    summary: str = strawberry.field(description="One line saying how it ended.")
    sources: list[SourceType] = strawberry.field(description=_SOURCES)


@strawberry.type(name="StatementRecorded", description="A public statement was recorded.")
class StatementRecordedType:
    actor: str = strawberry.field(description="Slug of the actor who made it.")
    kind: str = strawberry.field(description="post, blog-post, press-release, interview, ...")
    summary: str = strawberry.field(description="One line saying what it says.")
    text: str = strawberry.field(description="The statement's text.")
    in_response_to: list[str] = strawberry.field(description="References it responds to.")
    sources: list[SourceType] = strawberry.field(description=_SOURCES)


@strawberry.type(name="ActorRegistered", description="An actor was registered.")
class ActorRegisteredType:
    name: str = strawberry.field(description="Its name from effectiveAt.")
    kind: str = strawberry.field(description="organisation, platform, authority, court or person.")
    parent: str | None = strawberry.field(description="Slug of the actor it belongs to, if any.")
    sources: list[SourceType] = strawberry.field(description=_SOURCES)


@strawberry.type(name="ActorRenamed", description="An actor took a new name.")
class ActorRenamedType:
    name: str = strawberry.field(description="Its name from effectiveAt.")
    sources: list[SourceType] = strawberry.field(description=_SOURCES)


@strawberry.type(name="EventCorrected", description="Fields of an earlier event were corrected.")
class EventCorrectedType:
    target: str = strawberry.field(description="Reference of the corrected event.")
    changes: JSON = strawberry.field(description="The corrected fields, camelCase.")
    reason: str = strawberry.field(description="Why it was corrected.")
    sources: list[SourceType] = strawberry.field(description=_SOURCES)


@strawberry.type(name="EventRetracted", description="An earlier event was retracted.")
class EventRetractedType:
    target: str = strawberry.field(description="Reference of the retracted event.")
    reason: str = strawberry.field(description="Why it was retracted.")
    sources: list[SourceType] = strawberry.field(description=_SOURCES)


@strawberry.type(
    name="EventRedacted",
    description="Texts of an earlier event were erased from the store; its leaf and every "
    "proof still verify (docs/evidence.md).",
)
class EventRedactedType:
    target: str = strawberry.field(description="Reference of the redacted event.")
    reason: str = strawberry.field(description="Why it was redacted.")
    fields: list[str] = strawberry.field(description="The erased fields.")
    tombstone_digest: str = strawberry.field(
        description="SHA-256 (hex) of the tombstone now stored in the event's place."
    )


EventData = Annotated[
    PolicyAnnouncedType
    | PolicyRevisedType
    | PolicyWithdrawnType
    | RegulatoryActionAnnouncedType
    | RegulatoryActionAmendedType
    | RegulatoryActionLiftedType
    | StatementRecordedType
    | ActorRegisteredType
    | ActorRenamedType
    | EventCorrectedType
    | EventRetractedType
    | EventRedactedType,
    strawberry.union("EventData", description="The event with typed fields, by its type."),
]

#: The union members by event type (their GraphQL names).
_MEMBERS: dict[str, type] = {
    cls.__strawberry_definition__.name: cls  # type: ignore[union-attr]
    for cls in (
        PolicyAnnouncedType,
        PolicyRevisedType,
        PolicyWithdrawnType,
        RegulatoryActionAnnouncedType,
        RegulatoryActionAmendedType,
        RegulatoryActionLiftedType,
        StatementRecordedType,
        ActorRegisteredType,
        ActorRenamedType,
        EventCorrectedType,
        EventRetractedType,
        EventRedactedType,
    )
}


def typed(kind: str, slug: str, type_: str, data: Mapping[str, Any]) -> Any:
    """The union member for one event's payload."""
    member = _MEMBERS[type_]
    fields = {f.python_name for f in member.__strawberry_definition__.fields}  # type: ignore[attr-defined]
    values: dict[str, Any] = {name: data.get(name) for name in fields}
    if "sources" in fields:
        values["sources"] = SourceType.many(data.get("sources") or ())
    if "clauses" in fields:
        values["clauses"] = ClauseType.many(data.get("clauses") or ())
    if "add_clauses" in fields:
        values["add_clauses"] = ClauseType.many(data.get("add_clauses") or ())
        values["amend_clauses"] = camel_json(data.get("amend_clauses") or [])
        values["remove_clauses"] = list(data.get("remove_clauses") or ())
    if "changes" in fields:
        values["changes"] = camel_json(data.get("changes") or {})
    if "target" in fields:
        values["target"] = str(Reference(kind, slug, int(data["target"])))
    for name in ("targets", "in_response_to", "fields"):
        if name in fields and values[name] is not None:
            values[name] = list(values[name])
    return member(**values)


# -- the event -------------------------------------------------------------------------------


@strawberry.type(name="Event", description="One fact of the global, ordered log.")
class EventType:
    id: strawberry.ID = strawberry.field(
        description="Reference of the event, `kind:slug@version` (policy:meta/hate-speech@2)."
    )
    position: int = strawberry.field(description="Global log position: the cursor.")
    type: str = strawberry.field(description="The event type: PolicyAnnounced, EventCorrected, ...")
    aggregate_kind: str = strawberry.field(
        description="The aggregate's kind: policy, regulatory-action, statement or actor."
    )
    aggregate_id: strawberry.ID = strawberry.field(description="The aggregate's slug.")
    aggregate_version: int = strawberry.field(description="The aggregate's version it made.")
    effective_at: datetime | None = strawberry.field(
        description="When it takes effect in the world (none for corrections/retractions)."
    )
    announced_at: datetime | None = strawberry.field(
        description="When it was made public (none for corrections/retractions)."
    )
    recorded_at: datetime = strawberry.field(description="When the service stored it.")
    payload: JSON = strawberry.field(description="The event's fields, camelCase.")
    data: EventData = strawberry.field(description="The same fields, typed by the event type.")


def event_from(logged: LoggedFact, slug: str) -> EventType:
    """The GraphQL event for one logged fact of the aggregate `slug`."""
    fact = logged.fact
    payload = {k: v for k, v in fact.data.items() if k != "slug"}
    return EventType(
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
    name="EventFilter",
    description=(
        "Which events to return: every given field must match (AND); within a field any "
        "value may (OR). The same criteria as the subscription, SSE, NDJSON and webhooks."
    ),
)
class EventFilterType:
    types: list[str] | None = strawberry.field(
        default=None, description="Event types, e.g. PolicyRevised."
    )
    aggregate_kinds: list[str] | None = strawberry.field(
        default=None, description="policy, regulatory-action, statement, actor."
    )
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


#: The `after` argument of `events` (query and subscription): a log position.
LogCursor = Annotated[
    str | None,
    strawberry.argument(description="A log position: the events after it; default the start."),
]
#: Their `filter` argument.
Filter = Annotated[
    EventFilterType | None,
    strawberry.argument(description="Which events; default all."),
]


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


def stream_filter(given: EventFilterType | None, field: str = "filter") -> event_stream.EventFilter:
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


@strawberry.type(description="One event of a page with its cursor (Relay).")
class EventEdge:
    cursor: str = strawberry.field(description="The event's position; pass as `after`.")
    node: EventType = strawberry.field(description="The event.")


@strawberry.type(description="A page of the event log (Relay connection).")
class EventConnection:
    edges: list[EventEdge] = strawberry.field(description="The page's events with their cursors.")
    nodes: list[EventType] = strawberry.field(description="The page's events, without cursors.")
    page_info: PageInfo = strawberry.field(
        description="Cursors are log positions; `endCursor` is where the page's scan stopped."
    )


@dataclass(frozen=True)
class EventPage:
    events: list[EventType]
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
    found: list[EventType] = []
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
