"""The offline verifier of evidence bundles (docs/evidence.md): what a third party runs with
no database, no server and no event store, only the domain (its reference fold), the RFC 9162
hashing of timeline/merkle.py and an Ed25519 check. It checks the signed head, every event's
inclusion proof and payload digest, and that domain/fold.py applied to the bundled events
gives exactly the bundled answer; every failure names the part of the bundle that failed.

It imports no SQLAlchemy, no settings and no web stack (a test runs it in a fresh process and
checks so); the builder of bundles (timeline/evidence.py) uses its functions, so that what is
written and what is checked are one definition.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from domain.errors import InvalidInput
from domain.facts import CORRECTED, REDACTED, RETRACTED, TOMBSTONE, Fact
from domain.values import aggregate_uuid, format_instant, parse_instant, to_json
from timeline import merkle

#: The bundle's `format`: a verifier refuses a format it does not know.
FORMAT = "policy-timeline-evidence/1"
#: What a bundle can be asked for (DESIGN section 9): the kinds with a point-in-time answer.
KINDS = ("policy", "regulatory-action", "statement")
#: "Known at the head": every bundled event is at or before the head, so the fold takes all.
_ALL_KNOWN = datetime.max.replace(tzinfo=UTC)


def verify_signature(public_key: bytes, checkpoint_text: str, signature: str) -> bool:
    """Does `signature` (base64 Ed25519) sign `checkpoint_text` under the raw `public_key`?"""
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(
            base64.b64decode(signature, validate=True), checkpoint_text.encode()
        )
    except (InvalidSignature, ValueError):
        return False
    return True


def key_id(public_key: bytes) -> str:
    """A key's id: hex SHA-256 of its raw 32 bytes (what a signed head names)."""
    return hashlib.sha256(public_key).hexdigest()


def derive_answer(kind: str, valid_at: datetime, facts: Sequence[Fact]) -> Any:
    """The reference fold (domain/fold.py) of an aggregate's facts at `valid_at`, all known:
    the answer a bundle carries, as JSON-native data (None: nothing in force then)."""
    from domain import RULES
    from domain.fold import state_at

    state = state_at(RULES[kind], facts, valid_at, _ALL_KNOWN)
    return None if state is None else to_json(state)


def describe_events(facts: Sequence[Fact]) -> list[dict[str, Any]]:
    """What a reader sees of each event (the report prints it): its type, instants, sources,
    and the corrections and retractions recorded about it, in version order."""
    corrected: dict[int, list[int]] = {}
    retracted: dict[int, int] = {}
    for fact in facts:
        if fact.type == CORRECTED:
            corrected.setdefault(int(fact.data["target"]), []).append(fact.version)
        elif fact.type == RETRACTED:
            retracted[int(fact.data["target"])] = fact.version
    described = []
    for fact in sorted(facts, key=lambda f: f.version):
        data = dict(fact.data)
        described.append(
            {
                "version": fact.version,
                "type": fact.type,
                "recordedAt": format_instant(fact.recorded_at),
                "effectiveAt": _instant(fact.effective_at),
                "announcedAt": _instant(fact.announced_at),
                "summary": data.get("summary") or data.get("reason") or "",
                "sources": [to_json(s) for s in data.get("sources") or ()],
                "target": data.get("target"),
                "correctedBy": corrected.get(fact.version, []),
                "retractedBy": retracted.get(fact.version),
            }
        )
    return described


def _instant(moment: datetime | None) -> str | None:
    return None if moment is None else format_instant(moment)


def citation(question: Mapping[str, Any], head: Mapping[str, Any], origin: str) -> str:
    """The one-line citation of an answer: the question, then the signed head it rests on."""
    basis = (
        f"known at {question['knownAt']}"
        if question.get("knownAt")
        else f"known at log position {head['position']}"
    )
    return (
        f"Policy Timeline ({origin}), {question['kind']} {question['id']} in force at "
        f"{question['validAt']}, {basis}: signed tree head of size {head['treeSize']}, "
        f"root {head['rootHash']}, position {head['position']}, key {head['keyId'][:16]}"
    )


