"""Evidence in GraphQL: `logHead` (a signed tree head for now or any past instant or position),
`signingKey`, `inclusionProof` and `consistencyProof` (RFC 9162), so that a legal team can
cite exactly which log an answer came from and a third party can check it (docs/evidence.md)."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import datetime
from enum import Enum
from typing import Annotated, Any, TypeVar, cast

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from api.arguments import KnownAt, ValidAt
from api.context import Context, described, run
from timeline import eventstore, proofs, signing
from timeline import evidence as bundles
from timeline.integrity import TreeHead

F = TypeVar("F", bound=Callable[..., Any])


def _deprecated(description: str, reason: str) -> Callable[[F], F]:
    """A deprecated resolver field, typed so mypy keeps the signature."""
    return cast(
        Callable[[F], F], strawberry.field(description=description, deprecation_reason=reason)
    )


@strawberry.type(
    name="SignedTreeHead",
    description="The log's Merkle tree (RFC 9162) right after a position, signed (Ed25519).",
)
class SignedTreeHeadType:
    head: strawberry.Private[TreeHead]
    signed: strawberry.Private[signing.SignedHead | None] = None

    @described("Leaves (events) in the tree.")
    def tree_size(self) -> int:
        return self.head.tree_size

    @described("The tree's RFC 9162 root hash, hex (SHA-256 of '' if empty).")
    def root_hash(self) -> str:
        return self.head.hash

    @described("Log position of the tree's last event (0 for the empty tree).")
    def position(self) -> int:
        return self.head.position

    @described("When the tree's last event was recorded (null if empty).")
    def recorded_at(self) -> datetime | None:
        return self.head.recorded_at

    @_deprecated("The root hash, hex.", "The chain hash became the Merkle root: use rootHash.")
    def hash(self) -> str:
        return self.head.hash

    @described("The signed text: a C2SP tlog checkpoint (origin, size, root).")
    def checkpoint(self, info: Info[Context, None]) -> str:
        return _signed(info, self).checkpoint

    @described("Base64 Ed25519 signature over the checkpoint's UTF-8 bytes.")
    def signature(self, info: Info[Context, None]) -> str:
        return _signed(info, self).signature

    @described("Hex SHA-256 of the raw public key that signed it.")
    def key_id(self, info: Info[Context, None]) -> str:
        return _signed(info, self).key_id

    @described("The checkpoint as a C2SP signed note (checkable by Go's note).")
    def note(self, info: Info[Context, None]) -> str:
        return _signed(info, self).note


def _signed(info: Info[Context, None], head: SignedTreeHeadType) -> signing.SignedHead:
    """Sign on demand, once per head (deterministic): a client that asks for no signature
    needs no key."""
    if head.signed is None:
        head.signed = signing.signer(info.context.services.settings).sign(head.head)
    return head.signed


@strawberry.type(name="SigningKey", description="The public key that signs tree heads.")
class SigningKeyType:
    key_id: str = strawberry.field(description="Hex SHA-256 of the raw public key.")
    algorithm: str = strawberry.field(description="Ed25519.")
    public_key: str = strawberry.field(description="The raw 32-byte public key, base64.")
    public_key_pem: str = strawberry.field(description="The public key as PEM (SPKI).")
    origin: str = strawberry.field(description="The checkpoints' first line: names this log.")

    @classmethod
    def of(cls, signer: signing.Signer) -> SigningKeyType:
        return cls(
            key_id=signer.key_id,
            algorithm=signing.ALGORITHM,
            public_key=base64.b64encode(signer.public_key).decode(),
            public_key_pem=signer.public_pem(),
            origin=signer.origin,
        )


@strawberry.type(name="InclusionProof", description="RFC 9162 proof that an event is in a head.")
class InclusionProofType:
    position: int = strawberry.field(description="The event's log position.")
    leaf_index: int = strawberry.field(description="Its leaf's index in the tree (from 0).")
    tree_size: int = strawberry.field(description="Leaves in the tree it is proved against.")
    leaf: str = strawberry.field(description="The leaf's bytes: canonical JSON (UTF-8).")
    leaf_hash: str = strawberry.field(description="SHA-256(0x00 || leaf), hex.")
    salt: str = strawberry.field(
        description="The payload digest's salt, hex; empty once the event is redacted."
    )
    redacted_by: str | None = strawberry.field(
        description="The redaction (kind:slug@version) that erased the payload, if any: its "
        "salt is wiped, so the digest in the leaf can no longer be recomputed from a payload."
    )
    path: list[str] = strawberry.field(description="The audit path, bottom up, hex.")
    head: SignedTreeHeadType = strawberry.field(description="The signed head proved against.")

    @classmethod
    def of(cls, proof: proofs.InclusionProof) -> InclusionProofType:
        leaf = proof.stored.leaf
        return cls(
            position=leaf.position,
            leaf_index=proof.stored.leaf_index,
            tree_size=proof.head.tree_size,
            leaf=leaf.canonical().decode(),
            leaf_hash=leaf.hash().hex(),
            salt=proof.stored.salt.hex(),
            redacted_by=proof.stored.redacted_by,
            path=[p.hex() for p in proof.path],
            head=SignedTreeHeadType(head=proof.head),
        )


@strawberry.type(
    name="ConsistencyProof", description="RFC 9162 proof that a later head only appended."
)
class ConsistencyProofType:
    from_size: int = strawberry.field(description="Leaves in the earlier tree.")
    to_size: int = strawberry.field(description="Leaves in the later tree.")
    path: list[str] = strawberry.field(description="The consistency path, hex.")
    from_head: SignedTreeHeadType = strawberry.field(description="The earlier signed head.")
    to_head: SignedTreeHeadType = strawberry.field(description="The later signed head.")

    @classmethod
    def of(cls, proof: proofs.ConsistencyProof) -> ConsistencyProofType:
        return cls(
            from_size=proof.first.tree_size,
            to_size=proof.second.tree_size,
            path=[p.hex() for p in proof.path],
            from_head=SignedTreeHeadType(head=proof.first),
            to_head=SignedTreeHeadType(head=proof.second),
        )


KnownAtPosition = Annotated[
    int | None, strawberry.argument(description="The head right after this log position.")
]


async def log_head(
    info: Info[Context, None],
    known_at: KnownAt = None,
    known_at_position: KnownAtPosition = None,
) -> SignedTreeHeadType:
    """The signed head now, or as it was at an instant or right after a position."""
    await info.context.authorize_read()
    head = await run(proofs.head_for, info.context.engine, known_at, known_at_position)
    return SignedTreeHeadType(head=head)


async def signing_key(info: Info[Context, None]) -> SigningKeyType:
    """The public key (also at GET /.well-known/timeline-key)."""
    await info.context.authorize_read()
    return SigningKeyType.of(await run(signing.signer, info.context.services.settings))


async def inclusion_proof(
    info: Info[Context, None],
    position: Annotated[int, strawberry.argument(description="The event's log position.")],
    tree_size: Annotated[
        int | None, strawberry.argument(description="The tree to prove against; default now.")
    ] = None,
) -> InclusionProofType:
    """An event's inclusion proof against a signed head."""
    await info.context.authorize_read()
    timeline = info.context.services.timeline
    events = eventstore.events_table(timeline.recorder)
    proof = await run(proofs.prove_inclusion, timeline.engine, events, position, tree_size)
    return InclusionProofType.of(proof)


