"""Property test: ONE policy with a long history, full of retroactive revisions, corrections
and retractions, written through the real application; every point-in-time answer of the
projection equals the oracle (domain/fold.py), on SQLite and on PostgreSQL, and a rebuild
from the log answers the same. This is where the projector's refold stops early (issue 14)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from test_projection_oracle import (
    BASE,
    TICK,
    History,
    check_feed,
    check_policy,
    iso,
    services,
    write,
)

from projections import queries as q
from projections.runner import ProjectionRunner
from timeline.bootstrap import Services

__all__ = ["services"]  # the fixture, shared with the oracle test

CLAUSES = ("c0", "c1", "c2", "c3")
#: Hours after BASE: the policy's life runs over about a month, revisions mostly forward.
hours = st.integers(0, 720)


@st.composite
def long_command(draw: st.DrawFn, history: History, latest: list[int]) -> tuple[str, Any]:
    """One command on the policy: a forward revision (most), a retroactive one (anywhere in
    its past), a correction (of an instant or a summary) or a retraction of an earlier fact."""
    slug = history.slug("p")
    step = draw(st.sampled_from(["forward"] * 5 + ["retro"] * 3 + ["correct"] * 2 + ["retract"]))
    if step in ("forward", "retro"):
        if step == "forward":
            latest[0] += draw(st.integers(0, 24))
            at = latest[0]
        else:
            at = draw(st.integers(0, max(latest[0], 0)))
        when = BASE + timedelta(hours=at, minutes=draw(st.integers(0, 59)))
        data: dict[str, Any] = {"id": slug, "effectiveAt": iso(when), "summary": f"s{at}"}
        change = draw(st.sampled_from(["amend"] * 4 + ["title", "add", "remove"]))
        clause = draw(st.sampled_from([*CLAUSES, "n1"]))
        if change == "amend":
            data["amendClauses"] = [{"id": clause, "text": draw(st.sampled_from("xyzw"))}]
        elif change == "title":
            data["title"] = draw(st.sampled_from(["P", "Q", "R"]))
        elif change == "add":
            data["addClauses"] = [{"id": clause, "text": "new", "scope": ["RU"]}]
        else:
            data["removeClauses"] = [clause]
        return "revise_policy", data
    known = history.versions.get(("policy", slug), 0)
    if known < 2:
        return "skip", {}
    target = f"policy:{slug}@{draw(st.integers(1, known))}"
    if step == "retract":
        return "retract_event", {"event": target, "reason": "wrong"}
    moved = BASE + timedelta(hours=draw(st.integers(0, max(latest[0], 0))))
    changes = draw(st.sampled_from([{"effectiveAt": iso(moved)}, {"summary": "fixed"}]))
    return "correct_event", {"event": target, "changes": changes, "reason": "typo"}


@pytest.mark.slow
@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_a_long_history_of_one_policy_answers_as_the_oracle(
    services: Services, data: st.DataObject
) -> None:
    history = History(prefix=f"l{uuid.uuid4().hex[:10]}")
    write(
        services,
        history,
        "announce_policy",
        {
            "id": history.slug("p"),
            "title": "P",
            "owner": "meta",
            "clauses": [{"id": c, "text": "v0", "scope": []} for c in CLAUSES],
            "effectiveAt": iso(BASE),
        },
    )
    latest = [0]
    for _ in range(data.draw(st.integers(40, 100), label="commands")):
        name, body = data.draw(long_command(history, latest), label="command")
        write(services, history, name, body)
        catch_up = data.draw(
            st.sampled_from(["later"] * 3 + ["now", "in a restarted runner"]), label="catch up"
        )
        if catch_up == "now":
            services.projections.catch_up()
        elif catch_up == "in a restarted runner":  # reloads its memo from the tables
            ProjectionRunner(services.timeline.engine, services.timeline).catch_up()
    services.projections.catch_up()
    event(f"{len(history.recorded)} events stored")
    recorded = sorted(history.recorded)
    candidates = sorted({*recorded, *(r - TICK for r in recorded), datetime.now(UTC)})
    known_ats = data.draw(
        st.lists(st.sampled_from(candidates), min_size=1, max_size=3, unique=True), label="knownAt"
    )
    days = [(date(2022, 3, data.draw(st.integers(1, 28), label="day")), "UTC")]
    slug = history.slug("p")
    check_policy(services, slug, known_ats, days)
    for known_at in known_ats:
        check_feed(services, history, known_at)
    engine = services.timeline.engine
    before = [q.policy_history(engine, slug, known_at) for known_at in known_ats]
    services.projections.rebuild()
    assert [q.policy_history(engine, slug, known_at) for known_at in known_ats] == before
