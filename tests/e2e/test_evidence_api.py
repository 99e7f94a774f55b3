"""Signed tree heads and RFC 9162 proofs over the real server: a head for any past position
or instant, signed by the published key; every inclusion and consistency proof verifies with
nothing but the public key and hashlib; REST and GraphQL give the same answers."""

from __future__ import annotations

import base64
import hashlib
import json
import stat
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select
from test_api_server import ApiServer, serve
from test_security import codes, post

from timeline import integrity, merkle
from timeline.settings import Settings

pytestmark = pytest.mark.e2e

HEAD = "treeSize rootHash position recordedAt checkpoint signature keyId note"
T0 = "2022-03-01T00:00:00+00:00"


def register(api: ApiServer, slug: str) -> int:
    mutation = "mutation($i: RegisterActorInput!) { registerActor(input: $i) { position } }"
    data = {"id": slug, "name": slug.title(), "kind": "organisation", "effectiveAt": T0}
    body = post(api, mutation, {"i": data}, api.write_token)
    return int(body["data"]["registerActor"]["position"])


def public_key(api: ApiServer) -> Ed25519PublicKey:
    key = httpx.get(api.url + "/.well-known/timeline-key").json()
    return Ed25519PublicKey.from_public_bytes(base64.b64decode(key["publicKey"]))


def check_signed(api: ApiServer, head: dict[str, Any]) -> None:
    """What a third party does with a head: the signature over the checkpoint, and the
    checkpoint naming the head's size and root."""
    public_key(api).verify(base64.b64decode(head["signature"]), head["checkpoint"].encode())
    lines = head["checkpoint"].splitlines()
    assert int(lines[1]) == head["treeSize"]
    assert base64.b64decode(lines[2]).hex() == head["rootHash"]
    assert lines[3] == f"position {head['position']}"


@pytest.fixture(name="written")
def written_fixture(sqlite_url: str) -> Any:
    """A server with six events, and the head it gave right after each."""
    with serve(Settings(database_url=sqlite_url)) as api:
        heads = {}
        for slug in ("meta", "instagram", "roskomnadzor", "ofcom", "arcom", "agcom"):
            position = register(api, slug)
            heads[position] = post(api, f"{{ logHead {{ {HEAD} }} }}")["data"]["logHead"]
        yield api, heads


def test_every_past_head_is_given_again_by_position_and_instant_and_is_signed(
    written: Any,
) -> None:
    api, heads = written
    for position, head in heads.items():
        check_signed(api, head)
        assert head["position"] == position
        by_position = post(api, f"{{ logHead(knownAtPosition: {position}) {{ {HEAD} }} }}")
        assert by_position["data"]["logHead"] == head
        query = "query($t: DateTime) { logHead(knownAt: $t) { " + HEAD + " } }"
        by_instant = post(api, query, {"t": head["recordedAt"]})
        assert by_instant["data"]["logHead"] == head
    empty = post(api, "{ logHead(knownAtPosition: 0) { treeSize rootHash recordedAt } }")
    assert empty["data"]["logHead"] == {
        "treeSize": 0,
        "rootHash": hashlib.sha256(b"").hexdigest(),
        "recordedAt": None,
    }
    both = post(
        api, '{ logHead(knownAt: "2022-01-01T00:00:00Z", knownAtPosition: 1) { treeSize } }'
    )
    assert codes(both) == ["BAD_INPUT"]


def test_the_signing_key_is_the_published_one_and_a_file_beside_the_database(
    written: Any, sqlite_url: str
) -> None:
    api, heads = written
    graphql = post(api, "{ signingKey { keyId algorithm publicKey publicKeyPem origin } }")
    key = graphql["data"]["signingKey"]
    assert key == httpx.get(api.url + "/.well-known/timeline-key").json()
    assert key["algorithm"] == "Ed25519"
    raw = base64.b64decode(key["publicKey"])
    assert key["keyId"] == hashlib.sha256(raw).hexdigest()
    assert all(h["keyId"] == key["keyId"] for h in heads.values())
    path = Path(sqlite_url.removeprefix("sqlite:///") + ".signing-key.pem")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    secret = path.read_text()
    assert "PRIVATE KEY" in secret and secret not in json.dumps(graphql)


