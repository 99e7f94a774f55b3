"""Queries: point-in-time reads through projections/queries.py, and the event log."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, NoReturn

import strawberry
from strawberry.types import Info

from api import events as ev
from api import log_head as proofs
from api import search as fulltext
from api.arguments import (
    ActionId,
    ActorId,
    After,
    First,
    KnownAt,
    KnownAtPosition,
    PolicyId,
    StatementId,
    ValidAt,
)
from api.connections import (
    BY_FEED_INSTANT,
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
from api.types import (
    ActorType,
    PolicyDiffType,
    PolicyStatus,
    PolicyType,
    PolicyVersionType,
    RegulatoryActionType,
    RegulatoryStatus,
    StatementType,
    TimelineEntryType,
)
from domain.values import check_slug, check_time_zone, filter_jurisdiction
from projections import absence, queries
from timeline.streams.reader import check_type


@strawberry.input(description="Which policies to list: every given field must match.")
class PolicyFilter:
    owner: str | None = strawberry.field(default=None, description="The owner's slug.")
    jurisdiction: str | None = strawberry.field(
        default=None, description="Policies with a clause applying there (ISO 3166 code)."
    )
    status: PolicyStatus | None = strawberry.field(default=None, description="ACTIVE or WITHDRAWN.")
    search: str | None = strawberry.field(
        default=None,
        description="Words in its title, summary or a clause (full-text, as `search`), "
        "or a piece of its id.",
    )


@strawberry.input(description="Which regulatory actions to list: every given field must match.")
class RegulatoryFilter:
    authority: str | None = strawberry.field(default=None, description="The authority's slug.")
    jurisdiction: str | None = strawberry.field(
        default=None, description="ISO 3166 code where the action applies."
    )
    target: str | None = strawberry.field(
        default=None, description="Slug of an actor the action targets."
    )
    status: RegulatoryStatus | None = strawberry.field(
        default=None, description="The status at validAt."
    )


@strawberry.input(description="Which timeline entries to list: every given field must match.")
class TimelineFilter:
    actor: str | None = strawberry.field(
        default=None, description="Slug of an actor involved (owner, authority, target, author)."
    )
    jurisdiction: str | None = strawberry.field(
        default=None, description="ISO 3166 code: an action's jurisdiction or a clause scope."
    )
    policy: str | None = strawberry.field(
        default=None, description="A policy's slug: its own facts and the facts citing it."
    )
    kinds: list[str] | None = strawberry.field(
        default=None, description="Aggregate kinds: policy, regulatory-action, statement, actor."
    )
    types: list[str] | None = strawberry.field(
        default=None, description="Event types, e.g. PolicyRevised."
    )


def _zone(time_zone: str | None) -> str:
    """The `timeZone` argument: an explicit null means the default (DESIGN's contract)."""
    if time_zone is None:
        return "UTC"
    check_time_zone("timeZone", time_zone)
    return time_zone


def _slugs(named: dict[str, str | None]) -> None:
    """Every slug argument of a read (an id, a filter's actor or policy) through the one slug
    rule, so a malformed one is BAD_INPUT naming its argument, never a lookup."""
    for field, value in named.items():
        if value is not None:
            check_slug(field, value)


def _jurisdiction(field: str, code: str | None) -> str | None:
    """A filter's jurisdiction checked and spelt as the event filter does (upper case)."""
    return None if code is None else filter_jurisdiction(field, code)


async def _absent(
    info: Info[Context, None], kind: str, slug: str, *at: datetime | int | None
) -> NoReturn:
    """Raise why `kind` `slug` has no answer at (validAt, knownAt): NOT_FOUND, NOT_YET_KNOWN
    or NOT_IN_FORCE with the nearest versions (projections/absence.py)."""
    raise await run(absence.why_absent, info.context.engine, kind, slug, *at)


async def _known(
    info: Info[Context, None], kind: str, slug: str, at: int, known_at: datetime | None
) -> None:
    """NOT_FOUND or NOT_YET_KNOWN unless `kind` `slug` is known at `known_at`."""
    await run(absence.require_known, info.context.engine, kind, slug, at, known_at)


def _order(field: str, start: datetime | None, end: datetime | None) -> None:
    if start is not None and end is not None and end < start:
        raise BadInput(field, "must not be before the start of the range")


@strawberry.type(description="Point-in-time reads and the event log.")
class Query:
    @described(
        "The policy in force at validAt, as known at knownAt."
        " No answer says why in extensions.code: NOT_FOUND, NOT_YET_KNOWN or NOT_IN_FORCE."
    )
    async def policy(
        self,
        info: Info[Context, None],
        id: PolicyId,
        valid_at: ValidAt = None,
        known_at: KnownAt = None,
        known_at_position: KnownAtPosition = None,
    ) -> PolicyType | None:
        await info.context.authorize_read()
        _slugs({"id": id})
        at = await info.context.basis(known_at, known_at_position)
        found = await run(queries.policy_at, info.context.engine, str(id), valid_at, at)
        if found is None:
            await _absent(info, "policy", str(id), valid_at, at, known_at)
        return PolicyType.of(found, valid_at, at) if found else None

    @described(
        "Every version in force at any moment of a calendar day in "
        "a time zone, in order: a change during the day shows both versions."
    )
    async def policy_on(
        self,
        info: Info[Context, None],
        id: PolicyId,
        date: Annotated[
            date, strawberry.argument(description="The calendar day, e.g. 2022-03-13.")
        ],
        time_zone: Annotated[
            str | None,
            strawberry.argument(description="IANA time zone of the day, e.g. Europe/Moscow."),
        ] = "UTC",
        known_at: KnownAt = None,
        known_at_position: KnownAtPosition = None,
    ) -> list[PolicyVersionType]:
        await info.context.authorize_read()
        _slugs({"id": id})
        at = await info.context.basis(known_at, known_at_position)
        found = await run(
            queries.policy_on, info.context.engine, str(id), date, _zone(time_zone), at
        )
        if not found:
            await _known(info, "policy", str(id), at, known_at)
        return [PolicyVersionType.at_start(p, at) for p in found]

    @described("Policies in force at validAt, ordered by id.")
    async def policies(
        self,
        info: Info[Context, None],
        valid_at: ValidAt = None,
        known_at: KnownAt = None,
        known_at_position: KnownAtPosition = None,
        filter: Annotated[
            PolicyFilter | None, strawberry.argument(description="Narrow the list; default all.")
        ] = None,
        first: First = None,
        after: After = None,
    ) -> PolicyConnection:
        await info.context.authorize_read()
        at = await info.context.basis(known_at, known_at_position)
        f = filter or PolicyFilter()
        _slugs({"filter.owner": f.owner})
        page = await run(
            queries.list_policies,
            info.context.engine,
            valid_at,
            at,
            owner=f.owner,
            jurisdiction=_jurisdiction("filter.jurisdiction", f.jurisdiction),
            status=f.status.value if f.status else None,
            search=f.search,
            first=info.context.page_size(first),
            after=after,
        )
        return connection(
            PolicyConnection, page, lambda p: PolicyType.of(p, valid_at, at), BY_SLUG, after
        )

    @described("All valid-time versions of a policy as known at knownAt.")
    async def policy_history(
        self,
        info: Info[Context, None],
        id: PolicyId,
        known_at: KnownAt = None,
        known_at_position: KnownAtPosition = None,
    ) -> list[PolicyVersionType]:
        await info.context.authorize_read()
        _slugs({"id": id})
        at = await info.context.basis(known_at, known_at_position)
        found = await run(queries.policy_history, info.context.engine, str(id), at)
        if not found:
            await _known(info, "policy", str(id), at, known_at)
        return [PolicyVersionType.at_start(p, at) for p in found]

    @described("Clause-level difference between two valid-time instants.")
    async def policy_diff(
        self,
        info: Info[Context, None],
        id: PolicyId,
        from_valid_at: Annotated[
            datetime, strawberry.argument(description="The earlier instant (before).")
        ],
        to_valid_at: Annotated[
            datetime, strawberry.argument(description="The later instant (after).")
        ],
        known_at: KnownAt = None,
        known_at_position: KnownAtPosition = None,
    ) -> PolicyDiffType:
        await info.context.authorize_read()
        _slugs({"id": id})
        at = await info.context.basis(known_at, known_at_position)
        found = await run(
            queries.policy_diff, info.context.engine, str(id), from_valid_at, to_valid_at, at
        )
        if found.before is None and found.after is None:
            await _known(info, "policy", str(id), at, known_at)
        return PolicyDiffType.of(found, at)

    @described(
        "A regulatory action as seen at validAt (its status then)."
        " No answer says why in extensions.code: NOT_FOUND, NOT_YET_KNOWN or NOT_IN_FORCE."
    )
    async def regulatory_action(
        self,
        info: Info[Context, None],
        id: ActionId,
        valid_at: ValidAt = None,
        known_at: KnownAt = None,
        known_at_position: KnownAtPosition = None,
    ) -> RegulatoryActionType | None:
        await info.context.authorize_read()
        _slugs({"id": id})
        at = await info.context.basis(known_at, known_at_position)
        found = await run(queries.regulatory_action_at, info.context.engine, str(id), valid_at, at)
        if found is None:
            await _absent(info, "regulatory-action", str(id), valid_at, at, known_at)
        return RegulatoryActionType.of(found, valid_at, at) if found else None

    @described("Regulatory actions existing at validAt, ordered by id.")
    async def regulatory_actions(
        self,
        info: Info[Context, None],
        valid_at: ValidAt = None,
        known_at: KnownAt = None,
        known_at_position: KnownAtPosition = None,
        filter: Annotated[
            RegulatoryFilter | None,
            strawberry.argument(description="Narrow the list; default all."),
        ] = None,
        first: First = None,
        after: After = None,
    ) -> RegulatoryActionConnection:
        await info.context.authorize_read()
        at = await info.context.basis(known_at, known_at_position)
        f = filter or RegulatoryFilter()
        _slugs({"filter.authority": f.authority, "filter.target": f.target})
        page = await run(
            queries.list_regulatory_actions,
            info.context.engine,
            valid_at,
            at,
            authority=f.authority,
            jurisdiction=_jurisdiction("filter.jurisdiction", f.jurisdiction),
            target=f.target,
            status=f.status.value if f.status else None,
            first=info.context.page_size(first),
            after=after,
        )
        return connection(
            RegulatoryActionConnection,
            page,
            lambda a: RegulatoryActionType.of(a, valid_at, at),
            BY_SLUG,
            after,
        )

    @described(
        "All valid-time versions of a regulatory action (announced, in effect, lifted) "
        "as known at knownAt, in valid-time order."
    )
    async def regulatory_action_history(
        self,
        info: Info[Context, None],
        id: ActionId,
        known_at: KnownAt = None,
        known_at_position: KnownAtPosition = None,
    ) -> list[RegulatoryActionType]:
        await info.context.authorize_read()
        _slugs({"id": id})
        at = await info.context.basis(known_at, known_at_position)
        found = await run(queries.regulatory_action_history, info.context.engine, str(id), at)
        if not found:
            await _known(info, "regulatory-action", str(id), at, known_at)
        return [RegulatoryActionType.of(a, a.valid_from, at) for a in found]

    @described(
        "An actor with its name as at validAt, as known at knownAt."
        " No answer says why in extensions.code: NOT_FOUND, NOT_YET_KNOWN or NOT_IN_FORCE."
    )
    async def actor(
        self,
        info: Info[Context, None],
        id: ActorId,
        valid_at: ValidAt = None,
        known_at: KnownAt = None,
        known_at_position: KnownAtPosition = None,
    ) -> ActorType | None:
        await info.context.authorize_read()
        _slugs({"id": id})
        at = await info.context.basis(known_at, known_at_position)
        found = await info.context.actors.load((str(id), valid_at, at))
        if found is None:
            await _absent(info, "actor", str(id), valid_at, at, known_at)
        return ActorType.of(found) if found is not None else None

    @described("Actors existing at validAt, with their names then, ordered by id.")
    async def actors(
        self,
        info: Info[Context, None],
        valid_at: ValidAt = None,
        known_at: KnownAt = None,
        known_at_position: KnownAtPosition = None,
        first: First = None,
        after: After = None,
    ) -> ActorConnection:
        await info.context.authorize_read()
        at = await info.context.basis(known_at, known_at_position)
        page = await run(
            queries.list_actors,
            info.context.engine,
            valid_at,
            at,
            first=info.context.page_size(first),
            after=after,
        )
        return connection(ActorConnection, page, ActorType.of, BY_SLUG, after)

    @described("Statements as known at knownAt, ordered by id; `actor` keeps one actor's.")
    async def statements(
        self,
        info: Info[Context, None],
        known_at: KnownAt = None,
        known_at_position: KnownAtPosition = None,
        actor: Annotated[
            strawberry.ID | None,
            strawberry.argument(description="Only this actor's statements (its slug)."),
        ] = None,
        first: First = None,
        after: After = None,
    ) -> StatementConnection:
        await info.context.authorize_read()
        _slugs({"actor": actor})
        at = await info.context.basis(known_at, known_at_position)
        page = await run(
            queries.list_statements,
            info.context.engine,
            at,
            actor=str(actor) if actor is not None else None,
            first=info.context.page_size(first),
            after=after,
        )
        return connection(StatementConnection, page, StatementType.of, BY_SLUG, after)

    @described(
        "A statement as known at knownAt. No answer says why in extensions.code: "
        "NOT_FOUND or NOT_YET_KNOWN."
    )
    async def statement(
        self,
        info: Info[Context, None],
        id: StatementId,
        known_at: KnownAt = None,
        known_at_position: KnownAtPosition = None,
    ) -> StatementType | None:
        await info.context.authorize_read()
        _slugs({"id": id})
        at = await info.context.basis(known_at, known_at_position)
        found = await run(queries.statement_at, info.context.engine, str(id), at)
        if found is None:
            await _absent(info, "statement", str(id), None, at, known_at)
        return StatementType.of(found) if found else None

    @described(
        "Facts across all aggregates as believed at knownAt, in the order the world saw "
        "them: each fact at its effectiveAt and, when made public at another instant, its "
        "announcement at announcedAt (entryKind ANNOUNCEMENT); entries whose `at` is in "
        "[from, to), in (at, position) order."
    )
    async def timeline(
        self,
        info: Info[Context, None],
        from_: Annotated[
            datetime | None,
            strawberry.argument(
                name="from", description="Earliest entry instant `at` (inclusive)."
            ),
        ] = None,
        to: Annotated[
            datetime | None,
            strawberry.argument(description="Latest entry instant `at` (exclusive)."),
        ] = None,
        known_at: KnownAt = None,
        known_at_position: KnownAtPosition = None,
        filter: Annotated[
            TimelineFilter | None, strawberry.argument(description="Narrow the list; default all.")
        ] = None,
        first: First = None,
        after: After = None,
    ) -> TimelineConnection:
        await info.context.authorize_read()
        at = await info.context.basis(known_at, known_at_position)
        _order("to", from_, to)
        f = filter or TimelineFilter()
        _slugs({"filter.actor": f.actor, "filter.policy": f.policy})
        page = await run(
            queries.timeline_page,
            info.context.engine,
            from_=from_,
            to=to,
            known_at=at,
            actor=f.actor,
            jurisdiction=_jurisdiction("filter.jurisdiction", f.jurisdiction),
            policy=f.policy,
            kinds=tuple(f.kinds or ()),
            types=tuple(
                check_type(f"filter.types[{i}]", name) for i, name in enumerate(f.types or ())
            ),
            first=info.context.page_size(first),
            after=after,
        )
        return connection(TimelineConnection, page, TimelineEntryType.of, BY_FEED_INSTANT, after)

    @described("The global log in order, after a cursor (a position).")
    async def events(
        self,
        info: Info[Context, None],
        after: ev.LogCursor = None,
        first: First = None,
        filter: ev.Filter = None,
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

    search: fulltext.SearchConnection = strawberry.field(
        resolver=fulltext.search,
        description="Full-text search in time: the policies, regulatory actions and "
        "statements whose title, summary, clause or text said these words at validAt, as "
        "known at knownAt or right after knownAtPosition (as every read), best rank first, with "
        "highlighted snippets.",
    )

    log_head: proofs.SignedTreeHeadType = strawberry.field(
        resolver=proofs.log_head,
        description="The log's signed Merkle tree head, now or as known at an instant or "
        "position: cite it with an answer (docs/evidence.md).",
    )
    signing_key: proofs.SigningKeyType = strawberry.field(
        resolver=proofs.signing_key, description="The public key that signs tree heads."
    )
    inclusion_proof: proofs.InclusionProofType = strawberry.field(
        resolver=proofs.inclusion_proof,
        description="RFC 9162 proof that the event at a position is in a tree head.",
    )
    consistency_proof: proofs.ConsistencyProofType = strawberry.field(
        resolver=proofs.consistency_proof,
        description="RFC 9162 proof that the tree of `to` leaves appends to that of `from`.",
    )
    evidence: proofs.EvidenceType = strawberry.field(
        resolver=proofs.evidence,
        description="An evidence bundle: the answer, every event folded into it with its "
        "inclusion proof against one signed head, and the key (docs/evidence.md).",
    )
