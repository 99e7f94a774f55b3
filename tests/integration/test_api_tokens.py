"""API tokens: stored only as hashes, checked in constant time, scoped, revocable; created by
`timeline token create --scope write` (real databases)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, select
from typer.testing import CliRunner

from domain.errors import InvalidInput
from entrypoints.cli import app
from timeline import tokens
from timeline.settings import Settings


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    engine = create_engine(settings.sqlalchemy_url)
    try:
        yield engine
    finally:
        engine.dispose()


def test_a_token_is_stored_only_as_the_hash_of_its_secret(engine: Engine) -> None:
    token, info = tokens.create_token(engine, ["write"], "ci")
    secret = token.split("_", 2)[2]
    with engine.connect() as connection:
        rows = connection.execute(select(tokens.api_tokens)).all()
    assert len(rows) == 1
    stored = " ".join(str(value) for value in rows[0])
    assert secret not in stored and token not in stored
    assert rows[0].secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert info.scopes == frozenset({"write"})


def test_only_the_exact_token_authenticates(engine: Engine) -> None:
    token, info = tokens.create_token(engine, ["read"])
    found = tokens.authenticate(engine, token)
    assert found is not None and found.token_id == info.token_id
    assert found.allows("read") and not found.allows("write")
    assert tokens.authenticate(engine, token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    assert tokens.authenticate(engine, "pt_unknown_secret") is None
    assert tokens.authenticate(engine, "") is None


def test_a_revoked_token_stops_authenticating(engine: Engine) -> None:
    token, info = tokens.create_token(engine, ["write"])
    assert tokens.revoke_token(engine, info.token_id)
    assert tokens.authenticate(engine, token) is None
    assert not tokens.revoke_token(engine, info.token_id)


def test_an_unknown_scope_is_refused_by_name(engine: Engine) -> None:
    with pytest.raises(InvalidInput) as refused:
        tokens.create_token(engine, ["admin"])
    assert refused.value.field == "scope"
    assert "admin" in refused.value.reason


def test_cli_creates_a_write_token_that_authenticates(settings: Settings, engine: Engine) -> None:
    result = CliRunner().invoke(
        app,
        [
            "token",
            "create",
            "--scope",
            "write",
            "--name",
            "ci",
            "--database-url",
            settings.database_url,
        ],
    )
    assert result.exit_code == 0, result.output
    token = result.stdout.strip().splitlines()[-1]
    found = tokens.authenticate(engine, token)
    assert found is not None and found.allows("write") and found.name == "ci"
    listed = CliRunner().invoke(app, ["token", "list", "--database-url", settings.database_url])
    assert found.token_id in listed.stdout and token.split("_", 2)[2] not in listed.stdout


def test_cli_refuses_an_unknown_scope(settings: Settings) -> None:
    result = CliRunner().invoke(
        app, ["token", "create", "--scope", "root", "--database-url", settings.database_url]
    )
    assert result.exit_code == 2
    assert "scope" in result.stderr


def test_an_unknown_id_a_revoked_token_and_a_wrong_secret_take_the_same_path(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Constant time by construction: each refusal hashes the secret once and compares it
    with compare_digest once (against a dummy hash for an unknown id), so timing cannot tell
    a known id from an unknown one. The spies count calls and delegate to the real code."""
    token, info = tokens.create_token(engine, ["read"])
    revoked, revoked_info = tokens.create_token(engine, ["read"])
    assert tokens.revoke_token(engine, revoked_info.token_id)
    calls: list[str] = []
    real_hash, real_compare = tokens._hash, tokens.hmac.compare_digest

    def counted_hash(secret: str) -> str:
        calls.append("hash")
        return real_hash(secret)

    def counted_compare(a: str, b: str) -> bool:
        calls.append(f"compare:{'dummy' if a == tokens._DUMMY_HASH else 'stored'}")
        return real_compare(a, b)

    monkeypatch.setattr(tokens, "_hash", counted_hash)
    monkeypatch.setattr(tokens.hmac, "compare_digest", counted_compare)
    secret = token.split("_", 2)[2]
    cases = {
        "wrong secret": f"pt_{info.token_id}_{'x' * len(secret)}",
        "unknown id": f"pt_{'0' * len(info.token_id)}_{secret}",
        "revoked": revoked,
    }
    for case, attempt in cases.items():
        calls.clear()
        assert tokens.authenticate(engine, attempt) is None, case
        expected = "compare:dummy" if case == "unknown id" else "compare:stored"
        assert calls == ["hash", expected], case
