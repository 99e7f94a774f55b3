"""Actor: an organisation, platform, authority, court or person, with names over time."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from domain.aggregate import TimelineAggregate
from domain.errors import UnfoldableHistory
from domain.facts import Correction, Fact

ACTOR_KINDS = ("organisation", "platform", "authority", "court", "person")


@dataclass(frozen=True)
class ActorState:
    """An actor as named at one valid time."""

    slug: str
    name: str
    kind: str
    parent: str | None
    former_names: tuple[str, ...]
    changed_by: int
    #: The corrections of the facts folded into it, in fold order (see PolicyState).
    corrected_by: tuple[Correction, ...] = ()


class ActorRules:
    """Registration and renames take effect at their effectiveAt."""

    kind = "actor"

    def fold_time(self, fact: Fact) -> datetime:
        assert fact.effective_at is not None
        return fact.effective_at

    def apply(self, state: ActorState | None, fact: Fact) -> ActorState:
        data = fact.data
        if fact.type == "ActorRegistered":
            if state is not None:
                raise UnfoldableHistory("effectiveAt", "the actor is already registered")
            return ActorState(
                slug=data["slug"],
                name=data["name"],
                kind=data["kind"],
                parent=data.get("parent"),
                former_names=(),
                changed_by=fact.version,
                corrected_by=fact.corrections,
            )
        if state is None:
            at = self.fold_time(fact).isoformat()
            raise UnfoldableHistory("effectiveAt", f"the actor is not registered yet at {at}")
        return replace(
            state,
            name=data["name"],
            former_names=(*state.former_names, state.name),
            changed_by=fact.version,
            corrected_by=state.corrected_by + fact.corrections,
        )

    def view(self, state: ActorState, valid_at: datetime) -> ActorState:
        return state

    def breakpoints(self, state: ActorState) -> Iterable[datetime]:
        return ()


class Actor(TimelineAggregate):
    """An actor stream: ActorRegistered, then ActorRenamed."""

    KIND = "actor"
    RULES = ActorRules()

    class ActorRegistered(TimelineAggregate.Created):
        slug: str
        name: str
        kind: str
        parent: str | None
        effective_at: datetime
        announced_at: datetime
        sources: list[dict[str, Any]]

    class ActorRenamed(TimelineAggregate.Event):
        name: str
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

    ANNOUNCEMENT = "ActorRegistered"

    @classmethod
    def register(cls, slug: str, **payload: Any) -> Actor:
        return cls.start(cls.ActorRegistered, slug, **payload)

    def rename(self, **payload: Any) -> None:
        self.record(Actor.ActorRenamed, **payload)
