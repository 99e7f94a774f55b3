"""What an entry of the timeline feed marks (issue 15 item 6): every believed fact stands at
its effectiveAt (an entry into force, a lifting, a withdrawal, or something that happened),
and a fact made public at another instant stands at its announcedAt too, as its
announcement; so a timeline reads in the order the world saw it (Roskomnadzor announced on
11 March what took effect on 14 March)."""

from __future__ import annotations

from datetime import datetime

#: The entry is the fact made public, at its announcedAt (which is not its effectiveAt).
ANNOUNCEMENT = "ANNOUNCEMENT"
#: A policy, revision, regulatory action or amendment taking effect, at its effectiveAt.
ENTRY_INTO_FORCE = "ENTRY_INTO_FORCE"
#: A regulatory action lifted, at the lifting's effectiveAt.
LIFTING = "LIFTING"
#: A policy withdrawn, at the withdrawal's effectiveAt.
WITHDRAWAL = "WITHDRAWAL"
#: Anything else at its effectiveAt: a statement made, an actor registered or renamed.
OCCURRENCE = "OCCURRENCE"

ENTRY_KINDS = (ANNOUNCEMENT, ENTRY_INTO_FORCE, LIFTING, WITHDRAWAL, OCCURRENCE)

_AT_EFFECT = {
    "PolicyAnnounced": ENTRY_INTO_FORCE,
    "PolicyRevised": ENTRY_INTO_FORCE,
    "RegulatoryActionAnnounced": ENTRY_INTO_FORCE,
    "RegulatoryActionAmended": ENTRY_INTO_FORCE,
    "RegulatoryActionLifted": LIFTING,
    "PolicyWithdrawn": WITHDRAWAL,
}


def effect_kind(event_type: str) -> str:
    """What the entry at a fact's effectiveAt marks, by its event type."""
    return _AT_EFFECT.get(event_type, OCCURRENCE)


def announced_apart(effective_at: datetime, announced_at: datetime | None) -> bool:
    """Whether the fact has an announcement entry of its own: made public at another instant."""
    return announced_at is not None and announced_at != effective_at


def entries(
    event_type: str, effective_at: datetime, announced_at: datetime | None
) -> list[tuple[str, datetime]]:
    """The (entry kind, instant) of each feed entry of one believed fact, the rule the read
    query implements and the oracle checks."""
    found = [(effect_kind(event_type), effective_at)]
    if announced_apart(effective_at, announced_at):
        assert announced_at is not None
        found.insert(0, (ANNOUNCEMENT, announced_at))
    return found
