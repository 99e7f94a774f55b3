"""Evidence bundles over the real server (gql, httpx), on SQLite and PostgreSQL: GraphQL
`evidence` answers exactly what `policy` answers at the same basis and verifies offline;
REST gives the same bundle; refusals name the field; the reading room's policy and action
pages link to the bundle and the printable report; `verify-evidence --consistent-with
--server` proves that the log only grew since an earlier bundle."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from test_api_server import ApiServer, serve

from timeline.demo import (
    ALLOWANCE_CLAUSE,
    ALLOWANCE_SCOPE,
    INSTAGRAM_RESTRICTION,
    POLICY,
    load_demo,
)
from timeline.settings import Settings

pytestmark = pytest.mark.e2e

VALID_AT = "2022-03-11T12:00:00+03:00"
TIMELINE_CLI = str(Path(sys.executable).with_name("timeline"))
EVIDENCE = """query($kind: EvidenceKind!, $id: ID!, $v: DateTime, $k: DateTime, $p: Int) {
  evidence(kind: $kind, id: $id, validAt: $v, knownAt: $k, knownAtPosition: $p) {
    bundle question answer citation eventCount head { treeSize rootHash position signature }
  }
}"""
POLICY_QUERY = """query($id: ID!, $v: DateTime, $k: DateTime) {
  policy(id: $id, validAt: $v, knownAt: $k) {
    title owner summary status revision changedBy changeType
    clauses { id heading text scope expiresAt }
    sources { url title publisher publishedAt quote }
  }
}"""


@pytest.fixture(name="api")
def api_fixture(database_url: str, tmp_path: Path) -> Iterator[ApiServer]:
    """The server with the demo loaded and projected, its key in the test's directory."""
    with serve(Settings(database_url=database_url, signing_key=tmp_path / "key.pem")) as api:
        load_demo(api.services.timeline)
        api.services.projections.catch_up()
        yield api


def before_the_narrowing(api: ApiServer) -> dict[str, Any]:
    """The signed head right before the 13 March narrowing (the policy's third event)."""
    [narrowing] = [
        e.position
        for e in api.services.timeline.iter_log()
        if e.kind == "policy" and e.fact.version == 3
    ]
    query = "query($p: Int) { logHead(knownAtPosition: $p) { position recordedAt } }"
    head: dict[str, Any] = api.execute(query, {"p": narrowing - 1})["logHead"]
    return head


def verify_offline(path: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    environment = os.environ | {"TIMELINE_DATABASE_URL": "sqlite:////nonexistent/none.db"}
    return subprocess.run(
        [TIMELINE_CLI, "verify-evidence", str(path), *arguments],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
        check=False,
    )


def test_graphql_evidence_is_the_graphql_answer_at_the_same_basis_and_verifies_offline(
    api: ApiServer, tmp_path: Path
) -> None:
    head = before_the_narrowing(api)
    variables = {"kind": "POLICY", "id": POLICY, "v": VALID_AT, "k": head["recordedAt"]}
    found = api.execute(EVIDENCE, variables)["evidence"]
    answer = api.execute(POLICY_QUERY, {"id": POLICY, "v": VALID_AT, "k": head["recordedAt"]})
    policy = answer["policy"]
    bundled = found["answer"]
    assert found["head"]["position"] == head["position"] and found["eventCount"] == 2
    assert {k: bundled[k] for k in ("title", "owner", "summary", "status", "revision")} == {
        k: policy[k] for k in ("title", "owner", "summary", "status", "revision")
    }
    assert (bundled["changed_by"], bundled["change_type"]) == (
        policy["changedBy"],
        policy["changeType"],
    )
    clauses = [
        {"id": c["id"], "heading": c["heading"], "text": c["text"], "scope": c["scope"]}
        for c in policy["clauses"]
    ]
    assert [{k: c[k] for k in ("id", "heading", "text", "scope")} for c in bundled["clauses"]] == (
        clauses
    )
    assert [s["url"] for s in bundled["sources"]] == [s["url"] for s in policy["sources"]]
    [allowance] = [c for c in bundled["clauses"] if c["id"] == ALLOWANCE_CLAUSE]
    assert allowance["scope"] == ALLOWANCE_SCOPE

    by_position = api.execute(EVIDENCE, variables | {"k": None, "p": head["position"]})
    assert by_position["evidence"]["answer"] == bundled
    assert found["bundle"]["citation"] == found["citation"]
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(found["bundle"]))
    key = httpx.get(api.url + "/.well-known/timeline-key").json()
    (tmp_path / "key.json").write_text(json.dumps(key))
    done = verify_offline(path, "--key", str(tmp_path / "key.json"))
    assert done.returncode == 0, done.stderr
    assert "ok: verified (2 events)" in done.stdout

    rest = httpx.get(
        api.url + "/evidence",
        params={"kind": "policy", "id": POLICY, "validAt": VALID_AT, "knownAt": head["recordedAt"]},
    )
    assert rest.status_code == 200 and rest.json() == found["bundle"]


