"""Domain oddities sent through the real server: refused as BAD_INPUT naming the field, and
nothing stored (the log head is unchanged)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_api_server import ApiServer, default_server
from test_cli_io import STORY, error_line, run_cli, stored_events, write_ndjson

pytestmark = pytest.mark.e2e

REGISTER = "mutation($input: RegisterActorInput!) { registerActor(input: $input) { id } }"
ANNOUNCE = "mutation($input: AnnouncePolicyInput!) { announcePolicy(input: $input) { id } }"


@pytest.fixture(name="api")
def api_fixture(sqlite_url: str) -> Iterator[ApiServer]:
    yield from default_server(sqlite_url)


def _register(api: ApiServer, slug: str, name: str, kind: str) -> None:
    actor = {"id": slug, "name": name, "kind": kind, "effectiveAt": "2021-01-01T00:00:00Z"}
    api.execute(REGISTER, {"input": actor}, token=api.write_token)


def _refused(api: ApiServer, query: str, data: dict[str, object], field: str) -> str:
    """The one BAD_INPUT error of a refused write, naming `field`; nothing stored."""
    head = api.services.timeline.head_position()
    errors = api.errors(query, {"input": data}, token=api.write_token)
    assert len(errors) == 1, errors
    assert errors[0]["extensions"]["code"] == "BAD_INPUT"
    assert errors[0]["extensions"]["field"].endswith(field), errors[0]
    assert api.services.timeline.head_position() == head
    return str(errors[0]["message"])


def _conduct_policy(effective_at: str, **clause: str) -> dict[str, object]:
    """acme/conduct, owned by acme, with the one clause c1 'Be kind.' (plus `clause`)."""
    clauses = [{"id": "c1", "text": "Be kind.", **clause}]
    policy: dict[str, object] = {"id": "acme/conduct", "title": "Conduct", "owner": "acme"}
    return {**policy, "clauses": clauses, "effectiveAt": effective_at}


def test_a_clause_that_expires_before_it_takes_effect_is_bad_input(api: ApiServer) -> None:
    _register(api, "acme", "Acme", "organisation")
    policy = _conduct_policy("2022-03-01T00:00:00Z", expiresAt="2022-02-01T00:00:00Z")
    message = _refused(api, ANNOUNCE, policy, "clauses[0].expiresAt")
    assert "must expire after its effectiveAt" in message


AMEND = (
    "mutation($input: AmendRegulatoryActionInput!) { amendRegulatoryAction(input: $input) { id } }"
)
ANNOUNCE_ACTION = (
    "mutation($input: AnnounceRegulatoryActionInput!) "
    "{ announceRegulatoryAction(input: $input) { id } }"
)


def test_a_regulatory_action_responding_to_itself_is_bad_input(api: ApiServer) -> None:
    _register(api, "regulator", "The Regulator", "authority")
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
    amend = {
        "id": "regulator/fine",
        "effectiveAt": "2022-03-15T00:00:00Z",
        "inResponseTo": ["regulatory-action:regulator/fine@1"],
    }
    assert "cannot respond to itself" in _refused(api, AMEND, amend, "inResponseTo[0]")


REVISE = "mutation($input: RevisePolicyInput!) { revisePolicy(input: $input) { version } }"
CORRECT = "mutation($input: CorrectEventInput!) { correctEvent(input: $input) { eventId } }"


def _conduct(api: ApiServer) -> None:
    """acme and its policy acme/conduct (clause c1 'Be kind.'), revised once on 1 February."""
    _register(api, "acme", "Acme", "organisation")
    policy = _conduct_policy("2022-01-01T00:00:00Z")
    api.execute(ANNOUNCE, {"input": policy}, token=api.write_token)
    revision = {
        "id": "acme/conduct",
        "effectiveAt": "2022-02-01T00:00:00Z",
        "amendClauses": [{"id": "c1", "text": "Be kind, always."}],
    }
    api.execute(REVISE, {"input": revision}, token=api.write_token)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"amendClauses": [{"id": "c1", "text": "Be kind, always."}]}, "amendClauses"),
        ({"amendClauses": [{"id": "c1"}]}, "amendClauses"),
        ({"title": "Conduct"}, "title"),
    ],
    ids=["same-text", "empty-amendment", "same-title"],
)
def test_a_revision_that_changes_nothing_is_bad_input(
    api: ApiServer, changes: dict[str, object], field: str
) -> None:
    _conduct(api)
    revision = {"id": "acme/conduct", "effectiveAt": "2022-03-01T00:00:00Z", "summary": "again"}
    message = _refused(api, REVISE, {**revision, **changes}, field)
    assert "the revision changes nothing" in message


def test_a_correction_that_changes_nothing_is_bad_input(api: ApiServer) -> None:
    _conduct(api)
    same_instant = {"effectiveAt": "2022-02-01T03:00:00+03:00"}
    correction = {"event": "policy:acme/conduct@2", "reason": "no news", "changes": same_instant}
    assert "already reads so" in _refused(api, CORRECT, correction, "changes")
    # ...nor may a correction turn its revision into one that changes nothing
    back = {"amendClauses": [{"id": "c1", "text": "Be kind."}]}
    message = _refused(api, CORRECT, {**correction, "changes": back}, "changes")
    assert "the corrected revision would change nothing" in message


def test_a_revision_that_changes_nothing_in_an_import_is_refused_naming_its_line(
    sqlite_url: str, tmp_path: Path
) -> None:
    """The rule lives in the aggregate, so the NDJSON import (the real console script) obeys
    it too: the file is refused whole, naming the line, and nothing is stored."""
    again = json.loads(json.dumps(STORY[3]))
    again["input"]["idempotencyKey"] = "story:again"
    again["input"]["effectiveAt"] = "2022-03-14T00:00:00Z"
    story = write_ndjson(tmp_path / "story.ndjson", [*STORY[:4], again])

    result = run_cli(sqlite_url, tmp_path, "import", str(story))

    assert result.returncode != 0
    line = error_line(result)
    assert "line 5" in line and "amendClauses" in line and "changes nothing" in line
    assert stored_events(sqlite_url) == 0
