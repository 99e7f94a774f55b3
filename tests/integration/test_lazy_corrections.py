"""A looked-up policy version's corrections are read when first asked (issue 14), on SQLite and
PostgreSQL: at the position its lookup stood at, so that a correction recorded after the lookup
is not in that lookup's list, and every comparison sees the same value as an eager read."""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from factories import correction

from projections import models as m
from projections import queries as q
from timeline import proofs
from timeline.bootstrap import Services, bootstrap
from timeline.demo import POLICY, load_demo
from timeline.settings import Settings

VALID = datetime.fromisoformat("2022-03-14T12:00:00+00:00")


def corrected(demo: Services, version: int, reason: str) -> None:
    demo.timeline.correct_event(
        correction(f"policy:{POLICY}@{version}", reason=reason, summary=f"Corrected: {reason}")
    )
    demo.projections.catch_up()


@pytest.fixture
def demo(database_url: str) -> Iterator[Services]:
    """The demo with one correction of the policy's second event, recorded last."""
    built = bootstrap(Settings(database_url=database_url))
    try:
        load_demo(built.timeline)
        corrected(built, 2, "first")
        yield built
    finally:
        built.close()


def test_a_correction_recorded_after_a_lookup_is_not_in_its_list(demo: Services) -> None:
    engine = demo.timeline.engine
    for known_at in (None, q.NOW, datetime.now(UTC)):  # by position (2-D), by instant (B-tree)
        looked_up = q.policy_at(engine, POLICY, VALID, known_at)
        assert looked_up is not None
        assert [c.reason for c in looked_up.corrected_by] == ["first"]
    looked_up = q.policy_at(engine, POLICY, VALID, q.NOW)
    assert looked_up is not None and m.pending(looked_up)
    corrected(demo, 2, "second")
    assert m.pending(looked_up)
    assert [c.reason for c in looked_up.corrected_by] == ["first"]  # as at its lookup
    assert not m.pending(looked_up)
    again = q.policy_at(engine, POLICY, VALID, q.NOW)
    assert again is not None
    assert [c.reason for c in again.corrected_by] == ["first", "second"]
    by_instant = q.policy_at(engine, POLICY, VALID, datetime.now(UTC))  # the B-tree: eager
    assert by_instant is not None and not m.pending(by_instant)
    assert by_instant.corrected_by == again.corrected_by


def test_equality_hash_repr_and_pickle_load_the_list(demo: Services) -> None:
    engine = demo.timeline.engine

    def fresh() -> m.PolicyVersion:
        found = q.policy_at(engine, POLICY, VALID, q.NOW)
        assert found is not None and m.pending(found)
        return found

    reference = q.policy_at(engine, POLICY, VALID, datetime.now(UTC))  # by instant: eager
    assert reference is not None and reference.corrected_by
    assert reference.known_to is None
    assert fresh() == reference and reference == fresh()
    assert hash(fresh()) == hash(reference)
    assert repr(fresh()) == repr(reference)
    found = fresh()
    thawed = pickle.loads(pickle.dumps(found))
    assert not m.pending(found) and not m.pending(thawed)
    assert thawed == reference and thawed.corrected_by == reference.corrected_by
    assert replace(fresh(), title="x").corrected_by == reference.corrected_by
    with pytest.raises(AttributeError):
        fresh().corrected_by = ()  # type: ignore[misc]  # still frozen


def test_corrections_at_reads_the_list_at_a_position(demo: Services) -> None:
    engine = demo.timeline.engine
    now = q.policy_at(engine, POLICY, VALID, q.NOW)
    assert now is not None
    head = proofs.position_for(engine)  # the correction's position
    assert q.corrections_at(engine, POLICY, now.valid_from, q.NOW) == now.corrected_by
    assert [c.reason for c in q.corrections_at(engine, POLICY, now.valid_from, head)] == ["first"]
    assert q.corrections_at(engine, POLICY, now.valid_from, head - 1) == ()
    before = q.policy_at(engine, POLICY, VALID, head - 1)
    assert before is not None and before.corrected_by == ()
