"""The pure half of the projector: an aggregate's facts in, the rows it should hold out."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

from domain import Fact, believe
from projections.rows import cited_policies, dumps, feed_rows, version_rows

AGGREGATE = uuid4()
RECORDED = datetime(2022, 3, 20, tzinfo=UTC)


def fact(version: int, type_: str, effective: str, **data: Any) -> Fact:
    at = datetime.fromisoformat(effective)
    return Fact(
        aggregate_id=AGGREGATE,
        version=version,
        type=type_,
        recorded_at=RECORDED,
        effective_at=at,
        announced_at=at,
        data=data,
    )


ANNOUNCED = fact(
    1,
    "PolicyAnnounced",
    "2022-01-01T00:00:00+00:00",
    slug="meta/hs",
    title="HS",
    owner="meta",
    summary="",
    sources=[],
    clauses=[
        {"id": "a", "text": "x", "scope": ["US"]},
        {"id": "b", "text": "y", "scope": ["RU"], "expires_at": "2022-04-01T00:00:00+00:00"},
    ],
)
REVISED = fact(
    2,
    "PolicyRevised",
    "2022-03-10T00:00:00+00:00",
    title=None,
    summary="narrow",
    sources=[],
    add_clauses=[],
    remove_clauses=[],
    amend_clauses=[{"id": "b", "text": "z"}],
)


def test_versions_split_at_revisions_and_clause_expiry() -> None:
    rows = version_rows("policy", [ANNOUNCED, REVISED])
    frames = [r for r in rows if not r.part]
    assert [(r.valid_from.day, r.valid_to.day if r.valid_to else None) for r in frames] == [
        (1, 10),
        (10, 1),
        (1, None),
    ]
    assert json.loads(frames[-1].state)["changed_by"] == 2
    parts = [
        (r.part, r.valid_from.date().isoformat(), r.valid_to.day if r.valid_to else None)
        for r in rows
        if r.part
    ]
    # Each part has a row over the valid time where it is unchanged: the amendment of b
    # and b's expiry write rows for b alone.
    assert parts == [
        ("clause:a", "2022-01-01", None),
        ("clause:b", "2022-01-01", 10),
        ("clause:b", "2022-03-10", 1),
        ("head", "2022-01-01", None),
    ]
    scopes = {r.part: r.columns["jurisdictions"] for r in rows if r.part.startswith("clause")}
    assert scopes == {"clause:a": ",US,", "clause:b": ",RU,"}


def test_a_revision_concerns_only_the_jurisdictions_of_the_clauses_it_touches() -> None:
    entries = feed_rows("policy", "meta/hs", [ANNOUNCED, REVISED], {1: 10, 2: 11})
    assert [json.loads(e.state)["jurisdictions"] for e in entries] == [["RU", "US"], ["RU"]]
    assert entries[1].tags == ("actor:meta", "jurisdiction:RU", "policy:meta/hs")
    assert [e.position for e in entries] == [10, 11]


def test_a_retracted_fact_has_no_entry_and_a_corrected_one_reads_corrected() -> None:
    correction = Fact(
        AGGREGATE,
        3,
        "EventCorrected",
        RECORDED,
        None,
        None,
        {"target": 2, "changes": {"effective_at": "2022-03-05T00:00:00+00:00"}},
    )
    entries = feed_rows(
        "policy", "meta/hs", believe([ANNOUNCED, REVISED, correction]), {1: 10, 2: 11, 3: 12}
    )
    assert [(e.version, e.effective_at.day) for e in entries] == [(1, 1), (2, 5)]
    retraction = Fact(AGGREGATE, 4, "EventRetracted", RECORDED, None, None, {"target": 2})
    assert [
        e.version
        for e in feed_rows(
            "policy", "meta/hs", believe([ANNOUNCED, REVISED, retraction]), {1: 10, 2: 11, 4: 13}
        )
    ] == [1]


def test_only_policy_references_are_cited_once_each_in_order() -> None:
    assert cited_policies(["policy:a@2", "statement:x", "policy:b", "policy:a", "junk"]) == (
        "a",
        "b",
    )


def test_equal_states_serialize_to_the_same_text_whatever_the_offset() -> None:
    moscow = datetime.fromisoformat("2022-03-14T00:00:00+03:00")
    assert dumps({"b": moscow, "a": (1, 2)}) == dumps({"a": [1, 2], "b": moscow.astimezone(UTC)})
    assert dumps({"b": moscow}) == '{"b":"2022-03-13T21:00:00+00:00"}'