def test_every_inclusion_proof_verifies_against_every_later_head(written: Any) -> None:
    api, heads = written
    query = """query($p: Int!, $n: Int) { inclusionProof(position: $p, treeSize: $n) {
        position leafIndex treeSize leaf leafHash salt path head { rootHash treeSize } } }"""
    events = api.services.timeline.recorder.events_record_cls.__table__  # type: ignore[attr-defined]
    with api.services.timeline.engine.connect() as connection:
        states = {r.id: bytes(r.state) for r in connection.execute(select(events))}
    for position in heads:
        for head in heads.values():
            if head["position"] < position:
                continue
            body = post(api, query, {"p": position, "n": head["treeSize"]})
            proof = body["data"]["inclusionProof"]
            assert proof["head"]["rootHash"] == head["rootHash"]
            leaf = bytes.fromhex(proof["leafHash"])
            assert leaf == merkle.leaf_hash(proof["leaf"].encode())
            path = [bytes.fromhex(p) for p in proof["path"]]
            root = bytes.fromhex(head["rootHash"])
            assert merkle.verify_inclusion(proof["leafIndex"], head["treeSize"], leaf, path, root)
            committed = json.loads(proof["leaf"])
            assert committed["position"] == position
            salted = bytes.fromhex(proof["salt"]) + states[position]
            assert committed["payloadDigest"] == hashlib.sha256(salted).hexdigest()
            rest = httpx.get(
                api.url + "/log/proofs/inclusion",
                params={"position": position, "treeSize": head["treeSize"]},
            ).json()
            assert rest["path"] == proof["path"] and rest["leaf"] == proof["leaf"]


def test_every_consistency_proof_verifies_between_heads(written: Any) -> None:
    api, heads = written
    query = """query($a: Int!, $b: Int) { consistencyProof(from: $a, to: $b) {
        fromSize toSize path fromHead { rootHash } toHead { rootHash signature checkpoint } } }"""
    ordered = sorted(heads.values(), key=lambda h: h["treeSize"])
    for i, old in enumerate(ordered):
        for new in ordered[i:]:
            body = post(api, query, {"a": old["treeSize"], "b": new["treeSize"]})
            proof = body["data"]["consistencyProof"]
            assert proof["toHead"]["signature"] == new["signature"]  # deterministic signatures
            assert merkle.verify_consistency(
                old["treeSize"],
                new["treeSize"],
                bytes.fromhex(old["rootHash"]),
                bytes.fromhex(new["rootHash"]),
                [bytes.fromhex(p) for p in proof["path"]],
            )
            rest = httpx.get(
                api.url + "/log/proofs/consistency",
                params={"from": old["treeSize"], "to": new["treeSize"]},
            ).json()
            assert rest["path"] == proof["path"]
    rest_head = httpx.get(api.url + "/log/head", params={"knownAtPosition": 3}).json()
    assert rest_head == heads[3]


def test_proofs_for_what_does_not_exist_are_refused_with_their_codes(written: Any) -> None:
    api, _ = written
    assert codes(post(api, "{ inclusionProof(position: 99) { path } }")) == ["NOT_FOUND"]
    too_small = post(api, "{ inclusionProof(position: 5, treeSize: 2) { path } }")
    assert codes(too_small) == ["BAD_INPUT"]
    assert "treeSize" in too_small["errors"][0]["message"]
    assert codes(post(api, "{ consistencyProof(from: 4, to: 2) { path } }")) == ["BAD_INPUT"]
    assert codes(post(api, "{ consistencyProof(from: 1, to: 60) { path } }")) == ["BAD_INPUT"]
    missing = httpx.get(api.url + "/log/proofs/inclusion", params={"position": 99})
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "NOT_FOUND"
    bad = httpx.get(api.url + "/log/head", params={"knownAt": "2022-03-01T00:00:00"})
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "knownAt"


def test_the_key_survives_a_restart_and_verify_accepts_every_cited_head(sqlite_url: str) -> None:
    with serve(Settings(database_url=sqlite_url)) as api:
        register(api, "meta")
        first = post(api, "{ logHead { keyId signature rootHash position } }")["data"]["logHead"]
    with serve(Settings(database_url=sqlite_url)) as api:
        again = post(api, "{ logHead(knownAtPosition: 1) { keyId signature rootHash position } }")
        assert again["data"]["logHead"] == first
        events = api.services.timeline.recorder.events_record_cls.__table__  # type: ignore[attr-defined]
        cited = integrity.LogHead(first["position"], first["rootHash"])
        assert integrity.verify(api.services.timeline.engine, events, expect=cited).ok


def test_evidence_is_closed_with_the_other_reads(sqlite_url: str) -> None:
    with serve(Settings(database_url=sqlite_url, read_requires_token=True)) as api:
        for path in ("/.well-known/timeline-key", "/log/head"):
            assert httpx.get(api.url + path).status_code == 401
            headers = {"Authorization": f"Bearer {api.read_token}"}
            assert httpx.get(api.url + path, headers=headers).status_code == 200
        assert codes(post(api, "{ signingKey { keyId } }")) == ["UNAUTHENTICATED"]
