"""API bearer tokens: random secrets stored only as SHA-256 hashes, each with its scopes.

A token is `pt_<id>_<secret>`; the id finds the row, the secret's hash is compared in constant
time. The plain token is shown once, when it is created, and never stored.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    MetaData,
    String,
    Table,
    insert,
    inspect,
    select,
    update,
)

from domain.errors import InvalidInput
from timeline import migrations

#: Scopes a token may carry: `read` (queries, when reads are closed) and `write` (mutations).
SCOPES = ("read", "write")
PREFIX = "pt"

metadata = MetaData()

api_tokens = Table(
    "timeline_api_tokens",
    metadata,
    Column("token_id", String(32), primary_key=True),
    Column("secret_hash", String(64), nullable=False),
    Column("scopes", String(200), nullable=False),
    Column("name", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
)


@dataclass(frozen=True)
class TokenInfo:
    """A stored token, without its secret."""

    token_id: str
    name: str
    scopes: frozenset[str]
    created_at: datetime
    revoked_at: datetime | None = None

    def allows(self, scope: str) -> bool:
        """`write` implies `read`: a writer may also read a closed API."""
        return scope in self.scopes or (scope == "read" and "write" in self.scopes)


def create_tables(engine: Engine) -> None:
    """The tables exist after this: they are migrated with the others (timeline.migrations)."""
    migrations.upgrade(engine)


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


#: What an unknown token id's secret is compared against: the hash of no real secret, the same
#: length as a stored one, so that path costs what a wrong secret costs.
_DUMMY_HASH = _hash(secrets.token_urlsafe(32))


def check_scopes(scopes: Iterable[str]) -> frozenset[str]:
    """Refuse unknown scopes by name."""
    chosen = frozenset(scopes)
    unknown = sorted(chosen - set(SCOPES))
    if unknown or not chosen:
        raise InvalidInput(
            "scope",
            f"must be one or more of {', '.join(SCOPES)}"
            + (f"; unknown: {', '.join(unknown)}" if unknown else ""),
        )
    return chosen


def create_token(engine: Engine, scopes: Iterable[str], name: str = "") -> tuple[str, TokenInfo]:
    """Store a new token's hash and return the plain token (shown once) with its info."""
    chosen = check_scopes(scopes)
    create_tables(engine)
    token_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    info = TokenInfo(token_id, name, chosen, datetime.now(UTC))
    with engine.begin() as connection:
        connection.execute(
            insert(api_tokens).values(
                token_id=token_id,
                secret_hash=_hash(secret),
                scopes=" ".join(sorted(chosen)),
                name=name,
                created_at=info.created_at,
            )
        )
    return f"{PREFIX}_{token_id}_{secret}", info


def authenticate(engine: Engine, token: str) -> TokenInfo | None:
    """The token's info when it is well formed, known, not revoked and its secret matches.

    An unknown id, a revoked token and a wrong secret all take the same path: the secret is
    hashed and compared in constant time (against a dummy hash when there is no row), so
    the answer's timing does not tell which ids exist.
    """
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != PREFIX or not parts[1] or not parts[2]:
        return None  # the format is public: refusing it early reveals nothing
    with engine.connect() as connection:
        row = connection.execute(
            select(api_tokens).where(api_tokens.c.token_id == parts[1])
        ).first()
    matches = hmac.compare_digest(_DUMMY_HASH if row is None else row.secret_hash, _hash(parts[2]))
    if row is None or row.revoked_at is not None or not matches:
        return None
    return TokenInfo(row.token_id, row.name, frozenset(row.scopes.split()), row.created_at)


def list_tokens(engine: Engine) -> list[TokenInfo]:
    """Every token, newest first, without secrets (none when the table does not exist yet:
    a listing creates nothing)."""
    if not inspect(engine).has_table(api_tokens.name):
        return []
    with engine.connect() as connection:
        rows = connection.execute(select(api_tokens).order_by(api_tokens.c.created_at.desc())).all()
    return [
        TokenInfo(r.token_id, r.name, frozenset(r.scopes.split()), r.created_at, r.revoked_at)
        for r in rows
    ]


def revoke_token(engine: Engine, token_id: str) -> bool:
    """Revoke a token by its id; False when there is no such active token."""
    if not inspect(engine).has_table(api_tokens.name):
        return False
    with engine.begin() as connection:
        result = connection.execute(
            update(api_tokens)
            .where(api_tokens.c.token_id == token_id, api_tokens.c.revoked_at.is_(None))
            .values(revoked_at=datetime.now(UTC))
        )
    return bool(result.rowcount)
