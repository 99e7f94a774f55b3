"""Corrections leave a mark: a version built from a corrected fact names the correction (its
reference, when, why) over GraphQL with the gql client and in the real `timeline` CLI, on
SQLite and on PostgreSQL; asked with a knownAt before the correction it reads as first
recorded, with no mark."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from test_api_server import ApiServer, serve
from test_cli_query import answer, run_cli

from timeline.settings import Settings

pytestmark = pytest.mark.e2e

POLICY = "meta/hate-speech"
ACTION = "roskomnadzor/instagram-restriction"
STATEMENT = "meta/clegg-statement"
MARK = "correctedBy { event recordedAt reason }"


def _write(api: ApiServer, mutation: str, input_type: str, data: dict[str, Any]) -> Any:
    result = api.execute(
        f"mutation($input: {input_type}!) {{ {mutation}(input: $input) "
        "{ id version recordedAt } }",
        {"input": data},
        token=api.write_token,
    )
    return result[mutation]


def _correct(api: ApiServer, event: str, changes: dict[str, Any], reason: str) -> Any:
    return _write(
        api,
        "correctEvent",
        "CorrectEventInput",
        {"event": event, "changes": changes, "reason": reason},
    )


@pytest.fixture
def api(database_url: str) -> Iterator[ApiServer]:
    with serve(Settings(database_url=database_url)) as server:
        for slug, kind in (("meta", "organisation"), ("roskomnadzor", "authority")):
            _write(
                server,
                "registerActor",
                "RegisterActorInput",
                {"id": slug, "name": slug, "kind": kind, "effectiveAt": "2021-01-01T00:00:00Z"},
            )
        _write(
            server,
            "announcePolicy",
            "AnnouncePolicyInput",
            {
                "id": POLICY,
                "title": "Hate Speach",
                "owner": "meta",
                "clauses": [{"id": "tier-1", "text": "Violent speech is removed."}],
                "effectiveAt": "2022-01-01T00:00:00Z",
            },
        )
        _write(
            server,
            "revisePolicy",
            "RevisePolicyInput",
            {
                "id": POLICY,
                "addClauses": [{"id": "allowance", "text": "Allowed in Ukraine.", "scope": ["UA"]}],
                "effectiveAt": "2022-03-10T00:00:00Z",
            },
        )
        yield server


def test_policy_versions_built_from_a_corrected_fact_name_the_correction(api: ApiServer) -> None:
    before = api.execute("query { logHead { recordedAt } }")["logHead"]["recordedAt"]
    corrected = _correct(api, f"policy:{POLICY}@1", {"title": "Hate Speech"}, "a typo")
    query = (
        "query($known: DateTime) { "
        f'policy(id: "{POLICY}", validAt: "2022-02-01T00:00:00Z", knownAt: $known) '
        f"{{ title {MARK} }} "
        f'policyHistory(id: "{POLICY}", knownAt: $known) {{ changedBy title {MARK} }} }}'
    )
    now = api.execute(query)
    mark = {
        "event": f"policy:{POLICY}@3",
        "recordedAt": corrected["recordedAt"],
        "reason": "a typo",
    }
    assert now["policy"] == {"title": "Hate Speech", "correctedBy": [mark]}
    # the revision's version is built on the corrected announcement too
    assert [(v["changedBy"], v["correctedBy"]) for v in now["policyHistory"]] == [
        (1, [mark]),
        (2, [mark]),
    ]
    then = api.execute(query, {"known": before})
    assert then["policy"] == {"title": "Hate Speach", "correctedBy": []}
    assert all(v["correctedBy"] == [] for v in then["policyHistory"])


def test_an_action_and_a_statement_built_from_corrected_facts_name_the_correction(
    api: ApiServer,
) -> None:
    _write(
        api,
        "announceRegulatoryAction",
        "AnnounceRegulatoryActionInput",
        {
            "id": ACTION,
            "authority": "roskomnadzor",
            "jurisdiction": "RU",
            "kind": "restriction",
            "effectiveAt": "2022-03-14T00:00:00+03:00",
        },
    )
    _write(
        api,
        "recordStatement",
        "RecordStatementInput",
        {
            "id": STATEMENT,
            "actor": "meta",
            "text": "We disagre.",
            "effectiveAt": "2022-03-11T00:00:00Z",
        },
    )
    action = _correct(api, f"regulatory-action:{ACTION}@1", {"kind": "block"}, "misreported")
    said = _correct(api, f"statement:{STATEMENT}@1", {"text": "We disagree."}, "transcript")
    named = _correct(api, "actor:meta@1", {"name": "Meta Platforms, Inc."}, "legal name")
    found = api.execute(
        f'query {{ regulatoryAction(id: "{ACTION}", validAt: "2022-03-20T00:00:00Z") '
        f"{{ kind {MARK} }} "
        f'statement(id: "{STATEMENT}") {{ text {MARK} }} '
        f'actor(id: "meta") {{ name {MARK} }} }}'
    )
    assert found["actor"] == {
        "name": "Meta Platforms, Inc.",
        "correctedBy": [
            {"event": "actor:meta@2", "recordedAt": named["recordedAt"], "reason": "legal name"}
        ],
    }
    assert found["regulatoryAction"] == {
        "kind": "block",
        "correctedBy": [
            {
                "event": f"regulatory-action:{ACTION}@2",
                "recordedAt": action["recordedAt"],
                "reason": "misreported",
            }
        ],
    }
    assert found["statement"] == {
        "text": "We disagree.",
        "correctedBy": [
            {
                "event": f"statement:{STATEMENT}@2",
                "recordedAt": said["recordedAt"],
                "reason": "transcript",
            }
        ],
    }


def test_the_cli_shows_the_correction_of_a_version(
    api: ApiServer, database_url: str, tmp_path: Path
) -> None:
    _correct(api, f"policy:{POLICY}@1", {"title": "Hate Speech"}, "a typo")
    found = answer(database_url, tmp_path, "at", POLICY, "--valid-at", "2022-02-01T00:00:00Z")
    [mark] = found["correctedBy"]
    assert (mark["event"], mark["reason"]) == (f"policy:{POLICY}@3", "a typo")
    shown = run_cli(database_url, tmp_path, "at", POLICY, "--valid-at", "2022-02-01T00:00:00Z")
    assert shown.returncode == 0, shown.stderr
    assert f"corrected by policy:{POLICY}@3" in shown.stdout and "a typo" in shown.stdout
    listed = run_cli(database_url, tmp_path, "history", POLICY)
    assert listed.returncode == 0, listed.stderr
    assert "corrected @3" in listed.stdout


def test_the_reading_room_page_of_a_corrected_version_says_so(api: ApiServer) -> None:
    _correct(api, f"policy:{POLICY}@1", {"title": "Hate Speech"}, "a <typo>")
    page = httpx.get(
        api.url + f"/policies/{POLICY}",
        params={"validAt": "2022-02-01T00:00:00Z"},
        follow_redirects=True,
    )
    assert page.status_code == 200
    assert f"by policy:{POLICY}@3" in page.text and "a &lt;typo&gt;" in page.text
