"""Redaction in the store: the target's stored payload becomes a tombstone that keeps the
salted digest its leaf commits to, and its salt is wiped, in the redaction's own transaction.

The tombstone is the stored JSON with the erased fields replaced (domain/redaction.py) and a
`redaction` note: the redaction's reference, its reason, the fields and `payloadDigest`
(SHA-256(salt || original payload), the leaf's). The redaction event records the tombstone's
SHA-256, and its own leaf keeps its salt, so `timeline verify` still detects a tombstone
altered afterwards (timeline/integrity.py). Without the salt the digest confirms no guess.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from sqlalchemy import Table, select, update
from sqlalchemy.orm import Session

from domain.facts import TOMBSTONE
from domain.redaction import placeholder, redact
from timeline.integrity import log_leaves
from timeline.leaf import WIPED, payload_digest


@dataclass(frozen=True)
class StoredTarget:
    """The event to redact as stored: its position, payload and salt."""

    position: int
    state: bytes
    salt: bytes


def stored_target(
    session: Session, events: Table, aggregate_id: UUID, version: int
) -> StoredTarget:
    """The stored row and salt of event `version` of a stream, in the session's transaction."""
    row = (
        session.connection()
        .execute(
            select(events.c.id, events.c.state, log_leaves.c.salt)
            .join(log_leaves, log_leaves.c.position == events.c.id)
            .where(events.c.originator_id == aggregate_id, events.c.originator_version == version)
        )
        .one()
    )
    return StoredTarget(int(row.id), bytes(row.state), bytes(row.salt))


def tombstone(target: StoredTarget, fields: Sequence[str], reference: str, reason: str) -> bytes:
    """The tombstone of a stored payload: the erased fields read `[redacted by REFERENCE]`,
    and the note keeps the digest the leaf commits to."""
    if target.salt == WIPED:
        raise ValueError(f"the event at position {target.position} is redacted already")
    state = json.loads(target.state)
    text = placeholder(reference)
    if isinstance(state.get("announcement"), str) and isinstance(state.get("payload"), dict):
        erased = {**state, "payload": redact(state["payload"], fields, text)}  # AnnouncedAnew
    else:
        erased = redact(state, fields, text)
    erased[TOMBSTONE] = {
        "event": reference,
        "reason": reason,
        "fields": list(fields),
        "payloadDigest": payload_digest(target.salt, target.state).hex(),
    }
    return json.dumps(erased, separators=(",", ":")).encode()


def tombstone_digest(body: bytes) -> str:
    """What the redaction event records of its tombstone: SHA-256, hex."""
    return hashlib.sha256(body).hexdigest()


def erase(session: Session, events: Table, position: int, body: bytes) -> None:
    """Replace the stored payload at `position` by its tombstone and wipe the leaf's salt."""
    connection = session.connection()
    connection.execute(update(events).where(events.c.id == position).values(state=body))
    connection.execute(
        update(log_leaves).where(log_leaves.c.position == position).values(salt=WIPED)
    )
