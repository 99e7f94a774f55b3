"""Property test of the stored revision counter (projections/counter.py, issue 14): ONE policy
with many retroactive revisions, retractions, corrections (of an instant: the fact moves in
the tree; of a summary: it stays, and `counted_at` moves) and expiring clauses (frames that no
fact opens), read by log position, which is the path that reads the stored counter: every
answer at every (validAt, position) equals the oracle's (domain/fold.py) and the answer by the
instant that position was recorded at (the feed's count), knownFrom included."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_position_basis import leaves
from test_projection_long_history import CLAUSES, long_command
from test_projection_oracle import (
    BASE,
    History,
    as_policy_state,
    iso,
    probe_instants,
    services,
    write,
)

from domain import RULES
from domain.fold import state_at
from projections import queries as q
from projections.runner import ProjectionRunner
from timeline.bootstrap import Services

__all__ = ["services"]  # the fixture, shared with the oracle test


@st.composite
def counter_command(draw: st.DrawFn, history: History, latest: list[int]) -> tuple[str, Any]:
    """A command of the long history, or (one in six) a clause that expires by itself."""
    if draw(st.integers(0, 5)) > 0:
        return draw(long_command(history, latest))
    at = draw(st.integers(0, max(latest[0], 0)))
    clause = {"id": f"e{at}", "text": "for a while", "scope": []}
    clause["expiresAt"] = iso(BASE + timedelta(hours=at + draw(st.integers(1, 96))))
    data = {"id": history.slug("p"), "effectiveAt": iso(BASE + timedelta(hours=at))}
    return "revise_policy", {**data, "summary": f"e{at}", "addClauses": [clause]}


@pytest.mark.slow
@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_the_stored_counter_answers_as_the_oracle_at_every_position(
    services: Services, data: st.DataObject
) -> None:
    history = History(prefix=f"c{uuid.uuid4().hex[:10]}")
    slug = history.slug("p")
    write(
        services,
        history,
        "announce_policy",
        {
            "id": slug,
            "title": "P",
            "owner": "meta",
            "clauses": [{"id": c, "text": "v0", "scope": []} for c in CLAUSES],
            "effectiveAt": iso(BASE),
        },
    )
    latest = [0]
    for _ in range(data.draw(st.integers(30, 80), label="commands")):
        name, body = data.draw(counter_command(history, latest), label="command")
        write(services, history, name, body)
        if data.draw(st.integers(0, 9), label="restart") == 0:  # reload the memo's counter
            ProjectionRunner(services.timeline.engine, services.timeline).catch_up()
    services.projections.catch_up()
    engine = services.timeline.engine
    facts = services.timeline.facts_of("policy", slug)
    rules = RULES["policy"]
    # this history's positions (the database holds the earlier examples' too), drawn by
    # index so that the strategy does not depend on how many there are
    positions = [p for p in leaves(engine) if p[1] >= facts[0].recorded_at]
    drawn = data.draw(st.lists(st.integers(0, 10**6), min_size=1, max_size=6), label="at")
    for position, recorded_at in [*(positions[i % len(positions)] for i in drawn), positions[-1]]:
        for valid_at in probe_instants(facts, "policy"):
            found = q.policy_at(engine, slug, valid_at, position)
            assert as_policy_state(found) == state_at(rules, facts, valid_at, recorded_at)
            assert found == q.policy_at(engine, slug, valid_at, recorded_at), (valid_at, position)
