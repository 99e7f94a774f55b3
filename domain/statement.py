"""Statement: a public reaction by a person or organisation, optionally in response to a fact."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from domain.aggregate import TimelineAggregate
from domain.errors import UnfoldableHistory
from domain.facts import Correction, Fact
from domain.values import Source

STATEMENT_KINDS = ("post", "blog-post", "press-release", "interview", "internal-memo", "other")


@dataclass(frozen=True)
class StatementState:
    """A statement as made (a statement does not change; it can be corrected or retracted)."""

    slug: str
    actor: str
    kind: str
    summary: str
    text: str
    in_response_to: tuple[str, ...]
    sources: tuple[Source, ...]
    made_at: datetime
    changed_by: int
    #: The corrections of the facts folded into it, in fold order: a version built from a
    #: corrected fact says so (and a reader sees when and why).
    corrected_by: tuple[Correction, ...] = ()


class StatementRules:
    """A statement exists from the moment it was made."""

    kind = "statement"

    def fold_time(self, fact: Fact) -> datetime:
        assert fact.effective_at is not None
        return fact.effective_at

    def apply(self, state: StatementState | None, fact: Fact) -> StatementState:
        if state is not None:
            raise UnfoldableHistory("effectiveAt", "the statement is already recorded")
        data = fact.data
        return StatementState(
            slug=data["slug"],
            actor=data["actor"],
            kind=data["kind"],
            summary=data.get("summary", ""),
            text=data.get("text", ""),
            in_response_to=tuple(data.get("in_response_to") or ()),
            sources=tuple(Source.from_dict(s) for s in data.get("sources") or ()),
            made_at=self.fold_time(fact),
            changed_by=fact.version,
            corrected_by=fact.corrections,
        )

    def view(self, state: StatementState, valid_at: datetime) -> StatementState:
        return state

    def breakpoints(self, state: StatementState) -> Iterable[datetime]:
        return ()


class Statement(TimelineAggregate):
    """A statement stream: StatementRecorded, then only corrections or a retraction."""

    KIND = "statement"
    RULES = StatementRules()

    class StatementRecorded(TimelineAggregate.Created):
        slug: str
        actor: str
        kind: str
        summary: str
        text: str
        in_response_to: list[str]
        effective_at: datetime
        announced_at: datetime
        sources: list[dict[str, Any]]

    class EventCorrected(TimelineAggregate.EventCorrected):
        pass

    class EventRetracted(TimelineAggregate.EventRetracted):
        pass

    class EventRedacted(TimelineAggregate.EventRedacted):
        pass

    class AnnouncedAnew(TimelineAggregate.AnnouncedAnew):
        pass

    ANNOUNCEMENT = "StatementRecorded"

    @classmethod
    def record_statement(cls, slug: str, **payload: Any) -> Statement:
        return cls.start(cls.StatementRecorded, slug, **payload)
