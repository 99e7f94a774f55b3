"""RegulatoryAction: a measure by an authority: announced, in effect from effectiveAt, lifted."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from domain.aggregate import TimelineAggregate
from domain.errors import UnfoldableHistory
from domain.facts import Correction, Fact
from domain.values import Source

ANNOUNCED = "ANNOUNCED"
IN_EFFECT = "IN_EFFECT"
LIFTED = "LIFTED"

ACTION_KINDS = (
    "restriction",
    "block",
    "fine",
    "designation",
    "investigation",
    "court-ruling",
    "other",
)
AMENDABLE = ("kind", "summary", "text", "targets", "in_response_to")


@dataclass(frozen=True)
class RegulatoryActionState:
    """An action as seen at one valid time; `status` follows from the instants."""

    slug: str
    authority: str
    jurisdiction: str
    targets: tuple[str, ...]
    kind: str
    summary: str
    text: str
    in_response_to: tuple[str, ...]
    sources: tuple[Source, ...]
    announced_at: datetime
    in_effect_from: datetime
    lifted_at: datetime | None
    status: str
    revision: int
    changed_by: int
    change_type: str
    #: The corrections of the facts folded into it, in fold order: a version built from a
    #: corrected fact says so (and a reader sees when and why).
    corrected_by: tuple[Correction, ...] = ()


class RegulatoryRules:
    """Fold rules. An action enters the fold when it is announced (or takes effect, if earlier):
    from then until its effectiveAt it is ANNOUNCED, then IN_EFFECT until lifted."""

    kind = "regulatory-action"

    def fold_time(self, fact: Fact) -> datetime:
        assert fact.effective_at is not None
        if fact.type == "RegulatoryActionAnnounced" and fact.announced_at is not None:
            return min(fact.announced_at, fact.effective_at)
        return fact.effective_at

    def apply(self, state: RegulatoryActionState | None, fact: Fact) -> RegulatoryActionState:
        at = self.fold_time(fact)
        if fact.type == "RegulatoryActionAnnounced":
            if state is not None:
                raise UnfoldableHistory("effectiveAt", "the action is already announced")
            assert fact.effective_at is not None and fact.announced_at is not None
            data = fact.data
            return RegulatoryActionState(
                slug=data["slug"],
                authority=data["authority"],
                jurisdiction=data["jurisdiction"],
                targets=tuple(data.get("targets") or ()),
                kind=data["kind"],
                summary=data.get("summary", ""),
                text=data.get("text", ""),
                in_response_to=tuple(data.get("in_response_to") or ()),
                sources=tuple(Source.from_dict(s) for s in data.get("sources") or ()),
                announced_at=fact.announced_at,
                in_effect_from=fact.effective_at,
                lifted_at=None,
                status=self._status(fact.effective_at, None, at),
                revision=1,
                changed_by=fact.version,
                change_type=fact.type,
                corrected_by=fact.corrections,
            )
        if state is None:
            raise UnfoldableHistory(
                "effectiveAt", f"the action is not announced yet at {at.isoformat()}"
            )
        if state.lifted_at is not None:
            raise UnfoldableHistory(
                "effectiveAt",
                f"the action was lifted at {state.lifted_at.isoformat()}; "
                "it cannot change after that",
            )
        changes: dict[str, Any] = {}
        if fact.type == "RegulatoryActionLifted":
            if at < state.in_effect_from:
                raise UnfoldableHistory(
                    "effectiveAt",
                    f"the action is not in effect at {at.isoformat()}: it is "
                    f"ANNOUNCED until {state.in_effect_from.isoformat()}, so it cannot be lifted",
                )
            changes["lifted_at"] = at
        else:
            for name in AMENDABLE:
                value = fact.data.get(name)
                if value is not None:
                    changes[name] = tuple(value) if isinstance(value, list) else value
        known = {s.url for s in state.sources}
        added = [Source.from_dict(s) for s in fact.data.get("sources") or ()]
        return replace(
            state,
            **changes,
            sources=state.sources + tuple(s for s in added if s.url not in known),
            revision=state.revision + 1,
            changed_by=fact.version,
            change_type=fact.type,
            corrected_by=state.corrected_by + fact.corrections,
        )

    @staticmethod
    def _status(in_effect_from: datetime, lifted_at: datetime | None, valid_at: datetime) -> str:
        if lifted_at is not None and valid_at >= lifted_at:
            return LIFTED
        return IN_EFFECT if valid_at >= in_effect_from else ANNOUNCED

    def view(self, state: RegulatoryActionState, valid_at: datetime) -> RegulatoryActionState:
        status = self._status(state.in_effect_from, state.lifted_at, valid_at)
        return state if status == state.status else replace(state, status=status)

    def breakpoints(self, state: RegulatoryActionState) -> Iterable[datetime]:
        return [state.in_effect_from]


class RegulatoryAction(TimelineAggregate):
    """A regulatory action stream."""

    KIND = "regulatory-action"
    RULES = RegulatoryRules()

    class RegulatoryActionAnnounced(TimelineAggregate.Created):
        slug: str
        authority: str
        jurisdiction: str
        targets: list[str]
        kind: str
        summary: str
        text: str
        in_response_to: list[str]
        effective_at: datetime
        announced_at: datetime
        sources: list[dict[str, Any]]

    class RegulatoryActionAmended(TimelineAggregate.Event):
        kind: str | None
        summary: str | None
        text: str | None
        targets: list[str] | None
        in_response_to: list[str] | None
        effective_at: datetime
        announced_at: datetime
        sources: list[dict[str, Any]]

    class RegulatoryActionLifted(TimelineAggregate.Event):
        summary: str
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

    ANNOUNCEMENT = "RegulatoryActionAnnounced"

    @classmethod
    def announce(cls, slug: str, **payload: Any) -> RegulatoryAction:
        return cls.start(cls.RegulatoryActionAnnounced, slug, **payload)

    def amend(self, **payload: Any) -> None:
        self.record(RegulatoryAction.RegulatoryActionAmended, **payload)

    def lift(self, **payload: Any) -> None:
        self.record(RegulatoryAction.RegulatoryActionLifted, **payload)