def test_evidence_refusals_name_the_field_on_graphql_and_rest(api: ApiServer) -> None:
    both = {"kind": "POLICY", "id": POLICY, "k": "2030-01-01T00:00:00Z", "p": 3}
    [error] = api.errors(EVIDENCE, both)
    assert error["extensions"]["code"] == "BAD_INPUT"
    assert error["extensions"]["field"] == "knownAtPosition"
    [error] = api.errors(EVIDENCE, {"kind": "POLICY", "id": "Not A Slug"})
    assert (error["extensions"]["code"], error["extensions"]["field"]) == ("BAD_INPUT", "id")
    [error] = api.errors(EVIDENCE, {"kind": "STATEMENT", "id": "nobody/never"})
    assert error["extensions"]["code"] == "NOT_FOUND"
    for params, field in (
        ({"kind": "actor", "id": "meta"}, "kind"),
        ({"kind": "policy"}, "id"),
        ({"kind": "policy", "id": POLICY, "validAt": "11 March"}, "validAt"),
        ({"kind": "policy", "id": POLICY, "knownAtPosition": "-1"}, "knownAtPosition"),
    ):
        refused = httpx.get(api.url + "/evidence", params=params)
        assert refused.status_code == 400, params
        assert refused.json()["error"]["field"] == field, params
    missing = httpx.get(api.url + "/evidence", params={"kind": "policy", "id": "meta/none"})
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "NOT_FOUND"


def test_evidence_before_the_first_event_is_not_yet_known_as_every_read_says(
    api: ApiServer,
) -> None:
    """A bundle asked at a position before the policy was recorded answers as `policy` does:
    NOT_YET_KNOWN with when it became known, on GraphQL and REST."""
    [error] = api.errors(EVIDENCE, {"kind": "POLICY", "id": POLICY, "p": 1})
    [read] = api.errors(
        "query($id: ID!) { policy(id: $id, knownAtPosition: 1) { version } }", {"id": POLICY}
    )
    assert error["extensions"]["code"] == read["extensions"]["code"] == "NOT_YET_KNOWN"
    assert error["extensions"]["firstKnownAt"] == read["extensions"]["firstKnownAt"]
    rest = httpx.get(
        api.url + "/evidence", params={"kind": "policy", "id": POLICY, "knownAtPosition": "1"}
    )
    assert rest.status_code == 404
    assert rest.json()["error"]["code"] == "NOT_YET_KNOWN"
    assert rest.json()["error"]["firstKnownAt"] == read["extensions"]["firstKnownAt"]


