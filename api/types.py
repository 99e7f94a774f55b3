"""GraphQL output types over the read models (projections/models.py); resolvers stay thin."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Self, TypeVar

import strawberry
from strawberry.types import Info

from api.arguments import First
from api.context import Context, described, run
from api.values import ClauseType, CorrectionType, SourceType
from domain.values import Reference
from projections import models as m
from projections import queries

T = TypeVar("T")


@strawberry.enum(description="ACTIVE while in force; WITHDRAWN keeps its last clauses.")
class PolicyStatus(Enum):
    ACTIVE = strawberry.enum_value("ACTIVE", description="In force.")
    WITHDRAWN = strawberry.enum_value(
        "WITHDRAWN", description="Withdrawn by its owner; its last clauses stay readable."
    )


@strawberry.enum(description="ANNOUNCED (not yet in effect), IN_EFFECT, LIFTED.")
class RegulatoryStatus(Enum):
    ANNOUNCED = strawberry.enum_value(
        "ANNOUNCED", description="Made public, not yet in effect (before inEffectFrom)."
    )
    IN_EFFECT = strawberry.enum_value("IN_EFFECT", description="In effect.")
    LIFTED = strawberry.enum_value("LIFTED", description="Lifted by the authority (liftedAt).")


@strawberry.enum(
    description="What a timeline entry marks: a fact's announcement, or its effect (domain.feed)."
)
class TimelineEntryKind(Enum):
    ANNOUNCEMENT = strawberry.enum_value(
        "ANNOUNCEMENT",
        description="The fact made public, at its announcedAt, which is not its effectiveAt "
        "(the same fact also has an entry at effectiveAt).",
    )
    ENTRY_INTO_FORCE = strawberry.enum_value(
        "ENTRY_INTO_FORCE",
        description="A policy, revision, regulatory action or amendment taking effect.",
    )
    LIFTING = strawberry.enum_value("LIFTING", description="A regulatory action lifted.")
    WITHDRAWAL = strawberry.enum_value("WITHDRAWAL", description="A policy withdrawn.")
    OCCURRENCE = strawberry.enum_value(
        "OCCURRENCE", description="Something that happened: a statement made, an actor named."
    )


@strawberry.enum(description="How a clause differs between the two instants of a policyDiff.")
class ClauseChangeKind(Enum):
    ADDED = strawberry.enum_value("ADDED", description="Only in the later version.")
    REMOVED = strawberry.enum_value("REMOVED", description="Only in the earlier version.")
    CHANGED = strawberry.enum_value(
        "CHANGED", description="In both, with a different heading, text, scope or expiry."
    )
    UNCHANGED = strawberry.enum_value("UNCHANGED", description="In both, the same.")


@strawberry.type(
    name="Actor",
    description="An organisation, platform, authority, court or person, with "
    "its name as at the moment asked about.",
)
class ActorType:
    id: strawberry.ID = strawberry.field(description="The actor's slug, e.g. meta.")
    name: str = strawberry.field(description="Its name at the moment asked about.")
    kind: str = strawberry.field(description="organisation, platform, authority, court or person.")
    parent: str | None = strawberry.field(
        description="Slug of the actor it belongs to (instagram: meta), if any."
    )
    former_names: list[str] = strawberry.field(
        description="Names it had before this one, oldest first."
    )
    valid_from: datetime = strawberry.field(description="Since when it has this name.")
    valid_to: datetime | None = strawberry.field(
        description="Until when it has this name; null: still."
    )
    corrected_by: list[CorrectionType] = strawberry.field(
        description="The corrections of the facts its name comes from, in fold order; "
        "empty: none was corrected."
    )

    @classmethod
    def of(cls, actor: m.ActorVersion) -> ActorType:
        return cls(
            id=strawberry.ID(actor.slug),
            name=actor.name,
            kind=actor.kind,
            parent=actor.parent,
            former_names=list(actor.former_names),
            valid_from=actor.valid_from,
            valid_to=actor.valid_to,
            corrected_by=CorrectionType.many("actor", actor.slug, actor.corrected_by),
        )


async def _actor(
    info: Info[Context, None], slug: str, valid_at: datetime | None, known_at: int | None
) -> ActorType | None:
    found = await info.context.actors.load((slug, valid_at, known_at))
    return ActorType.of(found) if found is not None else None


@strawberry.type(
    name="TimelineEntry",
    description="One fact in the cross-aggregate feed, as believed at knownAt.",
)
class TimelineEntryType:
    id: strawberry.ID = strawberry.field(description="The event's reference, kind:slug@version.")
    position: int = strawberry.field(description="The event's global log position.")
    kind: str = strawberry.field(
        description="The aggregate's kind: policy, regulatory-action, statement or actor."
    )
    aggregate_id: strawberry.ID = strawberry.field(description="The aggregate's slug.")
    version: int = strawberry.field(description="The aggregate's version this event made.")
    type: str = strawberry.field(description="The event type, e.g. PolicyRevised.")
    entry_kind: TimelineEntryKind = strawberry.field(
        description="What this entry marks: the fact's ANNOUNCEMENT (at announcedAt), or its "
        "effect (ENTRY_INTO_FORCE, LIFTING, WITHDRAWAL, OCCURRENCE, at effectiveAt)."
    )
    at: datetime = strawberry.field(
        description="Where the entry stands on the timeline: announcedAt for an "
        "ANNOUNCEMENT, else effectiveAt."
    )
    effective_at: datetime = strawberry.field(description="When it takes effect in the world.")
    announced_at: datetime = strawberry.field(description="When it was made public.")
    recorded_at: datetime = strawberry.field(description="When the service stored it.")
    summary: str = strawberry.field(description="One line saying what happened.")
    actors: list[str] = strawberry.field(
        description="Slugs of the actors involved: owner, authority, targets, author."
    )
    jurisdictions: list[str] = strawberry.field(
        description="ISO 3166 codes it concerns: an action's jurisdiction or clause scopes."
    )
    policies: list[str] = strawberry.field(
        description="Slugs of the policies it concerns: its own, or those it responds to."
    )
    known_from: datetime = strawberry.field(
        description="Record time: since when the service has answered this."
    )
    known_to: datetime | None = strawberry.field(
        description="Record time: until when it answered this; null: it still does."
    )

    @classmethod
    def of(cls, e: m.TimelineEntry) -> TimelineEntryType:
        return cls(
            id=strawberry.ID(f"{e.kind}:{e.slug}@{e.version}"),
            position=e.position,
            kind=e.kind,
            aggregate_id=strawberry.ID(e.slug),
            version=e.version,
            type=e.type,
            entry_kind=TimelineEntryKind(e.entry_kind),
            at=e.at or e.effective_at,
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


@strawberry.type(name="Redaction", description="Texts of an event erased from the store, and why.")
class RedactionType:
    event: strawberry.ID = strawberry.field(
        description="The redaction itself (kind:slug@version), as the erased texts name it."
    )
    target: strawberry.ID = strawberry.field(description="The redacted event's reference.")
    reason: str = strawberry.field(description="Why it was redacted.")
    fields: list[str] = strawberry.field(
        description="The erased fields, e.g. text, summary, sources[0].quote."
    )
    recorded_at: datetime = strawberry.field(description="When the redaction was recorded.")

    @classmethod
    def of(cls, r: m.Redaction) -> RedactionType:
        return cls(
            event=strawberry.ID(r.event),
            target=strawberry.ID(r.target),
            reason=r.reason,
            fields=list(r.fields),
            recorded_at=r.recorded_at,
        )


_REDACTIONS = (
    "The redactions of its events (a court order, data protection): the fields they erased "
    "read [redacted by <event>], at every knownAt."
)


async def redactions_of(info: Info[Context, None], kind: str, slug: str) -> list[RedactionType]:
    """The redaction notes of one aggregate, for the `redactions` field of its type."""
    found = await run(queries.redactions_of, info.context.engine, kind, slug)
    return [RedactionType.of(r) for r in found]


@strawberry.type(
    name="RegulatoryAction",
    description="A regulatory action as seen at validAt, as known at knownAt.",
)
class RegulatoryActionType:
    id: strawberry.ID = strawberry.field(
        description="The action's slug, e.g. roskomnadzor/instagram-restriction."
    )
    authority: str = strawberry.field(
        description="The authority's slug; see authorityActor for its name."
    )
    jurisdiction: str = strawberry.field(description="ISO 3166 code where it applies.")
    targets: list[str] = strawberry.field(description="Slugs of the actors it targets.")
    kind: str = strawberry.field(
        description="restriction, block, fine, designation, investigation, court-ruling, other."
    )
    summary: str = strawberry.field(description="One line saying what the action does.")
    text: str = strawberry.field(description="The action's full text.")
    in_response_to: list[str] = strawberry.field(
        description="References it cites, e.g. policy:meta/hate-speech@2."
    )
    sources: list[SourceType] = strawberry.field(description="Where the action is documented.")
    announced_at: datetime = strawberry.field(description="When it was made public.")
    in_effect_from: datetime = strawberry.field(description="When it takes effect.")
    lifted_at: datetime | None = strawberry.field(
        description="When it was lifted; null: not lifted (as of validAt)."
    )
    status: RegulatoryStatus = strawberry.field(description="Its status at validAt.")
    revision: int = strawberry.field(description="How many facts are folded into this version.")
    changed_by: int = strawberry.field(description="Version of the event that made it.")
    change_type: str = strawberry.field(
        description="Type of that event, e.g. RegulatoryActionLifted."
    )
    corrected_by: list[CorrectionType] = strawberry.field(
        description="The corrections of the facts this version is built from, in fold order; "
        "empty: none was corrected."
    )
    valid_from: datetime = strawberry.field(description="Start of this version in the world.")
    valid_to: datetime | None = strawberry.field(
        description="End of this version in the world; null: open."
    )
    known_from: datetime = strawberry.field(
        description="Record time: since when the service has answered this."
    )
    known_to: datetime | None = strawberry.field(
        description="Record time: until when it answered this; null: it still does."
    )
    valid_at: strawberry.Private[datetime | None]
    known_at: strawberry.Private[int | None]  # the log position answered at

    @described("The authority, named as at validAt.")
    async def authority_actor(self, info: Info[Context, None]) -> ActorType | None:
        return await _actor(info, self.authority, self.valid_at, self.known_at)

    @described(_REDACTIONS)
    async def redactions(self, info: Info[Context, None]) -> list[RedactionType]:
        return await redactions_of(info, "regulatory-action", str(self.id))

    @described("The policies this action cites (inResponseTo), as in force at validAt.")
    async def responds_to(self, info: Info[Context, None]) -> list[PolicyType]:
        cited = (Reference.parse("inResponseTo", ref) for ref in self.in_response_to)
        slugs = [ref.slug for ref in cited if ref.kind == "policy"]
        found = await info.context.policies.load_many(
            [(slug, self.valid_at, self.known_at) for slug in dict.fromkeys(slugs)]
        )
        return [PolicyType.of(p, self.valid_at, self.known_at) for p in found if p is not None]

    @classmethod
    def of(
        cls, a: m.RegulatoryActionVersion, valid_at: datetime | None, known_at: int | None
    ) -> RegulatoryActionType:
        return cls(
            id=strawberry.ID(a.slug),
            authority=a.authority,
            jurisdiction=a.jurisdiction,
            targets=list(a.targets),
            kind=a.kind,
            summary=a.summary,
            text=a.text,
            in_response_to=list(a.in_response_to),
            sources=SourceType.many(a.sources),
            announced_at=a.announced_at,
            in_effect_from=a.in_effect_from,
            lifted_at=a.lifted_at,
            status=RegulatoryStatus(a.status),
            revision=a.revision,
            changed_by=a.changed_by,
            change_type=a.change_type,
            corrected_by=CorrectionType.many("regulatory-action", a.slug, a.corrected_by),
            valid_from=a.valid_from,
            valid_to=a.valid_to,
            known_from=a.known_from,
            known_to=a.known_to,
            valid_at=valid_at,
            known_at=known_at,
        )


async def _policy_corrections(root: strawberry.Parent[PolicyType]) -> list[CorrectionType]:
    """`Policy.correctedBy`, read only when selected (a looked-up version loads its list on
    first read, at the position its lookup answered at: projections/models.py), off the
    event loop."""
    read = root.read
    if m.pending(read):
        await run(getattr, read, "corrected_by")
    return CorrectionType.many("policy", read.slug, read.corrected_by)


@strawberry.type(
    name="Policy",
    description="A policy as in force over [validFrom, validTo), as known over "
    "[knownFrom, knownTo).",
)
class PolicyType:
    id: strawberry.ID = strawberry.field(description="The policy's slug, e.g. meta/hate-speech.")
    title: str = strawberry.field(description="The policy's title.")
    owner: str = strawberry.field(description="The owner's slug; see ownerActor for its name.")
    summary: str = strawberry.field(
        description="One-line summary, as last given (announcement or revision)."
    )
    status: PolicyStatus = strawberry.field(description="ACTIVE or WITHDRAWN.")
    version: int = strawberry.field(
        description="The policy's stream version (pass as expectedVersion when revising)."
    )
    revision: int = strawberry.field(description="How many facts are folded into this version.")
    changed_by: int = strawberry.field(description="Version of the event that made it.")
    change_type: str = strawberry.field(description="Type of that event, e.g. PolicyRevised.")
    corrected_by: list[CorrectionType] = strawberry.field(
        description="The corrections of the facts this version is built from, in fold order; "
        "empty: none was corrected.",
        resolver=_policy_corrections,
    )
    valid_from: datetime = strawberry.field(description="When this version came into force.")
    valid_to: datetime | None = strawberry.field(
        description="When the next version replaced it; null: still in force."
    )
    known_from: datetime = strawberry.field(
        description="Record time: since when the service has answered this."
    )
    known_to: datetime | None = strawberry.field(
        description="Record time: until when it answered this; null: it still does."
    )
    clauses: list[ClauseType] = strawberry.field(description="The clauses in force, in order.")
    text: str = strawberry.field(description="The clauses' headings and texts as one text.")
    sources: list[SourceType] = strawberry.field(description="Where the policy is published.")
    valid_at: strawberry.Private[datetime | None]
    known_at: strawberry.Private[int | None]  # the log position answered at
    read: strawberry.Private[m.PolicyVersion]  # the version read (for its corrections)

    @described("The owner, named as at validAt.")
    async def owner_actor(self, info: Info[Context, None]) -> ActorType | None:
        return await _actor(info, self.owner, self.valid_at, self.known_at)

    @described(_REDACTIONS)
    async def redactions(self, info: Info[Context, None]) -> list[RedactionType]:
        return await redactions_of(info, "policy", str(self.id))

    @described("Regulatory actions citing this policy (inResponseTo), as seen at validAt.")
    async def responses(self, info: Info[Context, None]) -> list[RegulatoryActionType]:
        found = await info.context.responses.load((str(self.id), self.valid_at, self.known_at))
        return [RegulatoryActionType.of(a, self.valid_at, self.known_at) for a in found]

    @described(
        "The policy's own facts (announced, revised, withdrawn) as "
        "believed at knownAt, in effective-time order."
    )
    async def changes(
        self, info: Info[Context, None], first: First = None
    ) -> list[TimelineEntryType]:
        size = info.context.page_size(first)
        page = await run(
            queries.timeline_page,
            info.context.engine,
            known_at=self.known_at,
            policy=str(self.id),
            kinds=("policy",),
            first=size,
            announcements=False,
        )
        return [TimelineEntryType.of(e) for e in page.items if e.slug == str(self.id)]

    @classmethod
    def of(
        cls, p: m.PolicyVersion, valid_at: datetime | None = None, known_at: int | None = None
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
            clauses=ClauseType.many(p.clauses),
            text=p.text,
            sources=SourceType.many(p.sources),
            valid_at=valid_at,
            known_at=known_at,
            read=p,
        )


@strawberry.type(
    name="PolicyVersion", description="One version of a policy over its valid-time interval."
)
class PolicyVersionType(PolicyType):
    """Same fields as Policy; its nested lists are seen at its own validFrom."""

    @classmethod
    def at_start(cls, p: m.PolicyVersion, known_at: int | None) -> PolicyVersionType:
        return cls.of(p, p.valid_from, known_at)


@strawberry.type(name="ClauseChange", description="One clause compared between the two instants.")
class ClauseChangeType:
    id: strawberry.ID = strawberry.field(description="The clause's id.")
    change: ClauseChangeKind = strawberry.field(description="How it differs.")
    before: ClauseType | None = strawberry.field(
        description="The clause at fromValidAt; null: not there."
    )
    after: ClauseType | None = strawberry.field(
        description="The clause at toValidAt; null: not there."
    )


@strawberry.type(
    name="PolicyDiff", description="Clause-level difference between two valid-time instants."
)
class PolicyDiffType:
    id: strawberry.ID = strawberry.field(description="The policy's slug.")
    before: PolicyVersionType | None = strawberry.field(
        description="The version in force at fromValidAt; null: none."
    )
    after: PolicyVersionType | None = strawberry.field(
        description="The version in force at toValidAt; null: none."
    )
    clauses: list[ClauseChangeType] = strawberry.field(
        description="Every clause of either version, with how it changed."
    )

    @classmethod
    def of(cls, d: m.PolicyDiff, known_at: int | None) -> PolicyDiffType:
        return cls(
            id=strawberry.ID(d.slug),
            before=PolicyVersionType.at_start(d.before, known_at) if d.before else None,
            after=PolicyVersionType.at_start(d.after, known_at) if d.after else None,
            clauses=[
                ClauseChangeType(
                    id=strawberry.ID(c.id),
                    change=ClauseChangeKind(c.change),
                    before=ClauseType.of(c.before) if c.before else None,
                    after=ClauseType.of(c.after) if c.after else None,
                )
                for c in d.clauses
            ],
        )


@strawberry.type(name="Statement", description="A public reaction by a person or organisation.")
class StatementType:
    id: strawberry.ID = strawberry.field(description="The statement's slug.")
    actor: str = strawberry.field(description="Slug of the actor who made it.")
    kind: str = strawberry.field(
        description="post, blog-post, press-release, interview, internal-memo or other."
    )
    summary: str = strawberry.field(description="One line saying what it says.")
    text: str = strawberry.field(description="The statement's text.")
    in_response_to: list[str] = strawberry.field(
        description="References it responds to, e.g. regulatory-action:roskomnadzor/x@1."
    )
    sources: list[SourceType] = strawberry.field(description="Where it was published or reported.")
    made_at: datetime = strawberry.field(description="When it was made.")
    corrected_by: list[CorrectionType] = strawberry.field(
        description="The corrections of its fact, in fold order; empty: none was corrected."
    )
    known_from: datetime = strawberry.field(
        description="Record time: since when the service has answered this."
    )
    known_to: datetime | None = strawberry.field(
        description="Record time: until when it answered this; null: it still does."
    )

    @described(_REDACTIONS)
    async def redactions(self, info: Info[Context, None]) -> list[RedactionType]:
        return await redactions_of(info, "statement", str(self.id))

    @classmethod
    def of(cls, s: m.StatementVersion) -> StatementType:
        return cls(
            id=strawberry.ID(s.slug),
            actor=s.actor,
            kind=s.kind,
            summary=s.summary,
            text=s.text,
            in_response_to=list(s.in_response_to),
            sources=SourceType.many(s.sources),
            made_at=s.made_at,
            corrected_by=CorrectionType.many("statement", s.slug, s.corrected_by),
            known_from=s.known_from,
            known_to=s.known_to,
        )
