"""Queries: point-in-time reads through projections/queries.py, and the event log."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

import strawberry
from strawberry.types import Info

from api import events as ev
from api.connections import (
    BY_EFFECTIVE_TIME,
    BY_SLUG,
    ActorConnection,
    PolicyConnection,
    RegulatoryActionConnection,
    StatementConnection,
    TimelineConnection,
    connection,
)
from api.context import Context, described, run
from api.errors import BadInput
from api.log_head import LogHead, log_head
from api.types import (
    Actor,
    Policy,
    PolicyDiff,
    PolicyStatus,
    PolicyVersion,
    RegulatoryAction,
    RegulatoryStatus,
    Statement,
    TimelineEntry,
)
from domain.values import check_time_zone
from projections import queries
from timeline.streams.reader import check_type

ValidAt = Annotated[
    datetime | None,
    strawberry.argument(description="The moment in the world asked about; default now."),
]
KnownAt = Annotated[
    datetime | None,
    strawberry.argument(description="Answer as the service would have answered then; default now."),
]


@strawberry.input
class PolicyFilter:
    owner: str | None = None
    jurisdiction: str | None = strawberry.field(
        default=None, description="Policies with a clause applying there (ISO 3166 code)."
    )
    status: PolicyStatus | None = None
    search: str | None = strawberry.field(default=None, description="Words in title or text.")


@strawberry.input
class RegulatoryFilter:
    authority: str | None = None
    jurisdiction: str | None = None
    target: str | None = None
    status: RegulatoryStatus | None = None


@strawberry.input
class TimelineFilter:
    actor: str | None = None
    jurisdiction: str | None = None
    policy: str | None = strawberry.field(
        default=None, description="A policy's slug: its own facts and the facts citing it."
    )
    kinds: list[str] | None = strawberry.field(
        default=None, description="policy, regulatory-action, statement, actor"
    )
    types: list[str] | None = strawberry.field(default=None, description="Event types.")


def _zone(time_zone: str | None) -> str:
    """The `timeZone` argument: an explicit null means the default (DESIGN's contract)."""
    if time_zone is None:
        return "UTC"
    check_time_zone("timeZone", time_zone)
    return time_zone


def _order(field: str, start: datetime | None, end: datetime | None) -> None:
    if start is not None and end is not None and end < start:
        raise BadInput(field, "must not be before the start of the range")


@strawberry.type
class Query:
    @described("The policy in force at validAt, as known at knownAt.")
    async def policy(
        self,
        info: Info[Context, None],
        id: strawberry.ID,
        valid_at: ValidAt = None,
        known_at: KnownAt = None,
    ) -> Policy | None:
        await info.context.authorize_read()
        found = await run(queries.policy_at, info.context.engine, str(id), valid_at, known_at)
        return Policy.of(found, valid_at, known_at) if found else None

    @described(
        "Every version in force at any moment of a calendar day in "
        "a time zone, in order: a change during the day shows both versions."
    )
    async def policy_on(
        self,
        info: Info[Context, None],
        id: strawberry.ID,
        date: date,
        time_zone: str | None = "UTC",
        known_at: KnownAt = None,
    ) -> list[PolicyVersion]:
        await info.context.authorize_read()
        found = await run(
            queries.policy_on, info.context.engine, str(id), date, _zone(time_zone), known_at
        )
        return [PolicyVersion.at_start(p, known_at) for p in found]

    @described("Policies in force at validAt, ordered by id.")
    async def policies(
        self,
        info: Info[Context, None],
        valid_at: ValidAt = None,
        known_at: KnownAt = None,
        filter: PolicyFilter | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> PolicyConnection:
        await info.context.authorize_read()
        f = filter or PolicyFilter()
        page = await run(
            queries.list_policies,
            info.context.engine,
            valid_at,
            known_at,
            owner=f.owner,
            jurisdiction=f.jurisdiction,
            status=f.status.value if f.status else None,
            search=f.search,
            first=info.context.page_size(first),
            after=after,
        )
        return connection(
            PolicyConnection, page, lambda p: Policy.of(p, valid_at, known_at), BY_SLUG, after
        )

    @described("All valid-time versions of a policy as known at knownAt.")
    async def policy_history(
        self, info: Info[Context, None], id: strawberry.ID, known_at: KnownAt = None
    ) -> list[PolicyVersion]:
        await info.context.authorize_read()
        found = await run(queries.policy_history, info.context.engine, str(id), known_at)
        return [PolicyVersion.at_start(p, known_at) for p in found]

    @described("Clause-level difference between two valid-time instants.")
    async def policy_diff(
        self,
        info: Info[Context, None],
        id: strawberry.ID,
        from_valid_at: datetime,
        to_valid_at: datetime,
        known_at: KnownAt = None,
    ) -> PolicyDiff:
        await info.context.authorize_read()
        found = await run(
            queries.policy_diff, info.context.engine, str(id), from_valid_at, to_valid_at, known_at
        )
        return PolicyDiff.of(found, known_at)

    @described("A regulatory action as seen at validAt (its status then).")
    async def regulatory_action(
        self,
        info: Info[Context, None],
        id: strawberry.ID,
        valid_at: ValidAt = None,
        known_at: KnownAt = None,
    ) -> RegulatoryAction | None:
        await info.context.authorize_read()
        found = await run(
            queries.regulatory_action_at, info.context.engine, str(id), valid_at, known_at
        )
        return RegulatoryAction.of(found, valid_at, known_at) if found else None

    @described("Regulatory actions existing at validAt, ordered by id.")
    async def regulatory_actions(
        self,
        info: Info[Context, None],
        valid_at: ValidAt = None,
        known_at: KnownAt = None,
        filter: RegulatoryFilter | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> RegulatoryActionConnection:
        await info.context.authorize_read()
        f = filter or RegulatoryFilter()
        page = await run(
            queries.list_regulatory_actions,
            info.context.engine,
            valid_at,
            known_at,
            authority=f.authority,
            jurisdiction=f.jurisdiction,
            target=f.target,
            status=f.status.value if f.status else None,
            first=info.context.page_size(first),
            after=after,
        )
        return connection(
            RegulatoryActionConnection,
            page,
            lambda a: RegulatoryAction.of(a, valid_at, known_at),
            BY_SLUG,
            after,
        )

    @described(
        "All valid-time versions of a regulatory action (announced, in effect, lifted) "
        "as known at knownAt, in valid-time order."
    )
    async def regulatory_action_history(
        self, info: Info[Context, None], id: strawberry.ID, known_at: KnownAt = None
    ) -> list[RegulatoryAction]:
        await info.context.authorize_read()
        found = await run(queries.regulatory_action_history, info.context.engine, str(id), known_at)
        return [RegulatoryAction.of(a, a.valid_from, known_at) for a in found]

    @described("An actor with its name as at validAt, as known at knownAt.")
    async def actor(
        self,
        info: Info[Context, None],
        id: strawberry.ID,
        valid_at: ValidAt = None,
        known_at: KnownAt = None,
    ) -> Actor | None:
        await info.context.authorize_read()
        found = await info.context.actors.load((str(id), valid_at, known_at))
        return Actor.of(found) if found is not None else None

    @described("Actors existing at validAt, with their names then, ordered by id.")
    async def actors(
        self,
        info: Info[Context, None],
        valid_at: ValidAt = None,
        known_at: KnownAt = None,
        first: int | None = None,
        after: str | None = None,
    ) -> ActorConnection:
        await info.context.authorize_read()
        page = await run(
            queries.list_actors,
            info.context.engine,
            valid_at,
            known_at,
            first=info.context.page_size(first),
            after=after,
        )
        return connection(ActorConnection, page, Actor.of, BY_SLUG, after)

    @described("Statements as known at knownAt, ordered by id; `actor` keeps one actor's.")
    async def statements(
        self,
        info: Info[Context, None],
        known_at: KnownAt = None,
        actor: strawberry.ID | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> StatementConnection:
        await info.context.authorize_read()
        page = await run(
            queries.list_statements,
            info.context.engine,
            known_at,
            actor=str(actor) if actor is not None else None,
            first=info.context.page_size(first),
            after=after,
        )
        return connection(StatementConnection, page, Statement.of, BY_SLUG, after)

    @described("A statement as known at knownAt.")
    async def statement(
        self, info: Info[Context, None], id: strawberry.ID, known_at: KnownAt = None
    ) -> Statement | None:
        await info.context.authorize_read()
        found = await run(queries.statement_at, info.context.engine, str(id), known_at)
        return Statement.of(found) if found else None

    @described(
        "Facts across all aggregates with effectiveAt in [from, to), "
        "as believed at knownAt, in effective-time order."
    )
    async def timeline(
        self,
        info: Info[Context, None],
        from_: Annotated[datetime | None, strawberry.argument(name="from")] = None,
        to: datetime | None = None,
        known_at: KnownAt = None,
        filter: TimelineFilter | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> TimelineConnection:
        await info.context.authorize_read()
        _order("to", from_, to)
        f = filter or TimelineFilter()
        page = await run(
            queries.timeline_page,
            info.context.engine,
            from_=from_,
            to=to,
            known_at=known_at,
            actor=f.actor,
            jurisdiction=f.jurisdiction,
            policy=f.policy,
            kinds=tuple(f.kinds or ()),
            types=tuple(
                check_type(f"filter.types[{i}]", name) for i, name in enumerate(f.types or ())
            ),
            first=info.context.page_size(first),
            after=after,
        )
        return connection(TimelineConnection, page, TimelineEntry.of, BY_EFFECTIVE_TIME, after)

    @described("The global log in order, after a cursor (a position).")
    async def events(
        self,
        info: Info[Context, None],
        after: str | None = None,
        first: int | None = None,
        filter: ev.EventFilter | None = None,
    ) -> ev.EventConnection:
        await info.context.authorize_read()
        start = ev.parse_cursor(after)
        page = await run(
            ev.read_events,
            info.context.services.timeline,
            start,
            info.context.page_size(first),
            ev.stream_filter(filter),
        )
        return ev.connection(page, start)

    log_head: LogHead = strawberry.field(
        resolver=log_head,
        description=("The head of the log's hash chain (position, hash): cite it with an export."),
    )
