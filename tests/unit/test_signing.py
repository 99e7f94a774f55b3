"""The signing key: where it lives (the setting, beside a SQLite file, or the key directory),
created once with mode 0600 and the same key for every later load; a signed head verifies
with the public key alone and fails when any byte of the checkpoint changes."""

from __future__ import annotations

import base64
import stat
from datetime import UTC, datetime
from pathlib import Path

from timeline import merkle, signing
from timeline.integrity import TreeHead
from timeline.settings import Settings

HEAD = TreeHead(3, merkle.leaf_hash(b"x"), 7, datetime(2022, 3, 12, tzinfo=UTC))


def test_the_key_lives_where_the_settings_say(tmp_path: Path) -> None:
    given = tmp_path / "secret" / "key.pem"
    assert signing.key_path(Settings(signing_key=given)) == given
    sqlite = Settings(database_url=f"sqlite:///{tmp_path / 'timeline.db'}")
    assert signing.key_path(sqlite) == tmp_path / "timeline.db.signing-key.pem"
    postgres = Settings(database_url="postgresql://u@db/timeline", key_dir=tmp_path / "keys")
    assert signing.key_path(postgres) == tmp_path / "keys" / "timeline-signing-key.pem"


def test_the_key_is_created_once_private_and_loaded_again(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "k.pem"
    first = signing.load_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert signing.load_key(path).public_key == first.public_key
    assert "PRIVATE" not in repr(first)
    assert first.origin == f"policy-timeline/{first.key_id[:16]}"
    assert not list(path.parent.glob(".signing-key-*"))  # no temporary file left behind


def test_a_signed_head_verifies_with_the_public_key_and_a_changed_byte_does_not(
    tmp_path: Path,
) -> None:
    signer = signing.load_key(tmp_path / "k.pem")
    signed = signer.sign(HEAD)
    assert signed.checkpoint.splitlines()[1:] == [
        "3",
        base64.b64encode(HEAD.root).decode(),
        "position 7",
        "recorded-at 2022-03-12T00:00:00+00:00",
    ]
    assert signer.sign(HEAD).signature == signed.signature  # Ed25519 is deterministic
    assert signing.verify_signature(signer.public_key, signed.checkpoint, signed.signature)
    changed = signed.checkpoint.replace("position 7", "position 8")
    assert not signing.verify_signature(signer.public_key, changed, signed.signature)
    other = signing.load_key(tmp_path / "other.pem")
    assert not signing.verify_signature(other.public_key, signed.checkpoint, signed.signature)
    assert not signing.verify_signature(signer.public_key, signed.checkpoint, "not base64!")