def test_reading_room_pages_link_to_their_evidence_and_printable_report(
    api: ApiServer, tmp_path: Path
) -> None:
    known_at = before_the_narrowing(api)["recordedAt"]
    # A page asked by knownAt redirects to its permalink by position; follow it.
    get = functools.partial(httpx.get, follow_redirects=True)
    now = api.execute("{ logHead { recordedAt } }")["logHead"]["recordedAt"]
    pages = (
        (f"/policies/{POLICY}", "policy", known_at),
        (f"/actions/{INSTAGRAM_RESTRICTION}", "regulatory-action", now),
    )
    for page, kind, known in pages:
        query = {"validAt": "2022-03-12T12:00:00+03:00", "knownAt": known}
        shown = get(api.url + page, params=query)
        assert shown.status_code == 200
        assert "Download evidence" in shown.text
        assert f'href="{page}/evidence?' in shown.text
        assert f'href="{page}/evidence/report?' in shown.text
        download = get(api.url + page + "/evidence", params=query)
        assert download.status_code == 200
        assert "attachment" in download.headers["content-disposition"]
        bundle = download.json()
        assert bundle["question"]["kind"] == kind
        path = tmp_path / "room.json"
        path.write_bytes(download.content)
        assert verify_offline(path).returncode == 0
        report = get(api.url + page + "/evidence/report", params=query)
        assert report.status_code == 200 and report.headers["content-type"].startswith("text/html")
        assert bundle["citation"] in report.text.replace("&#39;", "'")
        assert "<script" not in report.text and "http-equiv" not in report.text
    action = get(
        api.url + f"/actions/{INSTAGRAM_RESTRICTION}/evidence",
        params={"validAt": "2022-03-12T12:00:00+03:00", "knownAt": now},
    ).json()
    assert action["answer"]["status"] == "ANNOUNCED"
    not_yet = get(
        api.url + f"/actions/{INSTAGRAM_RESTRICTION}/evidence",
        params={"validAt": "2022-03-12T12:00:00+03:00", "knownAt": known_at},
    )
    assert not_yet.status_code == 404  # recorded after the narrowing: not known then
    missing = get(
        api.url + "/policies/meta/none/evidence",
        params={"validAt": VALID_AT, "knownAt": known_at},
    )
    assert missing.status_code == 404


def test_verify_evidence_proves_against_the_server_that_the_log_only_grew(
    api: ApiServer, tmp_path: Path
) -> None:
    head = before_the_narrowing(api)
    old = api.execute(EVIDENCE, {"kind": "POLICY", "id": POLICY, "p": head["position"]})
    path = tmp_path / "old.json"
    path.write_text(json.dumps(old["evidence"]["bundle"]))
    environment = os.environ | {"TIMELINE_DATABASE_URL": "sqlite:////nonexistent/none.db"}
    done = subprocess.run(
        [TIMELINE_CLI, "verify-evidence", "--consistent-with", str(path), "--server", api.url],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "ok: verified" in done.stdout and "extends the old head" in done.stderr
    fields = "treeSize rootHash position recordedAt checkpoint signature keyId"
    empty = api.execute(f"{{ logHead(knownAtPosition: 0) {{ {fields} }} }}")
    empty_file = str(tmp_path / "empty.json")
    Path(empty_file).write_text(json.dumps(empty))
    done = subprocess.run(
        [
            TIMELINE_CLI,
            "verify-evidence",
            str(path),
            "--server",
            api.url,
            "--consistent-with",
            empty_file,
        ],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "ok: verified (2 events)" in done.stdout


def test_closed_reads_close_evidence_on_every_transport(database_url: str, tmp_path: Path) -> None:
    settings = Settings(
        database_url=database_url, signing_key=tmp_path / "key.pem", read_requires_token=True
    )
    with serve(settings) as api:
        load_demo(api.services.timeline)
        api.services.projections.catch_up()
        params = {"kind": "policy", "id": POLICY, "validAt": VALID_AT}
        assert httpx.get(api.url + "/evidence", params=params).status_code == 401
        assert httpx.get(api.url + "/evidence/report", params=params).status_code == 401
        bearer = {"Authorization": f"Bearer {api.read_token}"}
        opened = httpx.get(api.url + "/evidence", params=params, headers=bearer)
        assert opened.status_code == 200 and opened.json()["question"]["id"] == POLICY
        [error] = api.errors(EVIDENCE, {"kind": "POLICY", "id": POLICY})
        assert error["extensions"]["code"] == "UNAUTHENTICATED"
        assert api.execute(EVIDENCE, {"kind": "POLICY", "id": POLICY}, api.read_token)
        room = f"/policies/{POLICY}/evidence"
        query = {"validAt": VALID_AT, "knownAt": "2030-01-01T00:00:00Z"}
        refused = httpx.get(api.url + room, params=query)
        assert refused.status_code == 401 and '"answer"' not in refused.text
        login = httpx.post(api.url + "/login", data={"token": api.read_token, "next": "/"})
        with httpx.Client(cookies=login.cookies, follow_redirects=True) as browser:
            assert browser.get(api.url + room, params=query).json()["question"]["id"] == POLICY
