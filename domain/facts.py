"""Facts: the neutral form of a stored event that the fold, the projections and the API read."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from uuid import UUID

CORRECTED = "EventCorrected"
RETRACTED = "EventRetracted"
REDACTED = "EventRedacted"
META_TYPES = frozenset({CORRECTED, RETRACTED, REDACTED})
#: The key of a redacted event's stored tombstone note (timeline/redaction.py); not payload.
TOMBSTONE = "redaction"
#: The stored class of an announcement made anew (after every fact was retracted): it reads
#: as the announcement it carries (`announcement`, `payload`), see `fact_form`.
ANNOUNCED_ANEW = "AnnouncedAnew"

#: Event attributes that are not payload: the library's own, and the two instants.
_BASE_ATTRIBUTES = frozenset(
    {
        "originator_id",
        "originator_version",
        "timestamp",
        "originator_topic",
        "effective_at",
        "announced_at",
        TOMBSTONE,
    }
)


@dataclass(frozen=True)
class Correction:
    """The mark a correction leaves on the fact it corrected, and on every version folded
    from it: which event corrected it (its stream version), when it was recorded, and why."""

    version: int
    recorded_at: datetime
    reason: str


@dataclass(frozen=True)
class Fact:
    """One stored event: identity, its three instants and its payload (JSON-native values)."""

    aggregate_id: UUID
    version: int
    type: str
    recorded_at: datetime
    effective_at: datetime | None
    announced_at: datetime | None
    data: Mapping[str, Any]
    #: The corrections this believed form carries, in recording order (none as stored).
    corrections: tuple[Correction, ...] = ()

    @classmethod
    def from_event(cls, event: Any) -> Fact:
        """Read a domain event of this package into a fact."""
        attributes = vars(event)
        type_name, data = fact_form(
            type(event).__name__,
            {k: v for k, v in attributes.items() if k not in _BASE_ATTRIBUTES},
        )
        return cls(
            aggregate_id=event.originator_id,
            version=event.originator_version,
            type=type_name,
            recorded_at=event.timestamp,
            effective_at=attributes.get("effective_at"),
            announced_at=attributes.get("announced_at"),
            data=data,
        )

    @classmethod
    def from_stored(cls, aggregate_id: UUID, version: int, topic: str, state: bytes) -> Fact:
        """Read an event's stored bytes (the event store's JSON, as a leaf's payload digest
        commits to them) into the fact `from_event` gives for it: what an offline verifier
        folds, with no database and no event store (ValueError if they are not an event)."""
        payload = json.loads(state, object_hook=_decode)
        if not isinstance(payload, dict) or not isinstance(payload.get("timestamp"), datetime):
            raise ValueError("not a stored event: no timestamp")
        _, _, name = topic.rpartition(".")
        type_name, data = fact_form(
            name, {k: v for k, v in payload.items() if k not in _BASE_ATTRIBUTES}
        )
        return cls(
            aggregate_id=aggregate_id,
            version=version,
            type=type_name,
            recorded_at=payload["timestamp"],
            effective_at=payload.get("effective_at"),
            announced_at=payload.get("announced_at"),
            data=data,
        )

    @property
    def is_meta(self) -> bool:
        """Corrections, retractions and redactions speak about other facts; they are not facts
        of the world."""
        return self.type in META_TYPES

    def corrected(self, correction: Fact) -> Fact:
        """This fact with a correction's changed fields applied (instants given as ISO text),
        marked with the correction."""
        changes: Mapping[str, Any] = correction.data["changes"]
        mark = Correction(
            correction.version, correction.recorded_at, correction.data.get("reason", "")
        )
        instants: dict[str, Any] = {}
        for name in ("effective_at", "announced_at"):
            if name in changes:
                value = changes[name]
                instants[name] = datetime.fromisoformat(value) if isinstance(value, str) else value
        data = {k: v for k, v in changes.items() if k not in instants}
        return replace(
            self,
            data={**self.data, **data},
            corrections=(*self.corrections, mark),
            **instants,
        )


def fact_form(type_name: str, data: Mapping[str, Any]) -> tuple[str, Mapping[str, Any]]:
    """The fact type and payload an event of class `type_name` reads as: an announcement made
    anew reads as the announcement it carries, so folds, filters and clients see one type."""
    if type_name == ANNOUNCED_ANEW:
        return str(data["announcement"]), dict(data["payload"])
    return type_name, data


def _decode(value: dict[str, Any]) -> Any:
    """The event store's JSON transcodings of the types our events hold (instants, UUIDs)."""
    if value.keys() == {"_type_", "_data_"}:
        kind, data = value["_type_"], value["_data_"]
        if kind == "datetime_iso":
            return datetime.fromisoformat(data)
        if kind == "uuid_hex":
            return UUID(data)
        raise ValueError(f"unknown stored type {kind!r}")
    return value


def believe(facts: Iterable[Fact], known_at: datetime | None = None) -> list[Fact]:
    """Steps 1 and 2 of the fold: the facts recorded by `known_at`, corrected, minus retracted.

    Corrections accumulate in the order they were recorded, so an event reads as its latest
    corrected form; a retracted event is dropped. The result is in version order.
    """
    believed: dict[int, Fact] = {}
    for fact in sorted(facts, key=lambda f: f.version):
        if known_at is not None and fact.recorded_at > known_at:
            continue
        if fact.type == CORRECTED:
            target = believed.get(fact.data["target"])
            if target is not None:
                believed[target.version] = target.corrected(fact)
        elif fact.type == RETRACTED:
            believed.pop(fact.data["target"], None)
        elif fact.type == REDACTED:
            continue  # the target's payload was erased in place; what it means is unchanged
        else:
            believed[fact.version] = fact
    return list(believed.values())
