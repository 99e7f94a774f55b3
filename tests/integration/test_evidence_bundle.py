"""Evidence bundles on a real database (SQLite and PostgreSQL): the seed's story (the Hate
Speech guidance on 11 March as known before the narrowing) is bundled, verifies offline in a
fresh process that loads no database library, and fails, naming the part, when any part of
it is changed; the answer is the reference fold; --consistent-with proves growth."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from eventsourcing.persistence import StoredEvent
from sqlalchemy import select

from domain import RULES, Fact
from domain.errors import InvalidInput, NotFound, NotYetKnown
from domain.fold import state_at
from domain.values import parse_instant, to_json
from timeline import eventstore, evidence, evidence_check, evidence_report
from timeline.application import Timeline
from timeline.demo import (
    ALLOWANCE_CLAUSE,
    ALLOWANCE_SCOPE,
    INSTAGRAM_RESTRICTION,
    POLICY,
    load_demo,
)
from timeline.settings import Settings

VALID_AT = parse_instant("validAt", "2022-03-11T12:00:00+03:00")
TIMELINE_CLI = str(Path(sys.executable).with_name("timeline"))


@pytest.fixture(name="settings")
def settings_fixture(database_url: str, tmp_path: Path) -> Settings:
    return Settings(database_url=database_url, signing_key=tmp_path / "key.pem")


@pytest.fixture(name="demo")
def demo_fixture(timeline: Timeline) -> Timeline:
    load_demo(timeline)
    return timeline


def narrowing_position(timeline: Timeline) -> int:
    """The log position of the 13 March narrowing (the policy's third event)."""
    [found] = [
        e.position
        for e in timeline.iter_log()
        if e.kind == "policy" and e.fact.version == 3 and e.fact.data.get("slug") is None
    ]
    return found


def seed_bundle(timeline: Timeline) -> dict[str, Any]:
    """The seed's story: Hate Speech on 11 March, as known right before the narrowing."""
    before = narrowing_position(timeline) - 1
    return evidence.build(timeline, "policy", POLICY, VALID_AT, known_at_position=before)


def verify_in_fresh_process(path: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    """`timeline verify-evidence` with no database reachable (a URL that cannot exist)."""
    environment = os.environ | {"TIMELINE_DATABASE_URL": "sqlite:////nonexistent/none.db"}
    return subprocess.run(
        [TIMELINE_CLI, "verify-evidence", str(path), *arguments],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
        check=False,
    )


def test_the_seed_bundle_answers_the_twelve_country_allowance_by_the_reference_fold(
    demo: Timeline,
) -> None:
    bundle = seed_bundle(demo)
    [allowance] = [c for c in bundle["answer"]["clauses"] if c["id"] == ALLOWANCE_CLAUSE]
    assert allowance["scope"] == ALLOWANCE_SCOPE
    assert [e["version"] for e in bundle["events"]] == [1, 2]
    assert bundle["head"]["position"] == narrowing_position(demo) - 1
    facts = demo.facts_of("policy", POLICY)[:2]
    expected = state_at(RULES["policy"], facts, VALID_AT, parse_instant("k", "9999-01-01T00:00Z"))
    assert bundle["answer"] == to_json(expected)
    reuters = [s for e in bundle["events"] for s in e["sources"] if s["publisher"] == "Reuters"]
    assert reuters and reuters[0]["quote"] == "spirit-of-the-policy allowance"
    assert reuters[0]["url"].startswith("https://www.reuters.com/")


def test_the_seed_bundle_verifies_offline_in_a_fresh_process_with_no_database(
    demo: Timeline, tmp_path: Path
) -> None:
    path = tmp_path / "bundle.json"
    path.write_text(evidence.dumps(seed_bundle(demo)))
    done = verify_in_fresh_process(path)
    assert done.returncode == 0, done.stderr
    assert "ok: verified (2 events)" in done.stdout
    script = (
        "import json, sys; from timeline import evidence_check as c; "
        f"v = c.verify_bundle(json.load(open({str(path)!r}))); "
        "loaded = [m for m in ('sqlalchemy', 'psycopg', 'eventsourcing.persistence', "
        "'timeline.settings', 'fastapi') if m in sys.modules]; "
        "print(json.dumps([v.ok, v.failures, loaded]))"
    )
    checked = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    assert json.loads(checked.stdout) == [True, [], []]


def _change_answer(b: dict[str, Any]) -> None:
    [allowance] = [c for c in b["answer"]["clauses"] if c["id"] == ALLOWANCE_CLAUSE]
    allowance["scope"] = ["UA"]


def _change_payload(b: dict[str, Any]) -> None:
    b["events"][1]["payload"] = b["events"][1]["payload"].replace('"RU"', '"RS"')


def _change_proof(b: dict[str, Any]) -> None:
    path = b["events"][0]["path"]
    path[0] = ("0" if path[0][0] != "0" else "1") + path[0][1:]


def _change_signature(b: dict[str, Any]) -> None:
    signature = bytearray(b["head"]["signature"].encode())
    signature[5] = ord("A") if signature[5] != ord("A") else ord("B")
    b["head"]["signature"] = signature.decode()


def _change_leaf(b: dict[str, Any]) -> None:
    b["events"][0]["leaf"] = b["events"][0]["leaf"].replace('"version":1', '"version":7')


def _change_root(b: dict[str, Any]) -> None:
    b["head"]["rootHash"] = "00" + b["head"]["rootHash"][2:]


def _drop_event(b: dict[str, Any]) -> None:
    del b["events"][1]


def _change_source(b: dict[str, Any]) -> None:
    b["events"][1]["sources"][0]["url"] = "https://example.org/forged"


TAMPERING: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "answer": (_change_answer, "answer: "),
    "event payload": (_change_payload, "events[1] (position "),
    "proof": (_change_proof, "events[0] (position"),
    "signature": (_change_signature, "head.signature: "),
    "leaf": (_change_leaf, "events[0] (position"),
    "root": (_change_root, "head.checkpoint"),
    "dropped event": (_drop_event, "answer: "),
    "described source": (_change_source, "events: "),
}


@pytest.mark.parametrize("part", sorted(TAMPERING))
def test_changing_any_part_of_the_bundle_fails_naming_it(demo: Timeline, part: str) -> None:
    bundle = json.loads(evidence.dumps(seed_bundle(demo)))
    assert evidence_check.verify_bundle(bundle).ok
    change, named = TAMPERING[part]
    changed = copy.deepcopy(bundle)
    change(changed)
    verdict = evidence_check.verify_bundle(changed)
    assert not verdict.ok
    assert any(f.startswith(named) for f in verdict.failures), verdict.failures


def test_the_cli_exits_5_naming_the_part_and_checks_the_trusted_key(
    demo: Timeline, tmp_path: Path
) -> None:
    bundle = seed_bundle(demo)
    changed = copy.deepcopy(bundle)
    _change_payload(changed)
    path = tmp_path / "changed.json"
    path.write_text(evidence.dumps(changed))
    done = verify_in_fresh_process(path)
    assert done.returncode == 5
    assert "error: events[1] (position" in done.stderr and "payloadDigest" in done.stderr

    good = tmp_path / "bundle.json"
    good.write_text(evidence.dumps(bundle))
    assert verify_in_fresh_process(good, "--key", bundle["key"]["publicKey"]).returncode == 0
    (tmp_path / "key.pem.pub").write_text(bundle["key"]["publicKeyPem"])
    assert verify_in_fresh_process(good, "--key", str(tmp_path / "key.pem.pub")).returncode == 0
    other = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    (tmp_path / "other.json").write_text(json.dumps({"publicKey": _b64(other)}))
    refused = verify_in_fresh_process(good, "--key", str(tmp_path / "other.json"))
    assert refused.returncode == 5
    assert "error: key: " in refused.stderr and "head.signature" in refused.stderr


def _b64(raw: bytes) -> str:
    import base64

    return base64.b64encode(raw).decode()


def test_not_json_is_refused_with_exit_1(tmp_path: Path) -> None:
    path = tmp_path / "bundle.json"
    path.write_text("{not json")
    done = verify_in_fresh_process(path)
    assert done.returncode == 1 and "BUNDLE" in done.stderr


def test_a_correction_is_bundled_with_the_event_it_corrects_and_the_answer_follows_it(
    demo: Timeline,
) -> None:
    demo.correct_event(
        {
            "event": f"regulatory-action:{INSTAGRAM_RESTRICTION}@1",
            "changes": {"summary": "Corrected summary of the restriction."},
            "reason": "a clearer summary",
            "sources": [],
        }
    )
    bundle = evidence.build(
        demo, "regulatory-action", INSTAGRAM_RESTRICTION, parse_instant("v", "2022-03-14T12:00Z")
    )
    assert evidence_check.verify_bundle(json.loads(evidence.dumps(bundle))).ok
    assert bundle["answer"]["summary"] == "Corrected summary of the restriction."
    assert bundle["answer"]["status"] == "IN_EFFECT"
    corrected, correction = bundle["events"][0], bundle["events"][-1]
    assert correction["type"] == "EventCorrected" and correction["target"] == 1
    assert corrected["correctedBy"] == [correction["version"]]
    html = evidence_report.render(bundle)
    assert "Corrected by" in html and bundle["citation"] in html and "<script" not in html


def test_bundles_refuse_both_bases_unknown_kinds_and_names(demo: Timeline) -> None:
    known_at = parse_instant("k", "2030-01-01T00:00Z")
    with pytest.raises(InvalidInput) as both:
        evidence.build(demo, "policy", POLICY, VALID_AT, known_at, 3)
    assert both.value.field == "knownAtPosition"
    with pytest.raises(InvalidInput) as kind:
        evidence.build(demo, "actor", "meta", VALID_AT)
    assert kind.value.field == "kind"
    with pytest.raises(InvalidInput) as slug:
        evidence.build(demo, "policy", "Not A Slug", VALID_AT)
    assert slug.value.field == "id"
    with pytest.raises(NotFound):
        evidence.build(demo, "policy", "meta/no-such-policy", VALID_AT)
    with pytest.raises(NotYetKnown) as early:  # it exists, but not yet at position 1
        evidence.build(demo, "policy", POLICY, VALID_AT, known_at_position=1)
    assert "not yet recorded at knownAtPosition 1" in str(early.value)


def test_every_stored_event_reads_into_the_same_fact_offline_as_through_the_event_store(
    demo: Timeline,
) -> None:
    events = eventstore.events_table(demo.recorder)
    with demo.engine.connect() as connection:
        rows = connection.execute(select(events).order_by(events.c.id)).all()
    assert rows
    for row in rows:
        stored = StoredEvent(row.originator_id, row.originator_version, row.topic, row.state)
        offline = Fact.from_stored(
            row.originator_id, row.originator_version, row.topic, bytes(row.state)
        )
        assert offline == Fact.from_event(demo.mapper.to_domain_event(stored))


def test_a_later_bundle_is_proved_consistent_with_an_earlier_one(
    demo: Timeline, settings: Settings, tmp_path: Path
) -> None:
    old = tmp_path / "old.json"
    old.write_text(evidence.dumps(seed_bundle(demo)))
    new = tmp_path / "new.json"
    new.write_text(evidence.dumps(evidence.build(demo, "policy", POLICY, VALID_AT)))
    environment = os.environ | {
        "TIMELINE_DATABASE_URL": settings.database_url,
        "TIMELINE_SIGNING_KEY": str(settings.signing_key),
    }
    done = subprocess.run(
        [TIMELINE_CLI, "verify-evidence", str(new), "--consistent-with", str(old)],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    forged = json.loads(old.read_text())
    forged["head"]["rootHash"] = "11" * 32
    old.write_text(json.dumps(forged))
    refused = subprocess.run(
        [TIMELINE_CLI, "verify-evidence", str(new), "--consistent-with", str(old)],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
        check=False,
    )
    assert refused.returncode == 5
    assert "old head.checkpoint" in refused.stderr and "consistency proof" in refused.stderr


def test_a_statement_bundle_verifies_and_answers_the_statement(demo: Timeline) -> None:
    [slug] = [
        e.fact.data["slug"]
        for e in demo.iter_log()
        if e.kind == "statement" and e.fact.data.get("actor") == "nick-clegg"
    ]
    bundle = evidence.build(demo, "statement", slug, parse_instant("v", "2022-03-12T12:00Z"))
    assert evidence_check.verify_bundle(json.loads(evidence.dumps(bundle))).ok
    assert bundle["answer"]["actor"] == "nick-clegg"
    assert bundle["answer"]["in_response_to"] == [f"policy:{POLICY}@2"]
    before = evidence.build(demo, "statement", slug, parse_instant("v", "2022-03-01T00:00Z"))
    assert before["answer"] is None and evidence_check.verify_bundle(before).ok


def test_the_cli_writes_the_bundle_and_report_and_refuses_bad_input_naming_it(
    demo: Timeline, settings: Settings, tmp_path: Path
) -> None:
    environment = os.environ | {
        "TIMELINE_DATABASE_URL": settings.database_url,
        "TIMELINE_SIGNING_KEY": str(settings.signing_key),
    }
    before = str(narrowing_position(demo) - 1)

    def run(*arguments: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [TIMELINE_CLI, "evidence", *arguments],
            capture_output=True,
            text=True,
            env=environment,
            timeout=120,
            check=False,
        )

    bundle, report = tmp_path / "bundle.json", tmp_path / "report.html"
    asked = ["--valid-at", "2022-03-11T12:00:00+03:00", "-o", str(bundle)]
    done = run("policy", POLICY, *asked, "--position", before, "--html", str(report))
    assert done.returncode == 0, done.stderr
    written = json.loads(bundle.read_text())
    assert done.stdout.strip() == written["citation"]
    assert written == seed_bundle(demo)
    html = report.read_text()
    assert "Text in force" in html and "spirit-of-the-policy allowance" in html
    assert "SK, UA" in html and "<script" not in html and "http://" not in html.split("<body")[0]
    assert verify_in_fresh_process(bundle).returncode == 0
    for arguments, named in (
        (["actor", "meta", *asked], "KIND"),
        (["policy", "Bad Slug", *asked], "ID"),
        (["policy", POLICY, *asked, "--position", "3", "--known-at", "now"], "--position"),
        (["policy", POLICY, "--valid-at", "11 March", "-o", str(bundle)], "--valid-at"),
    ):
        refused = run(*arguments)
        assert refused.returncode == 1 and f"error: {named}" in refused.stderr, refused.stderr


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if prefix:
        yield prefix
    if isinstance(value, dict | list):
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, inner in items:
            yield from _paths(inner, (*prefix, key))


#: Fields the verifier does not hold to anything: the note repeats the signed checkpoint for
#: other tools; the question's position is the service's statement of which head it asked.
UNCHECKED = {("head", "note"), ("question", "knownAtPosition")}


def test_any_field_replaced_by_a_value_of_any_type_fails_naming_a_part_never_raising(
    demo: Timeline,
) -> None:
    bundle = json.loads(evidence.dumps(seed_bundle(demo)))
    replacements = [None, 0, -1, "x", [], {}, ["zz"], True, "00" * 32]
    for path in _paths(bundle):
        if path[:2] in UNCHECKED:
            continue
        for replacement in replacements:
            changed = copy.deepcopy(bundle)
            holder = changed
            for key in path[:-1]:
                holder = holder[key]
            if holder[path[-1]] == replacement:
                continue
            holder[path[-1]] = replacement
            verdict = evidence_check.verify_bundle(changed)
            assert not verdict.ok, (path, replacement)
            assert all(": " in f for f in verdict.failures), verdict.failures
