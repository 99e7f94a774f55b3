"""A leaf of the log's Merkle tree: what it commits to (an event's metadata and a salted
digest of its stored payload, docs/evidence.md), and how it is recomputed from the stored rows
(an event row and its leaf row), as `seal`, `verify` and the proofs need it."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from domain.facts import TOMBSTONE
from domain.values import format_instant
from timeline import merkle


@dataclass(frozen=True)
class Leaf:
    """What a leaf commits to, as the third party sees it (docs/evidence.md)."""

    position: int
    stream: str
    aggregate_id: UUID
    version: int
    topic: str
    recorded_at: datetime
    payload_digest: bytes

    def canonical(self) -> bytes:
        """The leaf's bytes: canonical JSON (sorted keys, no spaces, ASCII)."""
        return json.dumps(
            {
                "aggregateId": str(self.aggregate_id),
                "payloadDigest": self.payload_digest.hex(),
                "position": self.position,
                "recordedAt": format_instant(self.recorded_at),
                "stream": self.stream,
                "topic": self.topic,
                "version": self.version,
            },
            sort_keys=True,
            separators=(",", ":"),
        ).encode()

    def hash(self) -> bytes:
        return merkle.leaf_hash(self.canonical())


def payload_digest(salt: bytes, state: bytes) -> bytes:
    """SHA-256(salt || stored payload): kept in the leaf, and by a redaction's tombstone."""
    return hashlib.sha256(bytes(salt) + bytes(state)).digest()


def recorded_at_of(state: bytes) -> datetime:
    """The recordedAt an event's stored payload holds (the library's `timestamp`)."""
    stamp = json.loads(state)["timestamp"]
    return datetime.fromisoformat(stamp["_data_"] if isinstance(stamp, dict) else stamp)


def leaf_of(event: Any, leaf_row: Any) -> Leaf:
    """The leaf an event row and its leaf row commit to, recomputed from what is stored; a
    redacted event's digest is the one its tombstone keeps (its salt is wiped)."""
    state = bytes(event.state)
    return Leaf(
        int(event.id),
        str(leaf_row.stream),
        event.originator_id,
        int(event.originator_version),
        str(event.topic),
        recorded_at_of(state),
        stored_digest(bytes(leaf_row.salt), state),
    )


def stored_digest(salt: bytes, state: bytes) -> bytes:
    """The payload digest of a stored event: SHA-256(salt || payload), or, once redacted (its
    salt wiped), the digest its tombstone keeps."""
    note = read_tombstone(state) if bytes(salt) == WIPED else None
    return note.payload_digest if note is not None else payload_digest(salt, state)


#: The salt of a redacted event's leaf: wiped (its digest lives on in the tombstone).
WIPED = b""


@dataclass(frozen=True)
class Tombstone:
    """A redacted event's note, as its stored payload keeps it (timeline/redaction.py)."""

    event: str
    reason: str
    fields: tuple[str, ...]
    payload_digest: bytes


def read_tombstone(state: bytes) -> Tombstone | None:
    """The note of a tombstone; None when the payload is not one."""
    try:
        note: Any = json.loads(state).get(TOMBSTONE)
        if not isinstance(note, dict):
            return None
        return Tombstone(
            str(note["event"]),
            str(note["reason"]),
            tuple(str(f) for f in note["fields"]),
            bytes.fromhex(note["payloadDigest"]),
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