def read_key(text: str) -> bytes:
    """A public key as given to `--key`: the JSON of /.well-known/timeline-key, a PEM public
    key, or the raw 32-byte key in base64 (InvalidInput naming --key otherwise)."""
    text = text.strip()
    if text.startswith("{"):
        try:
            text = str(json.loads(text)["publicKey"])
        except (ValueError, KeyError, TypeError) as error:
            raise InvalidInput("--key", "a JSON key must hold publicKey (base64)") from error
    if text.startswith("-----BEGIN"):
        try:
            key = serialization.load_pem_public_key(text.encode())
        except ValueError as error:
            raise InvalidInput("--key", f"not a PEM public key: {error}") from error
        if not isinstance(key, Ed25519PublicKey):
            raise InvalidInput("--key", "the PEM key is not an Ed25519 public key")
        return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as error:
        raise InvalidInput("--key", "not base64, PEM or the key's JSON") from error
    if len(raw) != 32:
        raise InvalidInput("--key", f"an Ed25519 public key has 32 bytes, not {len(raw)}")
    return raw


# -- the verdict -----------------------------------------------------------------------------


class Malformed(Exception):
    """A part of the bundle is missing or of the wrong type: names that part."""

    def __init__(self, part: str, message: str) -> None:
        super().__init__(f"{part}: {message}")
        self.part = part


@dataclass
class Verdict:
    """What the check found: `failures` name each part that did not verify (empty: ok)."""

    failures: list[str] = field(default_factory=list)
    events: int = 0
    key_given: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    def fail(self, part: str, message: str) -> None:
        self.failures.append(f"{part}: {message}")


def _get(container: Mapping[str, Any], name: str, kind: type | tuple[type, ...], part: str) -> Any:
    value = container.get(name) if isinstance(container, Mapping) else None
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        raise Malformed(f"{part}.{name}" if part else name, "missing or of the wrong type")
    return value


def _optional(container: Mapping[str, Any], name: str, kind: type, part: str) -> Any:
    return None if container.get(name) is None else _get(container, name, kind, part)


def _hex(text: Any, part: str, size: int | None = None) -> bytes:
    if not isinstance(text, str):
        raise Malformed(part, "not a hex string")
    try:
        value = bytes.fromhex(text)
    except ValueError as error:
        raise Malformed(part, "not hex") from error
    if size is not None and len(value) != size:
        raise Malformed(part, f"{len(value)} bytes, not {size}")
    return value


def verify_head(
    verdict: Verdict, head: Mapping[str, Any], public_key: bytes, part: str = "head"
) -> None:
    """A signed head: its signature under `public_key`, and that the signed checkpoint says
    what the head's fields say (size, root, position, recordedAt)."""
    text = _get(head, "checkpoint", str, part)
    signature = _get(head, "signature", str, part)
    if _get(head, "keyId", str, part) != key_id(public_key):
        verdict.fail(f"{part}.keyId", "is not the id of the key checked with")
    if not verify_signature(public_key, text, signature):
        verdict.fail(f"{part}.signature", "does not verify over the checkpoint with the key")
    lines = text.split("\n")
    recorded = head.get("recordedAt")
    expected = [
        str(_get(head, "treeSize", int, part)),
        base64.b64encode(_hex(_get(head, "rootHash", str, part), f"{part}.rootHash")).decode(),
        f"position {_get(head, 'position', int, part)}",
        f"recorded-at {recorded if recorded is not None else '-'}",
    ]
    if len(lines) != 6 or lines[1:5] != expected or lines[5] != "":
        verdict.fail(f"{part}.checkpoint", "does not state the head's size, root and position")


def _pem_key(pem: str) -> bytes | None:
    try:
        return read_key(pem) if pem.lstrip().startswith("-----BEGIN") else None
    except InvalidInput:
        return None


def _instant_of(text: str) -> datetime:
    try:
        return parse_instant("head.recordedAt", text)
    except InvalidInput as error:
        raise Malformed("head.recordedAt", error.message) from error


def _leaf(entry: Mapping[str, Any], part: str) -> dict[str, Any]:
    try:
        leaf = json.loads(_get(entry, "leaf", str, part))
    except ValueError as error:
        raise Malformed(f"{part}.leaf", "not JSON") from error
    if not isinstance(leaf, dict):
        raise Malformed(f"{part}.leaf", "not a JSON object")
    return leaf


def verify_bundle(bundle: Any, public_key: bytes | None = None) -> Verdict:
    """Check a bundle (parsed JSON) offline; `public_key` is the key the reader trusts (raw
    32 bytes; None: the bundle's own, which the verdict notes)."""
    verdict = Verdict(key_given=public_key is not None)
    try:
        _verify(verdict, bundle, public_key)
    except Malformed as error:
        verdict.failures.append(str(error))
    return verdict


