"""Domain oddities sent through the real server: refused as BAD_INPUT naming the field, and
nothing stored (the log head is unchanged)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from test_api_server import ApiServer, default_server

pytestmark = pytest.mark.e2e

REGISTER = "mutation($input: RegisterActorInput!) { registerActor(input: $input) { id } }"
ANNOUNCE = "mutation($input: AnnouncePolicyInput!) { announcePolicy(input: $input) { id } }"


@pytest.fixture(name="api")
def api_fixture(sqlite_url: str) -> Iterator[ApiServer]:
    yield from default_server(sqlite_url)


def test_a_clause_that_expires_before_it_takes_effect_is_bad_input(api: ApiServer) -> None:
    actor = {
        "id": "acme",
        "name": "Acme",
        "kind": "organisation",
        "effectiveAt": "2021-01-01T00:00:00Z",
    }
    api.execute(REGISTER, {"input": actor}, token=api.write_token)
    head = api.services.timeline.head_position()
    policy = {
        "id": "acme/conduct",
        "title": "Conduct",
        "owner": "acme",
        "effectiveAt": "2022-03-01T00:00:00Z",
        "clauses": [{"id": "c1", "text": "Be kind.", "expiresAt": "2022-02-01T00:00:00Z"}],
    }
    errors = api.errors(ANNOUNCE, {"input": policy}, token=api.write_token)
    assert len(errors) == 1
    assert errors[0]["extensions"]["code"] == "BAD_INPUT"
    assert errors[0]["extensions"]["field"].endswith("clauses[0].expiresAt")
    assert "must expire after its effectiveAt" in errors[0]["message"]
    assert api.services.timeline.head_position() == head


AMEND = (
    "mutation($input: AmendRegulatoryActionInput!) { amendRegulatoryAction(input: $input) { id } }"
)
ANNOUNCE_ACTION = (
    "mutation($input: AnnounceRegulatoryActionInput!) "
    "{ announceRegulatoryAction(input: $input) { id } }"
)


def test_a_regulatory_action_responding_to_itself_is_bad_input(api: ApiServer) -> None:
    regulator = {
        "id": "regulator",
        "name": "The Regulator",
        "kind": "authority",
        "effectiveAt": "2021-01-01T00:00:00Z",
    }
    api.execute(REGISTER, {"input": regulator}, token=api.write_token)
    action = {
        "id": "regulator/fine",
        "authority": "regulator",
        "jurisdiction": "RU",
        "kind": "restriction",
        "targets": [],
        "summary": "A measure",
        "effectiveAt": "2022-03-14T00:00:00Z",
    }
    api.execute(ANNOUNCE_ACTION, {"input": action}, token=api.write_token)
    head = api.services.timeline.head_position()
    amend = {
        "id": "regulator/fine",
        "effectiveAt": "2022-03-15T00:00:00Z",
        "inResponseTo": ["regulatory-action:regulator/fine@1"],
    }
    errors = api.errors(AMEND, {"input": amend}, token=api.write_token)
    assert len(errors) == 1
    assert errors[0]["extensions"]["code"] == "BAD_INPUT"
    assert errors[0]["extensions"]["field"].endswith("inResponseTo[0]")
    assert "cannot respond to itself" in errors[0]["message"]
    assert api.services.timeline.head_position() == head