async def consistency_proof(
    info: Info[Context, None],
    from_: Annotated[
        int, strawberry.argument(name="from", description="The earlier tree size (>= 1).")
    ],
    to: Annotated[
        int | None, strawberry.argument(description="The later tree size; default now.")
    ] = None,
) -> ConsistencyProofType:
    """A consistency proof between two tree sizes, with both signed heads."""
    await info.context.authorize_read()
    proof = await run(proofs.prove_consistency, info.context.engine, from_, to)
    return ConsistencyProofType.of(proof)


@strawberry.enum(name="EvidenceKind", description="What an evidence bundle can answer about.")
class EvidenceKind(Enum):
    POLICY = strawberry.enum_value("policy", description="A policy.")
    REGULATORY_ACTION = strawberry.enum_value("regulatory-action", description="An action.")
    STATEMENT = strawberry.enum_value("statement", description="A statement.")


@strawberry.type(
    name="Evidence",
    description="An answer with what a third party needs to check it offline "
    "(`timeline verify-evidence`, docs/evidence.md).",
)
class EvidenceType:
    document: strawberry.Private[dict[str, Any]]

    @described("The whole bundle, as `timeline evidence -o` writes it: save it as JSON.")
    def bundle(self) -> JSON:
        return cast(JSON, self.document)

    @described("The question: kind, id, validAt and the basis (knownAt or knownAtPosition).")
    def question(self) -> JSON:
        return cast(JSON, self.document["question"])

    @described("The answer: the reference fold of the events (null: nothing in force).")
    def answer(self) -> JSON | None:
        return cast(JSON | None, self.document["answer"])

    @described("The one-line citation of this answer and its signed head.")
    def citation(self) -> str:
        return str(self.document["citation"])

    @described("The signed head every event's inclusion proof leads to.")
    def head(self) -> SignedTreeHeadType:
        head = self.document["head"]
        recorded = head["recordedAt"]
        tree = TreeHead(
            head["treeSize"],
            bytes.fromhex(head["rootHash"]),
            head["position"],
            None if recorded is None else datetime.fromisoformat(recorded),
        )
        return SignedTreeHeadType(head=tree)

    @described("How many events the answer was folded from.")
    def event_count(self) -> int:
        return len(self.document["events"])


async def evidence(
    info: Info[Context, None],
    kind: Annotated[EvidenceKind, strawberry.argument(description="What is asked about.")],
    id: Annotated[strawberry.ID, strawberry.argument(description="Its id (slug).")],
    valid_at: ValidAt = None,
    known_at: KnownAt = None,
    known_at_position: KnownAtPosition = None,
) -> EvidenceType:
    """An evidence bundle for an answer at (validAt, knownAt or knownAtPosition)."""
    await info.context.authorize_read()
    bundle = await run(
        bundles.build,
        info.context.services.timeline,
        kind.value,
        str(id),
        valid_at,
        known_at,
        known_at_position,
    )
    return EvidenceType(document=bundle)