def _verify(verdict: Verdict, bundle: Any, trusted: bytes | None) -> None:
    if not isinstance(bundle, dict):
        raise Malformed("bundle", "not a JSON object")
    if bundle.get("format") != FORMAT:
        raise Malformed("format", f"not {FORMAT!r}")
    question = _get(bundle, "question", dict, "")
    head = _get(bundle, "head", dict, "")
    key = _get(bundle, "key", dict, "")
    kind = _get(question, "kind", str, "question")
    slug = _get(question, "id", str, "question")
    if kind not in KINDS:
        raise Malformed("question.kind", f"not one of {', '.join(KINDS)}")
    try:
        valid_at = parse_instant("question.validAt", _get(question, "validAt", str, "question"))
        known_at_text = _optional(question, "knownAt", str, "question")
        known_at = None if known_at_text is None else parse_instant("knownAt", known_at_text)
    except InvalidInput as error:
        raise Malformed(error.field or "question", error.message) from error
    position_basis = _optional(question, "knownAtPosition", int, "question")

    try:
        bundled_key = base64.b64decode(_get(key, "publicKey", str, "key"), validate=True)
    except (binascii.Error, ValueError) as error:
        raise Malformed("key.publicKey", "not base64") from error
    if trusted is None:
        trusted = bundled_key
        verdict.notes.append(
            f"checked with the key the bundle carries ({key_id(bundled_key)}): compare it with "
            "the published key, or pass the key you trust (--key)"
        )
    elif bundled_key != trusted:
        verdict.fail("key", "the bundle's key is not the key given (--key)")
    verify_head(verdict, head, trusted)
    origin = _get(key, "origin", str, "key")
    if key.get("keyId") != key_id(bundled_key) or key.get("algorithm") != "Ed25519":
        verdict.fail("key", "its keyId or algorithm is not the Ed25519 key it holds")
    pem = key.get("publicKeyPem")
    if not isinstance(pem, str) or _pem_key(pem) != bundled_key:
        verdict.fail("key.publicKeyPem", "is not the key's publicKey")
    if not _get(head, "checkpoint", str, "head").startswith(origin + "\n"):
        verdict.fail("head.checkpoint", f"does not name the key's origin {origin!r}")

    tree_size = _get(head, "treeSize", int, "head")
    root = _hex(_get(head, "rootHash", str, "head"), "head.rootHash", 32)
    head_position = _get(head, "position", int, "head")
    if position_basis is not None and head_position > position_basis:
        verdict.fail("head.position", f"is after the question's position {position_basis}")
    recorded = _optional(head, "recordedAt", str, "head")
    if known_at is not None and recorded is not None and _instant_of(recorded) > known_at:
        verdict.fail("head.recordedAt", "is after the question's knownAt")

    facts = _verify_events(verdict, bundle, kind, slug, tree_size, root, head_position)
    if facts is None:
        return
    if describe_events(facts) != [
        {k: e.get(k) for k in _DESCRIBED} for e in _get(bundle, "events", list, "")
    ]:
        verdict.fail("events", "the described types, instants or sources are not the payloads'")
    if derive_answer(kind, valid_at, facts) != bundle.get("answer"):
        verdict.fail(
            "answer", "is not what the reference fold (domain/fold.py) gives for the events"
        )
    if bundle.get("citation") != citation(question, head, origin):
        verdict.fail("citation", "does not cite this question and head")


_DESCRIBED = (
    "version",
    "type",
    "recordedAt",
    "effectiveAt",
    "announcedAt",
    "summary",
    "sources",
    "target",
    "correctedBy",
    "retractedBy",
)


