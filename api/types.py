"""GraphQL output types over the read models (projections/models.py); resolvers stay thin."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Self, TypeVar

import strawberry
from strawberry.types import Info

from api.context import Context, described, run
from api.values import Clause, Source
from domain.values import Reference
from projections import models as m
from projections import queries

T = TypeVar("T")


@strawberry.enum(description="ACTIVE while in force; WITHDRAWN keeps its last clauses.")
class PolicyStatus(Enum):
    ACTIVE = "ACTIVE"
    WITHDRAWN = "WITHDRAWN"


@strawberry.enum(description="ANNOUNCED (not yet in effect), IN_EFFECT, LIFTED.")
class RegulatoryStatus(Enum):
    ANNOUNCED = "ANNOUNCED"
    IN_EFFECT = "IN_EFFECT"
    LIFTED = "LIFTED"


@strawberry.enum
class ClauseChangeKind(Enum):
    ADDED = "ADDED"
    REMOVED = "REMOVED"
    CHANGED = "CHANGED"
    UNCHANGED = "UNCHANGED"


@strawberry.type(
    description="An organisation, platform, authority, court or person, with "
    "its name as at the moment asked about."
)
class Actor:
    id: strawberry.ID
    name: str
    kind: str
    parent: str | None
    former_names: list[str]
    valid_from: datetime
    valid_to: datetime | None

    @classmethod
    def of(cls, actor: m.ActorVersion) -> Actor:
        return cls(
            id=strawberry.ID(actor.slug),
            name=actor.name,
            kind=actor.kind,
            parent=actor.parent,
            former_names=list(actor.former_names),
            valid_from=actor.valid_from,
            valid_to=actor.valid_to,
        )


async def _actor(
    info: Info[Context, None], slug: str, valid_at: datetime | None, known_at: datetime | None
) -> Actor | None:
    found = await info.context.actors.load((slug, valid_at, known_at))
    return Actor.of(found) if found is not None else None


@strawberry.type(description="One fact in the cross-aggregate feed, as believed at knownAt.")
class TimelineEntry:
    id: strawberry.ID = strawberry.field(description="The event's reference, kind:slug@version.")
    position: int
    kind: str
    aggregate_id: strawberry.ID
    version: int
    type: str
    effective_at: datetime
    announced_at: datetime
    recorded_at: datetime
    summary: str
    actors: list[str]
    jurisdictions: list[str]
    policies: list[str]
    known_from: datetime
    known_to: datetime | None

    @classmethod
    def of(cls, e: m.TimelineEntry) -> TimelineEntry:
        return cls(
            id=strawberry.ID(f"{e.kind}:{e.slug}@{e.version}"),
            position=e.position,
            kind=e.kind,
            aggregate_id=strawberry.ID(e.slug),
            version=e.version,
            type=e.type,
            effective_at=e.effective_at,
            announced_at=e.announced_at,
            recorded_at=e.recorded_at,
            summary=e.summary,
            actors=list(e.actors),
            jurisdictions=list(e.jurisdictions),
            policies=list(e.policies),
            known_from=e.known_from,
            known_to=e.known_to,
        )


@strawberry.type(description="A regulatory action as seen at validAt, as known at knownAt.")
class RegulatoryAction:
    id: strawberry.ID
    authority: str
    jurisdiction: str
    targets: list[str]
    kind: str
    summary: str
    text: str
    in_response_to: list[str]
    sources: list[Source]
    announced_at: datetime
    in_effect_from: datetime
    lifted_at: datetime | None
    status: RegulatoryStatus
    revision: int
    changed_by: int
    change_type: str
    valid_from: datetime
    valid_to: datetime | None
    known_from: datetime
    known_to: datetime | None
    valid_at: strawberry.Private[datetime | None]
    known_at: strawberry.Private[datetime | None]

    @described("The authority, named as at validAt.")
    async def authority_actor(self, info: Info[Context, None]) -> Actor | None:
        return await _actor(info, self.authority, self.valid_at, self.known_at)

    @described("The policies this action cites (inResponseTo), as in force at validAt.")
    async def responds_to(self, info: Info[Context, None]) -> list[Policy]:
        cited = (Reference.parse("inResponseTo", ref) for ref in self.in_response_to)
        slugs = [ref.slug for ref in cited if ref.kind == "policy"]
        found = await info.context.policies.load_many(
            [(slug, self.valid_at, self.known_at) for slug in dict.fromkeys(slugs)]
        )
        return [Policy.of(p, self.valid_at, self.known_at) for p in found if p is not None]

    @classmethod
    def of(
        cls, a: m.RegulatoryActionVersion, valid_at: datetime | None, known_at: datetime | None
    ) -> RegulatoryAction:
        return cls(
            id=strawberry.ID(a.slug),
            authority=a.authority,
            jurisdiction=a.jurisdiction,
            targets=list(a.targets),
            kind=a.kind,
            summary=a.summary,
            text=a.text,
            in_response_to=list(a.in_response_to),
            sources=Source.many(a.sources),
            announced_at=a.announced_at,
            in_effect_from=a.in_effect_from,
            lifted_at=a.lifted_at,
            status=RegulatoryStatus(a.status),
            revision=a.revision,
            changed_by=a.changed_by,
            change_type=a.change_type,
            valid_from=a.valid_from,
            valid_to=a.valid_to,
            known_from=a.known_from,
            known_to=a.known_to,
            valid_at=valid_at,
            known_at=known_at,
        )


@strawberry.type(
    description="A policy as in force over [validFrom, validTo), as known over "
    "[knownFrom, knownTo)."
)
class Policy:
    id: strawberry.ID
    title: str
    owner: str = strawberry.field(description="The owner's slug; see ownerActor for its name.")
    summary: str
    status: PolicyStatus
    version: int = strawberry.field(
        description="The policy's stream version (pass as expectedVersion when revising)."
    )
    revision: int = strawberry.field(description="How many facts are folded into this version.")
    changed_by: int = strawberry.field(description="Version of the event that made it.")
    change_type: str
    valid_from: datetime
    valid_to: datetime | None
    known_from: datetime
    known_to: datetime | None
    clauses: list[Clause]
    text: str
    sources: list[Source]
    valid_at: strawberry.Private[datetime | None]
    known_at: strawberry.Private[datetime | None]

    @described("The owner, named as at validAt.")
    async def owner_actor(self, info: Info[Context, None]) -> Actor | None:
        return await _actor(info, self.owner, self.valid_at, self.known_at)

    @described("Regulatory actions citing this policy (inResponseTo), as seen at validAt.")
    async def responses(self, info: Info[Context, None]) -> list[RegulatoryAction]:
        found = await info.context.responses.load((str(self.id), self.valid_at, self.known_at))
        return [RegulatoryAction.of(a, self.valid_at, self.known_at) for a in found]

    @described(
        "The policy's own facts (announced, revised, withdrawn) as "
        "believed at knownAt, in effective-time order."
    )
    async def changes(
        self, info: Info[Context, None], first: int | None = None
    ) -> list[TimelineEntry]:
        size = info.context.page_size(first)
        page = await run(
            queries.timeline_page,
            info.context.engine,
            known_at=self.known_at,
            policy=str(self.id),
            kinds=("policy",),
            first=size,
        )
        return [TimelineEntry.of(e) for e in page.items if e.slug == str(self.id)]

    @classmethod
    def of(
        cls, p: m.PolicyVersion, valid_at: datetime | None = None, known_at: datetime | None = None
    ) -> Self:
        return cls(
            id=strawberry.ID(p.slug),
            title=p.title,
            owner=p.owner,
            summary=p.summary,
            status=PolicyStatus(p.status),
            version=p.aggregate_version,
            revision=p.revision,
            changed_by=p.changed_by,
            change_type=p.change_type,
            valid_from=p.valid_from,
            valid_to=p.valid_to,
            known_from=p.known_from,
            known_to=p.known_to,
            clauses=Clause.many(p.clauses),
            text=p.text,
            sources=Source.many(p.sources),
            valid_at=valid_at,
            known_at=known_at,
        )


@strawberry.type(description="One version of a policy over its valid-time interval.")
class PolicyVersion(Policy):
    """Same fields as Policy; its nested lists are seen at its own validFrom."""

    @classmethod
    def at_start(cls, p: m.PolicyVersion, known_at: datetime | None) -> PolicyVersion:
        return cls.of(p, p.valid_from, known_at)


@strawberry.type
class ClauseChange:
    id: strawberry.ID
    change: ClauseChangeKind
    before: Clause | None
    after: Clause | None


@strawberry.type(description="Clause-level difference between two valid-time instants.")
class PolicyDiff:
    id: strawberry.ID
    before: PolicyVersion | None
    after: PolicyVersion | None
    clauses: list[ClauseChange]

    @classmethod
    def of(cls, d: m.PolicyDiff, known_at: datetime | None) -> PolicyDiff:
        return cls(
            id=strawberry.ID(d.slug),
            before=PolicyVersion.at_start(d.before, known_at) if d.before else None,
            after=PolicyVersion.at_start(d.after, known_at) if d.after else None,
            clauses=[
                ClauseChange(
                    id=strawberry.ID(c.id),
                    change=ClauseChangeKind(c.change),
                    before=Clause.of(c.before) if c.before else None,
                    after=Clause.of(c.after) if c.after else None,
                )
                for c in d.clauses
            ],
        )


@strawberry.type(description="A public reaction by a person or organisation.")
class Statement:
    id: strawberry.ID
    actor: str
    kind: str
    summary: str
    text: str
    in_response_to: list[str]
    sources: list[Source]
    made_at: datetime
    known_from: datetime
    known_to: datetime | None

    @classmethod
    def of(cls, s: m.StatementVersion) -> Statement:
        return cls(
            id=strawberry.ID(s.slug),
            actor=s.actor,
            kind=s.kind,
            summary=s.summary,
            text=s.text,
            in_response_to=list(s.in_response_to),
            sources=Source.many(s.sources),
            made_at=s.made_at,
            known_from=s.known_from,
            known_to=s.known_to,
        )
