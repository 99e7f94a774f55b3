"""GraphQL types of the shared value objects: sources and clauses."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import strawberry

from domain.values import Clause as ClauseValue
from domain.values import Source as SourceValue


@strawberry.type(description="Where a fact comes from: the citation a legal team needs.")
class Source:
    url: str
    title: str
    publisher: str
    published_at: datetime | None
    quote: str | None

    @classmethod
    def of(cls, source: SourceValue) -> Source:
        return cls(
            url=source.url,
            title=source.title,
            publisher=source.publisher,
            published_at=source.published_at,
            quote=source.quote,
        )

    @classmethod
    def many(cls, sources: Iterable[SourceValue | Mapping[str, Any]]) -> list[Source]:
        return [
            cls.of(s if isinstance(s, SourceValue) else SourceValue.from_dict(s)) for s in sources
        ]


@strawberry.type(
    description="One clause of a policy; `scope` lists the ISO 3166 codes where "
    "it applies (empty: everywhere); a temporary clause ends at `expiresAt`."
)
class Clause:
    id: strawberry.ID
    heading: str
    text: str
    scope: list[str]
    expires_at: datetime | None

    @classmethod
    def of(cls, clause: ClauseValue) -> Clause:
        return cls(
            id=strawberry.ID(clause.id),
            heading=clause.heading,
            text=clause.text,
            scope=list(clause.scope),
            expires_at=clause.expires_at,
        )

    @classmethod
    def many(cls, clauses: Iterable[ClauseValue | Mapping[str, Any]]) -> list[Clause]:
        return [
            cls.of(c if isinstance(c, ClauseValue) else ClauseValue.from_dict(c)) for c in clauses
        ]
