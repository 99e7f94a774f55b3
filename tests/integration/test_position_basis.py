"""The position basis (issue 16 item 1), on SQLite and PostgreSQL: an answer read right after
log position N never changes whatever is recorded later, and a knownAt instant answers as the
position it resolves to (timeline.proofs.position_for)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from factories import correction, retraction
from sqlalchemy import Engine, create_engine, select

from domain.errors import InvalidInput
from projections import queries as q
from timeline import proofs
from timeline.bootstrap import Services, bootstrap
from timeline.demo import INSTAGRAM_RESTRICTION, POLICY, load_demo
from timeline.integrity import log_leaves
from timeline.settings import Settings

VALID = [datetime.fromisoformat(f"2022-03-{day}T12:00:00+00:00") for day in ("08", "11", "14")]


@pytest.fixture
def demo(database_url: str) -> Iterator[Services]:
    built = bootstrap(Settings(database_url=database_url))
    try:
        load_demo(built.timeline)
        built.projections.catch_up()
        yield built
    finally:
        built.close()


def answers(engine: Engine, known_at: datetime | int) -> list[Any]:
    """Every kind of point-in-time read on the demo, on one record-time basis."""
    found: list[Any] = [q.policy_history(engine, POLICY, known_at)]
    found.append(q.regulatory_action_history(engine, INSTAGRAM_RESTRICTION, known_at))
    found.append(q.timeline_page(engine, known_at=known_at, first=200).items)
    found.append(q.list_statements(engine, known_at, first=200).items)
    for valid_at in VALID:
        found.append(q.policy_at(engine, POLICY, valid_at, known_at))
        found.append(q.list_policies(engine, valid_at, known_at).items)
        found.append(q.regulatory_action_at(engine, INSTAGRAM_RESTRICTION, valid_at, known_at))
        found.append(q.list_actors(engine, valid_at, known_at, first=200).items)
        found.append(q.responses_to(engine, [POLICY], valid_at, known_at))
        found.append(q.policy_on(engine, POLICY, valid_at.date(), "Europe/Moscow", known_at))
    return found


def leaves(engine: Engine) -> list[tuple[int, datetime]]:
    """(position, recordedAt) of every event in the log, in order."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(log_leaves.c.position, log_leaves.c.recorded_at).order_by(log_leaves.c.position)
        ).all()
    return [(int(p), at if at.tzinfo else at.replace(tzinfo=UTC)) for p, at in rows]


def test_answers_by_position_never_change_when_more_is_recorded(demo: Services) -> None:
    engine = demo.timeline.engine
    positions = [0, *(p for p, _ in leaves(engine))]
    before = {p: answers(engine, p) for p in positions}
    head = positions[-1]
    assert before[0] == answers(engine, 0) and before[0][0] == []  # nothing before the log
    demo.timeline.correct_event(
        correction(f"policy:{POLICY}@2", effectiveAt="2022-03-08T00:00:00+00:00")
    )
    demo.timeline.retract_event(retraction(f"policy:{POLICY}@3"))
    demo.projections.catch_up()
    later = proofs.position_for(engine)
    assert later > head
    for position in positions:
        assert answers(engine, position) == before[position], position
    # ...while the answer now shows what was recorded since.
    assert answers(engine, later) != before[head]
    assert answers(engine, later) == answers(engine, q.NOW)


def test_known_at_answers_as_the_position_it_resolves_to(demo: Services) -> None:
    engine = demo.timeline.engine
    demo.timeline.correct_event(
        correction(f"policy:{POLICY}@2", effectiveAt="2022-03-08T00:00:00+00:00")
    )
    demo.projections.catch_up()
    for position, recorded_at in leaves(engine):
        assert proofs.position_for(engine, known_at=recorded_at) == position
        # by the rows' timestamps (the fold's own axis) and by position: one answer
        assert answers(engine, recorded_at) == answers(engine, position), position


def test_the_basis_is_refused_when_it_is_ambiguous_negative_or_beyond_the_head(
    demo: Services,
) -> None:
    engine = demo.timeline.engine
    head = proofs.position_for(engine)
    assert proofs.position_for(engine, known_at_position=head) == head
    refused: dict[str, Callable[[], object]] = {
        "both": lambda: proofs.position_for(engine, VALID[0], 1),
        "negative": lambda: proofs.position_for(engine, known_at_position=-1),
        "beyond": lambda: proofs.position_for(engine, known_at_position=head + 1),
        "negative in a query": lambda: q.policy_at(engine, POLICY, VALID[0], -1),
    }
    for name, call in refused.items():
        with pytest.raises(InvalidInput) as error:
            call()
        assert error.value.field == "knownAtPosition", name


def test_a_lookup_on_the_drivers_cursor_answers_as_sqlalchemy_and_leaves_the_pool_as_it_was(
    demo: Services,
) -> None:
    """policy_at by position reads on the DBAPI cursor of a pooled connection (on PostgreSQL
    in autocommit): the answers are the general path's, and the connection goes back to the
    pool in a transaction as any other (a write after it can still be rolled back)."""
    engine = demo.timeline.engine
    head = proofs.position_for(engine)
    for valid_at in VALID:
        fast = q.policy_at(engine, POLICY, valid_at, head)
        assert fast == q.policies_at(engine, [POLICY, "no/such-policy"], valid_at, head)[POLICY]
        # an action by position goes through the 2-D index too, a batch through the B-tree
        action = q.regulatory_action_at(engine, INSTAGRAM_RESTRICTION, valid_at, head)
        batch = q.regulatory_actions_at(engine, [INSTAGRAM_RESTRICTION, "no/such"], valid_at, head)
        assert action == batch.get(INSTAGRAM_RESTRICTION)
    with engine.connect() as connection:
        driver: Any = connection.connection.driver_connection
        if engine.dialect.name == "postgresql":
            assert driver.autocommit is False
        before = connection.execute(select(q.t.texts.c.ref)).all()
        connection.execute(q.t.texts.insert().values(ref="0" * 32, body="{}"))  # a hex digest
        connection.rollback()
        assert connection.execute(select(q.t.texts.c.ref)).all() == before


def test_a_lookup_on_a_connection_the_server_dropped_is_asked_again(
    demo: Services, database_url: str
) -> None:
    """The lookup's driver cursor bypasses SQLAlchemy's disconnect handling, so a dropped
    pooled connection (a PostgreSQL restart, say) is discarded and the lookup asked once
    more through SQLAlchemy, which answers once the database is back."""
    if not database_url.startswith("postgres"):
        pytest.skip("a server to drop the connection")
    engine = create_engine(demo.timeline.engine.url, pool_size=1, max_overflow=0)
    try:
        head = proofs.position_for(demo.timeline.engine)
        expected = q.policy_at(engine, POLICY, VALID[1], head)
        with engine.connect() as connection:
            pid = connection.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        with demo.timeline.engine.connect() as other:
            other.exec_driver_sql(f"SELECT pg_terminate_backend({int(pid)})")
        assert q.policy_at(engine, POLICY, VALID[1], head) == expected
    finally:
        engine.dispose()
