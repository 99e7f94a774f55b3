"""Evidence bundles (DESIGN section 9, docs/evidence.md): an answer with everything a third
party needs to check it offline: the question, the answer, every event of the aggregate up
to one signed head (payload, salt, leaf, inclusion proof) and the public key.

The answer is the reference fold (domain/fold.py) of those events, computed here by the
same function the offline verifier (timeline/evidence_check.py) runs: the bundle rests on the
log alone, not on a read model. A redacted event (issue 16 item 5) will be carried with its
leaf and proof and `payload: null`: the leaf commits to a salted payload digest, not to the
payload, so its proof still verifies.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from domain.errors import InvalidInput, NotFound, NotYetKnown
from domain.facts import Fact
from domain.values import aggregate_uuid, check_slug, format_instant
from timeline import eventstore, proofs, signing
from timeline.evidence_check import FORMAT, KINDS, citation, derive_answer, describe_events

if TYPE_CHECKING:
    from timeline.application import Timeline


def build(
    timeline: Timeline,
    kind: str,
    slug: str,
    valid_at: datetime | None = None,
    known_at: datetime | None = None,
    known_at_position: int | None = None,
) -> dict[str, Any]:
    """The bundle answering `kind slug` at `valid_at` (default now), as known at an instant
    or right after a log position (neither: now; both: BAD_INPUT), as JSON-native data."""
    if kind not in KINDS:
        raise InvalidInput("kind", f"must be one of {', '.join(KINDS)}, not {kind!r}")
    check_slug("id", slug)
    valid_at = valid_at or datetime.now(UTC)
    engine = timeline.engine
    head = proofs.head_for(engine, known_at, known_at_position)
    events = eventstore.events_table(timeline.recorder)
    found = proofs.stream_leaves(engine, events, aggregate_uuid(kind, slug), head.position)
    if not found:  # why, as every read says it: NOT_FOUND, or NOT_YET_KNOWN at this basis
        first = proofs.first_recorded(engine, events, aggregate_uuid(kind, slug))
        if first is None:
            raise NotFound(kind, slug)
        asked = known_at_position if known_at_position is not None else known_at
        raise NotYetKnown(kind, slug, head.position if asked is None else asked, first)
    paths = proofs.inclusion_proofs(engine, [f.stored.leaf_index for f in found], head.tree_size)
    facts = [
        Fact.from_stored(
            f.stored.leaf.aggregate_id, f.stored.leaf.version, f.stored.leaf.topic, f.state
        )
        for f in found
    ]
    signer = signing.signer(timeline.settings)
    signed = signing.head_json(signer.sign(head))
    question = {
        "kind": kind,
        "id": slug,
        "validAt": format_instant(valid_at),
        "knownAt": None if known_at is None else format_instant(known_at),
        "knownAtPosition": known_at_position,
    }
    bundled = [
        {
            **described,
            "position": f.stored.leaf.position,
            "leafIndex": f.stored.leaf_index,
            "leaf": f.stored.leaf.canonical().decode(),
            "salt": f.stored.salt.hex(),
            "payload": f.state.decode(),
            "path": [p.hex() for p in path],
        }
        for f, path, described in zip(found, paths, describe_events(facts), strict=True)
    ]
    key = signing.key_json(signer)
    return {
        "format": FORMAT,
        "question": question,
        "answer": derive_answer(kind, valid_at, facts),
        "head": signed,
        "key": key,
        "events": bundled,
        "citation": citation(question, signed, key["origin"]),
    }


def dumps(bundle: dict[str, Any]) -> str:
    """A bundle as the file `timeline evidence -o` writes (indented, UTF-8, final newline)."""
    return json.dumps(bundle, indent=2, ensure_ascii=False) + "\n"
