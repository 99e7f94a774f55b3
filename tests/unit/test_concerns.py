"""What a fact concerns (`domain.concerns`): the one rule of the feed and the event streams."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

from domain import Fact
from domain.concerns import concerns_in_log

AGGREGATE = uuid4()


def fact(version: int, type_: str, day: int, **data: Any) -> Fact:
    at = datetime(2022, 3, day, tzinfo=UTC)
    return Fact(AGGREGATE, version, type_, at, at, at, data)


def clause(clause_id: str, *scope: str) -> dict[str, Any]:
    return {"id": clause_id, "text": clause_id, "scope": list(scope)}


STORY = [
    fact(
        1,
        "PolicyAnnounced",
        1,
        slug="meta/p",
        title="P",
        owner="meta",
        summary="",
        sources=[],
        clauses=[clause("ru", "RU")],
    ),
    fact(2, "PolicyRevised", 2, remove_clauses=["ru"]),
    fact(3, "PolicyRevised", 3, add_clauses=[clause("ua", "UA")]),
]


def test_a_revision_concerns_the_jurisdictions_of_the_clauses_it_touches_only() -> None:
    found = [concerns_in_log("policy", "meta/p", STORY[:n]) for n in (1, 2, 3)]
    assert [c.jurisdictions for c in found] == [("RU",), ("RU",), ("UA",)]
    assert all(c.actors == ("meta",) and c.policies == ("meta/p",) for c in found)


def test_a_correction_concerns_its_target_before_and_after_it() -> None:
    corrected = fact(
        4, "EventCorrected", 4, target=3, changes={"add_clauses": [clause("ua", "PL")]}
    )
    assert concerns_in_log("policy", "meta/p", [*STORY, corrected]).jurisdictions == ("UA", "PL")
    retracted = fact(4, "EventRetracted", 4, target=3, reason="wrong")
    assert concerns_in_log("policy", "meta/p", [*STORY, retracted]).jurisdictions == ("UA",)