def _verify_events(
    verdict: Verdict,
    bundle: Mapping[str, Any],
    kind: str,
    slug: str,
    tree_size: int,
    root: bytes,
    head_position: int,
) -> list[Fact] | None:
    """Each event's leaf, payload digest and inclusion proof; the facts to fold (None when
    a payload is missing, so the answer cannot be re-derived)."""
    stream = f"{kind}:{slug}"
    aggregate = aggregate_uuid(kind, slug)
    facts: list[Fact] = []
    tombstones: list[tuple[str, str]] = []  # (part, SHA-256 of a redacted event's payload)
    complete = True
    entries = _get(bundle, "events", list, "")
    for number, entry in enumerate(entries):
        part = f"events[{number}]"
        if not isinstance(entry, dict):
            raise Malformed(part, "not a JSON object")
        leaf = _leaf(entry, part)
        part = f"{part} (position {leaf.get('position')})"
        verdict.events += 1
        index = _get(entry, "leafIndex", int, part)
        path = [_hex(p, f"{part}.path", 32) for p in _get(entry, "path", list, part)]
        leaf_bytes = _get(entry, "leaf", str, part).encode()
        if not merkle.verify_inclusion(index, tree_size, merkle.leaf_hash(leaf_bytes), path, root):
            verdict.fail(f"{part}.path", "the inclusion proof does not lead to the head's root")
        if leaf.get("stream") != stream or leaf.get("aggregateId") != str(aggregate):
            verdict.fail(f"{part}.leaf", f"is not an event of {stream}")
        if entry.get("position") != leaf.get("position"):
            verdict.fail(f"{part}.position", "is not the leaf's position")
        if leaf.get("version") != number + 1:
            verdict.fail(f"{part}.leaf", f"is version {leaf.get('version')}, not {number + 1}")
        if not isinstance(leaf.get("position"), int) or leaf["position"] > head_position:
            verdict.fail(f"{part}.leaf", "is not at or before the head's position")
        payload = entry.get("payload")
        if payload is None:
            verdict.fail(f"{part}.payload", "absent (redacted?): the answer cannot be re-derived")
            complete = False
            continue
        if not isinstance(payload, str):
            raise Malformed(f"{part}.payload", "not a string")
        salt = _hex(_get(entry, "salt", str, part), f"{part}.salt")
        digest = hashlib.sha256(salt + payload.encode()).hexdigest()
        if not salt:  # redacted: the tombstone keeps the digest, its redaction its hash
            digest = _tombstone_digest(payload) or ""
            tombstones.append((part, hashlib.sha256(payload.encode()).hexdigest()))
        if digest != leaf.get("payloadDigest"):
            verdict.fail(f"{part}.payload", "does not match the leaf's payloadDigest")
            complete = False
            continue
        try:
            facts.append(
                Fact.from_stored(
                    UUID(str(leaf["aggregateId"])),
                    int(leaf["version"]),
                    str(leaf["topic"]),
                    payload.encode(),
                )
            )
        except (ValueError, KeyError, TypeError) as error:
            verdict.fail(f"{part}.payload", f"is not a stored event ({error})")
            complete = False
    recorded = {str(f.data.get("tombstone_digest")) for f in facts if f.type == REDACTED}
    for part, tombstone in tombstones:
        if tombstone not in recorded:
            verdict.fail(f"{part}.payload", "is a tombstone no bundled redaction recorded")
            complete = False
    return facts if complete else None


def _tombstone_digest(payload: str) -> str | None:
    """The payload digest a redacted event's tombstone keeps (docs/evidence.md#redaction)."""
    try:
        note = json.loads(payload).get(TOMBSTONE)
        return str(note["payloadDigest"]) if isinstance(note, dict) else None
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def verify_consistency(
    verdict: Verdict,
    old: Mapping[str, Any],
    new: Mapping[str, Any],
    path: Sequence[str],
    public_key: bytes,
) -> None:
    """That the signed head `new` only appended to the signed head `old` (RFC 9162 2.1.4):
    both signatures, then the consistency proof `path` (hex) between their roots."""
    try:
        verify_head(verdict, old, public_key, "old head")
        verify_head(verdict, new, public_key, "head")
        first = _get(old, "treeSize", int, "old head")
        second = _get(new, "treeSize", int, "head")
        first_root = _hex(_get(old, "rootHash", str, "old head"), "old head.rootHash", 32)
        second_root = _hex(_get(new, "rootHash", str, "head"), "head.rootHash", 32)
        proof = [_hex(p, "consistency proof", 32) for p in path]
    except Malformed as error:
        verdict.failures.append(str(error))
        return
    if first > second:
        verdict.fail("old head", f"is larger ({first}) than the head ({second})")
    elif first == 0:
        verdict.notes.append("the old head is the empty tree: every log grew from it")
    elif not merkle.verify_consistency(first, second, first_root, second_root, proof):
        verdict.fail(
            "consistency proof",
            f"the tree of {second} leaves does not extend the old head's {first}: "
            "the log was rewritten since that head",
        )
