"""Signed tree heads: an Ed25519 key (a PEM file created on first use, see `key_path`) signs
each head as a C2SP tlog checkpoint, so that anyone holding the published public key can
check a cited head offline (docs/evidence.md). Ed25519 is deterministic: a past head signed
again gives the same signature, so heads are signed on demand and never stored."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from threading import Lock
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.engine import make_url

from domain.values import format_instant
from timeline.evidence_check import verify_signature as verify_signature  # its one home
from timeline.integrity import TreeHead
from timeline.settings import Settings

ALGORITHM = "Ed25519"


@dataclass(frozen=True)
class SignedHead:
    """A tree head with the checkpoint text that was signed and the signature over it."""

    head: TreeHead
    checkpoint: str
    signature: str  # base64 of the 64-byte Ed25519 signature over the checkpoint's UTF-8
    key_id: str
    note: str  # the checkpoint as a C2SP signed note (body, blank line, signature line)


@dataclass(frozen=True)
class Signer:
    """The service's signing key and what it publishes: the raw public key and its id."""

    private: Ed25519PrivateKey = field(repr=False)
    public_key: bytes  # raw 32 bytes
    key_id: str  # hex SHA-256 of the raw public key
    origin: str  # the checkpoint's first line: names this log

    def sign(self, head: TreeHead) -> SignedHead:
        body = checkpoint(self.origin, head)
        signature = self.private.sign(body.encode())
        note_key = hashlib.sha256(self.origin.encode() + b"\n\x01" + self.public_key).digest()
        line = base64.b64encode(note_key[:4] + signature).decode()
        return SignedHead(
            head,
            body,
            base64.b64encode(signature).decode(),
            self.key_id,
            f"{body}\n\u2014 {self.origin} {line}\n",
        )

    def public_pem(self) -> str:
        return (
            self.private.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )


def checkpoint(origin: str, head: TreeHead) -> str:
    """The signed text (C2SP tlog-checkpoint): origin, tree size, base64 root hash, then
    the last position and its recordedAt as extension lines."""
    recorded = format_instant(head.recorded_at) if head.recorded_at is not None else "-"
    root = base64.b64encode(head.root).decode()
    return f"{origin}\n{head.tree_size}\n{root}\nposition {head.position}\nrecorded-at {recorded}\n"


def key_path(settings: Settings) -> Path:
    """Where the key lives: the setting, else beside a SQLite file, else in `key_dir`."""
    if settings.signing_key is not None:
        return settings.signing_key
    url = make_url(settings.sqlalchemy_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        database = Path(url.database)
        return database.with_name(database.name + ".signing-key.pem")
    return settings.key_dir / "timeline-signing-key.pem"


_signers: dict[Path, Signer] = {}
_lock = Lock()


def signer(settings: Settings) -> Signer:
    """The key of these settings, created on first use (0600, atomically: of processes
    starting at once, one creates it and the others read it); read once per process."""
    path = key_path(settings).resolve()
    with _lock:
        found = _signers.get(path)
        if found is None:
            found = _signers[path] = load_key(path)
        return found


def load_key(path: Path) -> Signer:
    """The key in the PEM file at `path`, created there first when missing."""
    if not path.exists():
        _create(path)
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} does not hold an Ed25519 private key")
    public = key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    key_id = hashlib.sha256(public).hexdigest()
    return Signer(key, public, key_id, f"policy-timeline/{key_id[:16]}")


def _create(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".signing-key-")
    try:
        os.fchmod(handle, 0o600)
        os.write(handle, pem)
        os.close(handle)
        with contextlib.suppress(FileExistsError):  # another process made it first: keep it
            os.link(temporary, path)
    finally:
        os.unlink(temporary)


def head_json(signed: SignedHead) -> dict[str, Any]:
    """A signed head as JSON (REST `/log/head`, an evidence bundle): GraphQL's fields."""
    head = signed.head
    return {
        "treeSize": head.tree_size,
        "rootHash": head.hash,
        "position": head.position,
        "recordedAt": format_instant(head.recorded_at) if head.recorded_at else None,
        "checkpoint": signed.checkpoint,
        "signature": signed.signature,
        "keyId": signed.key_id,
        "note": signed.note,
    }


def key_json(signer: Signer) -> dict[str, str]:
    """The public key as published (`GET /.well-known/timeline-key`, an evidence bundle)."""
    return {
        "keyId": signer.key_id,
        "algorithm": ALGORITHM,
        "publicKey": base64.b64encode(signer.public_key).decode(),
        "publicKeyPem": signer.public_pem(),
        "origin": signer.origin,
    }
