"""GraphQL types of the shared value objects: sources, clauses and corrections' marks."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import strawberry

from domain.facts import Correction
from domain.values import Clause, Reference, Source


@strawberry.type(
    name="Source", description="Where a fact comes from: the citation a legal team needs."
)
class SourceType:
    url: str = strawberry.field(description="Address of the document cited.")
    title: str = strawberry.field(description="The document's title (may be empty).")
    publisher: str = strawberry.field(description="Who published it (may be empty).")
    published_at: datetime | None = strawberry.field(description="When it was published, if known.")
    quote: str | None = strawberry.field(description="The passage relied on, verbatim.")

    @classmethod
    def of(cls, source: Source) -> SourceType:
        return cls(
            url=source.url,
            title=source.title,
            publisher=source.publisher,
            published_at=source.published_at,
            quote=source.quote,
        )

    @classmethod
    def many(cls, sources: Iterable[Source | Mapping[str, Any]]) -> list[SourceType]:
        return [cls.of(s if isinstance(s, Source) else Source.from_dict(s)) for s in sources]


@strawberry.type(
    name="Clause",
    description="One clause of a policy; `scope` lists the ISO 3166 codes where "
    "it applies (empty: everywhere); a temporary clause ends at `expiresAt`.",
)
class ClauseType:
    id: strawberry.ID = strawberry.field(description="The clause's id, stable across revisions.")
    heading: str = strawberry.field(description="The clause's heading (may be empty).")
    text: str = strawberry.field(description="The clause's wording.")
    scope: list[str] = strawberry.field(
        description="ISO 3166 codes where it applies; empty: everywhere."
    )
    expires_at: datetime | None = strawberry.field(
        description="When a temporary clause stops applying; null: it does not expire."
    )

    @classmethod
    def of(cls, clause: Clause) -> ClauseType:
        return cls(
            id=strawberry.ID(clause.id),
            heading=clause.heading,
            text=clause.text,
            scope=list(clause.scope),
            expires_at=clause.expires_at,
        )

    @classmethod
    def many(cls, clauses: Iterable[Clause | Mapping[str, Any]]) -> list[ClauseType]:
        return [cls.of(c if isinstance(c, Clause) else Clause.from_dict(c)) for c in clauses]


@strawberry.type(
    name="Correction",
    description="A correction of a fact this version is built from: which event corrected "
    "it, when and why. Its text reads as corrected; ask with an earlier knownAt for the text "
    "as first recorded.",
)
class CorrectionType:
    event: strawberry.ID = strawberry.field(
        description="Reference of the correction event, e.g. policy:meta/hate-speech@5."
    )
    recorded_at: datetime = strawberry.field(description="When the correction was recorded.")
    reason: str = strawberry.field(description="Why the fact was corrected.")

    @classmethod
    def many(cls, kind: str, slug: str, corrections: Iterable[Correction]) -> list[CorrectionType]:
        return [
            cls(
                event=strawberry.ID(str(Reference(kind, slug, c.version))),
                recorded_at=c.recorded_at,
                reason=c.reason,
            )
            for c in corrections
        ]
