"""Hypothesis against the mutations of a running server, on SQLite and PostgreSQL: start from a
valid input of each command and replace one field with an adversarial value (arbitrary and
huge texts, unicode and NUL, instants far in the past and future or without an offset,
numbers out of range, long lists, null). Each is either stored whole (one new event that reads
back) or refused with a code naming the field, with nothing stored; never a 500."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_api_server import ApiServer, serve
from test_security import post

from timeline.settings import Settings

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CODES = {"BAD_INPUT", "NOT_FOUND", "CONFLICT"}
EXAMPLES = 60
T0 = "2022-03-01T00:00:00+00:00"
_fresh = itertools.count()

#: Command name -> (input type, a valid input; "{n}" makes a fresh slug for creations).
TEMPLATES: dict[str, tuple[str, dict[str, Any]]] = {
    "registerActor": (
        "RegisterActorInput",
        {
            "id": "fuzz-actor-{n}",
            "name": "Actor",
            "kind": "organisation",
            "effectiveAt": T0,
            "parent": "meta",
        },
    ),
    "renameActor": (
        "RenameActorInput",
        {"id": "meta", "name": "Meta Platforms, Inc.", "effectiveAt": T0},
    ),
    "announcePolicy": (
        "AnnouncePolicyInput",
        {
            "id": "meta/fuzz-{n}",
            "title": "Policy",
            "owner": "meta",
            "summary": "s",
            "effectiveAt": T0,
            "announcedAt": T0,
            "clauses": [
                {
                    "id": "c1",
                    "heading": "h",
                    "text": "t",
                    "scope": ["UA"],
                    "expiresAt": "2023-01-01T00:00:00Z",
                }
            ],
            "sources": [{"url": "https://example.org/a", "title": "a"}],
        },
    ),
    "revisePolicy": (
        "RevisePolicyInput",
        {
            "id": "meta/hate-speech",
            "effectiveAt": "2022-03-10T00:00:00Z",
            "title": "Hate Speech {n}",  # a new title each time: a no-op revision is refused
            "summary": "revised",
        },
    ),
    "announceRegulatoryAction": (
        "AnnounceRegulatoryActionInput",
        {
            "id": "roskomnadzor/fuzz-{n}",
            "authority": "roskomnadzor",
            "jurisdiction": "RU",
            "kind": "restriction",
            "targets": ["meta"],
            "effectiveAt": T0,
            "summary": "s",
            "text": "t",
            "inResponseTo": ["policy:meta/hate-speech"],
        },
    ),
    "recordStatement": (
        "RecordStatementInput",
        {
            "id": "meta/fuzz-statement-{n}",
            "actor": "meta",
            "text": "t",
            "kind": "post",
            "effectiveAt": T0,
        },
    ),
    "correctEvent": (
        "CorrectEventInput",
        {
            "event": "policy:meta/hate-speech@1",
            "changes": {"summary": "corrected"},
            "reason": "typo",
        },
    ),
}

HUGE = st.integers(min_value=1_000, max_value=300_000).flatmap(
    lambda n: st.sampled_from(["x", "é", "\u202e", "\U0001d54f", " "]).map(lambda ch: ch * n)
)
INSTANTS = st.one_of(
    st.sampled_from(
        [
            "2022-03-11T00:00:00",
            "2022-03-11",
            "0001-01-01T00:00:00+14:00",
            "9999-12-31T23:59:59-12:00",
            "2022-02-30T00:00:00Z",
            "now",
            "",
        ]
    ),
    st.datetimes(
        min_value=datetime(1, 1, 2),
        max_value=datetime(9999, 12, 30),
        timezones=st.none() | st.timezones(),
    ).map(datetime.isoformat),
)
VALUES: st.SearchStrategy[Any] = st.one_of(
    st.text(max_size=60),
    HUGE,
    INSTANTS,
    st.none(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.lists(st.text(max_size=8), max_size=400),
    st.just("\x00"),
    st.just("'; DROP TABLE timeline_events; --"),
    st.dictionaries(st.text(max_size=12), st.text(max_size=12), max_size=4),
)


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, str, dict[str, Any], str]:
    """(command, input type, input with one field replaced, the replaced field)."""
    name = draw(st.sampled_from(sorted(TEMPLATES)))
    input_type, template = TEMPLATES[name]
    data = {k: (v.format(n=next(_fresh)) if isinstance(v, str) else v) for k, v in template.items()}
    field = draw(st.sampled_from([*sorted(data), "expectedVersion", "idempotencyKey"]))
    data[field] = draw(VALUES)
    return name, input_type, data, field


@pytest.fixture(name="api")
def api_fixture(database_url: str) -> Iterator[ApiServer]:
    with serve(Settings(database_url=database_url)) as api:
        timeline = api.services.timeline
        for slug, kind in (("meta", "platform"), ("roskomnadzor", "authority")):
            timeline.register_actor({"id": slug, "name": slug, "kind": kind, "effective_at": T0})
        timeline.announce_policy(
            {
                "id": "meta/hate-speech",
                "title": "Hate Speech",
                "owner": "meta",
                "effective_at": T0,
                "clauses": [{"id": "c1", "text": "No attacks."}],
            }
        )
        yield api


def test_mutated_commands_are_stored_whole_or_refused_naming_the_field(api: ApiServer) -> None:
    timeline = api.services.timeline
    seen = {"accepted": 0, "refused": 0}

    @settings(
        max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(mutated())
    def run(example: tuple[str, str, dict[str, Any], str]) -> None:
        name, input_type, data, field = example
        before = timeline.head_position()
        body = post(
            api,
            f"mutation($i: {input_type}!) {{ {name}(input: $i) {{ id position }} }}",
            {"i": data},
            api.write_token,
        )
        errors = body.get("errors") or []
        after = timeline.head_position()
        if errors:
            seen["refused"] += 1
            assert after == before, (name, field, "a refused command stored an event")
            for error in errors:
                assert error["extensions"]["code"] in CODES, (name, field, error)
                assert error["message"], (name, field, error)
                if error["extensions"]["code"] == "BAD_INPUT":
                    assert error["extensions"].get("field"), (name, field, error)
        else:
            seen["accepted"] += 1
            position = body["data"][name]["position"]
            assert after == position > before, (name, field)
            logged = timeline.log(before, 10)
            assert [entry.position for entry in logged] == [position]

    run()
    assert seen["refused"] > 0 and seen["accepted"] > 0, seen
