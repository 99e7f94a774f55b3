"""A retroactive change writes rows in proportion to what it changed, not to the number of
later versions (issue 14), counted from the tables on SQLite and PostgreSQL: amending one
clause before 20 or 200 later versions opens and closes the same few rows, and the answers
after it are the oracle's."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from domain import RULES
from domain.fold import state_at
from projections import counter
from projections import queries as q
from projections import tables as t
from projections.runner import ProjectionRunner
from timeline.application import Timeline
from timeline.settings import Settings

START = datetime(2022, 1, 1, tzinfo=UTC)
SLUG = "org/terms"
CLAUSES = [f"c{i}" for i in range(1, 6)]


def tree_nodes(at: datetime) -> int:
    """The nodes of a policy's counter tree a change effective at `at` moves (counter.py)."""
    return len(counter.update_nodes(counter.day(at)))


@pytest.fixture
def app(database_url: str) -> Iterator[Timeline]:
    timeline = Timeline(Settings(database_url=database_url))
    try:
        yield timeline
    finally:
        timeline.close()


def a_policy_with_later_versions(app: Timeline, later: int) -> ProjectionRunner:
    """The announcement, then `later` forward revisions, each amending a clause but c1."""
    app.execute(
        "registerActor",
        {"id": "org", "name": "Org", "kind": "organisation", "effectiveAt": START.isoformat()},
    )
    app.execute(
        "announcePolicy",
        {
            "id": SLUG,
            "title": "Terms",
            "owner": "org",
            "clauses": [{"id": c, "text": f"{c} as announced", "scope": ["RU"]} for c in CLAUSES],
            "effectiveAt": START.isoformat(),
        },
    )
    for n in range(later):
        clause = CLAUSES[1 + n % (len(CLAUSES) - 1)]
        app.execute(
            "revisePolicy",
            {
                "id": SLUG,
                "summary": f"revision {n}",
                "amendClauses": [{"id": clause, "text": f"{clause} as of revision {n}"}],
                "effectiveAt": (START + timedelta(days=1 + n)).isoformat(),
            },
        )
    runner = ProjectionRunner(app.engine, app)
    runner.catch_up()
    return runner


def counts(engine: Engine) -> dict[str, tuple[int, int]]:
    """(rows, closed rows) of every read-model table."""
    found = {}
    with engine.connect() as connection:
        for table in t.READ_MODEL_TABLES:
            rows = connection.execute(select(func.count()).select_from(table)).scalar() or 0
            closed = 0
            if "known_to" in table.c:
                closed = (
                    connection.execute(
                        select(func.count()).select_from(table).where(table.c.known_to.is_not(None))
                    ).scalar()
                    or 0
                )
            found[table.name] = (int(rows), int(closed))
    return found


def retroactive_change(app: Timeline, runner: ProjectionRunner) -> dict[str, tuple[int, int]]:
    """Amend c1 effective half a day after the announcement: the rows it opened and closed."""
    before = counts(app.engine)
    app.execute(
        "revisePolicy",
        {
            "id": SLUG,
            "summary": "retroactive",
            "amendClauses": [{"id": "c1", "text": "c1 corrected from the start"}],
            "effectiveAt": (START + timedelta(hours=12)).isoformat(),
        },
    )
    runner.catch_up()
    after = counts(app.engine)
    return written_between(before, after)


def searched(app: Timeline, written: tuple[int, int]) -> dict[str, tuple[int, int]]:
    """The search table's share of `written`: SQLite's (it names the rows' documents);
    PostgreSQL's rows are their documents, its search table is not written (schema 13)."""
    return {t.search.name: written} if app.engine.dialect.name == "sqlite" else {}


def tagged(app: Timeline, rows: int) -> dict[str, tuple[int, int]]:
    """The feed's tag rows written: on SQLite only (PostgreSQL finds them in the states)."""
    return {t.timeline_tags.name: (rows, 0)} if t.tag_rows_stored(app.engine.dialect.name) else {}


def written_between(
    before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]
) -> dict[str, tuple[int, int]]:
    """(rows added, rows closed) per table that changed between two `counts`."""
    return {
        name: (after[name][0] - before[name][0], after[name][1] - before[name][1])
        for name in after
        if after[name] != before[name]
    }


def written_by(
    app: Timeline, runner: ProjectionRunner, command: str, payload: dict[str, Any]
) -> dict[str, tuple[int, int]]:
    """Run one command and catch up: (rows added, rows closed) per table that changed."""
    before = counts(app.engine)
    app.execute(command, payload)
    runner.catch_up()
    return written_between(before, counts(app.engine))


def policy_at(engine: Engine, days: float) -> Any:
    return q.policy_at(engine, SLUG, START + timedelta(days=days))


@pytest.mark.parametrize("later", [20, 200])
def test_a_retroactive_change_to_one_clause_writes_rows_independent_of_later_versions(
    app: Timeline, later: int
) -> None:
    runner = a_policy_with_later_versions(app, later)
    revision_before = policy_at(app.engine, later + 1).revision
    written = retroactive_change(app, runner)
    # (rows added, rows closed) per table: the frame in force at the change splits in two,
    # c1's one row splits in two, the fact and its feed entry are new. Nothing else: not
    # the later versions (their revision counter is counted, not stored), nor other clauses.
    assert written == {
        t.policy_versions.name: (2, 1),
        t.policy_parts.name: (2, 1),
        t.facts.name: (1, 0),
        t.timeline_entries.name: (1, 0),
        **tagged(app, 3),
        # c1's new text and the new summary's, each its own search document (schemas 13
        # and 14): c1's earlier row, split, names the text it had; the frames theirs.
        t.texts.name: (2, 0),
        # The stored counter (projections/counter.py): the change, and a version of each
        # tree node above its day (a number set by the day, not by `later`).
        t.counter_changes.name: (1, 0),
        t.counter_nodes.name: (tree_nodes(START), 0),
    }
    rtrees_hold_every_row(app.engine)
    latest = policy_at(app.engine, later + 1)
    assert latest.revision == revision_before + 1
    assert latest.clauses[0].text == "c1 corrected from the start"
    assert [c.id for c in latest.clauses] == CLAUSES
    facts = app.facts_of("policy", SLUG)
    now = datetime.now(UTC)
    for days in (0, 0.25, 0.5, 0.75, 1, later / 2, later + 1):
        version = policy_at(app.engine, days)
        expected = state_at(RULES["policy"], facts, START + timedelta(days=days), now)
        assert (version.title, version.clauses, version.revision, version.changed_by) == (
            expected.title,
            expected.clauses,
            expected.revision,
            expected.changed_by,
        )


def rtrees_hold_every_row(engine: Engine) -> None:
    """On SQLite each stabbed table's R*Tree has one box per row, holding the row's box."""
    if engine.dialect.name != "sqlite":
        return
    with engine.connect() as connection:
        for table in t.READ_MODEL_TABLES:
            if table.name not in t.STABBED:
                continue
            rows = [t.rtree_row(dict(r._mapping)) for r in connection.execute(select(table))]
            tree = t.rtree_table(table)
            boxes = [dict(r._mapping) for r in connection.execute(select(tree))]
            assert sorted(rows, key=lambda r: r["id"]) == sorted(boxes, key=lambda r: r["id"])


@pytest.mark.parametrize("later", [20, 200])
def test_a_correction_of_an_early_revision_writes_rows_independent_of_later_versions(
    app: Timeline, later: int
) -> None:
    """Every later version names the correction in `corrected_by` (it is folded into them),
    but none of their rows is rewritten: the corrections are gathered from the feed."""
    runner = a_policy_with_later_versions(app, later)
    before = counts(app.engine)
    app.execute(
        "correctEvent",
        {
            "event": f"policy:{SLUG}@2",
            "changes": {"summary": "revision 0, as corrected"},
            "reason": "the summary misquoted the source",
        },
    )
    runner.catch_up()
    after = counts(app.engine)
    written = written_between(before, after)
    # The frame the corrected fact made (its summary), its feed entry (with its tags), the
    # correction as a fact, the new summary's text, its search document (schema 14). Nothing
    # of the later versions.
    assert written == {
        t.policy_versions.name: (1, 1),
        t.facts.name: (1, 0),
        t.timeline_entries.name: (1, 1),
        **tagged(app, 3),
        t.texts.name: (1, 0),
        # The stored counter: the entry closed (-1) and opened (+1) on the same day, one
        # version of each node above that day for both.
        t.counter_changes.name: (2, 0),
        t.counter_nodes.name: (tree_nodes(START + timedelta(days=1)), 0),
    }
    facts = app.facts_of("policy", SLUG)
    now = datetime.now(UTC)
    for days in (0, 1, 2, later / 2, later + 1):
        version = policy_at(app.engine, days)
        expected = state_at(RULES["policy"], facts, START + timedelta(days=days), now)
        assert (version.summary, version.corrected_by) == (expected.summary, expected.corrected_by)
        assert version.corrected_by == (() if days < 1 else expected.corrected_by)
    history = q.policy_history(app.engine, SLUG)
    assert [v.corrected_by for v in history][-1] == expected.corrected_by != ()


def an_action_with_later_versions(app: Timeline, later: int) -> ProjectionRunner:
    """A restriction announced, then `later` forward amendments of its text."""
    for actor, kind in (("rkn", "authority"), ("instagram", "platform")):
        app.execute(
            "registerActor",
            {"id": actor, "name": actor, "kind": kind, "effectiveAt": START.isoformat()},
        )
    app.execute(
        "announceRegulatoryAction",
        {
            "id": "rkn/restriction",
            "authority": "rkn",
            "jurisdiction": "RU",
            "targets": ["instagram"],
            "kind": "restriction",
            "summary": "as announced",
            "text": "restricted",
            "effectiveAt": START.isoformat(),
        },
    )
    return day_by_day(
        app,
        later,
        "amendRegulatoryAction",
        lambda n: {"id": "rkn/restriction", "text": f"restricted, amendment {n}"},
    )


def day_by_day(
    app: Timeline, later: int, command: str, payload: Callable[[int], dict[str, Any]]
) -> ProjectionRunner:
    """`later` commands effective a day apart from START + 1 day, then a runner caught up."""
    for n in range(later):
        at = (START + timedelta(days=1 + n)).isoformat()
        app.execute(command, {**payload(n), "effectiveAt": at})
    runner = ProjectionRunner(app.engine, app)
    runner.catch_up()
    return runner


@pytest.mark.parametrize("later", [20, 200])
def test_a_retroactive_amendment_of_an_action_writes_rows_independent_of_later_versions(
    app: Timeline, later: int
) -> None:
    runner = an_action_with_later_versions(app, later)
    amendment = {
        "id": "rkn/restriction",
        "summary": "retroactive",
        "effectiveAt": (START + timedelta(hours=12)).isoformat(),
    }
    # The frame in force at the change splits in two, so does the summary part (no later
    # amendment sets it), the fact and its feed entry are new, and the new summary row has
    # its search document. Not the later versions: their counters are counted, not stored.
    assert written_by(app, runner, "amendRegulatoryAction", amendment) == {
        t.action_versions.name: (2, 1),
        t.action_parts.name: (2, 1),
        t.facts.name: (1, 0),
        t.timeline_entries.name: (1, 0),
        **tagged(app, 3),
        **searched(app, (2, 0)),  # the summary's two new rows, each a document
        t.texts.name: (1, 0),  # the feed entry's summary, stored once (schema 14)
    }
    rtrees_hold_every_row(app.engine)
    facts = app.facts_of("regulatory-action", "rkn/restriction")
    now = datetime.now(UTC)
    rules = RULES["regulatory-action"]
    for days in (0, 0.25, 0.5, 0.75, 1, later / 2, later + 1):
        at = START + timedelta(days=days)
        found = q.regulatory_action_at(app.engine, "rkn/restriction", at)
        expected = state_at(rules, facts, at, now)
        assert found is not None and expected is not None
        assert (found.summary, found.text, found.revision, found.changed_by) == (
            expected.summary,
            expected.text,
            expected.revision,
            expected.changed_by,
        )
    history = q.regulatory_action_history(app.engine, "rkn/restriction")
    assert [v.revision for v in history] == list(range(1, later + 3))
    assert [v.summary for v in history] == ["as announced"] + ["retroactive"] * (later + 1)


@pytest.mark.parametrize("later", [20, 200])
def test_a_retroactive_rename_of_an_actor_writes_rows_independent_of_later_renames(
    app: Timeline, later: int
) -> None:
    """Every later version's former names change (the early name is among them), but they
    are gathered from the feed: only the version the rename falls in splits."""
    app.execute(
        "registerActor",
        {"id": "org", "name": "Org 0", "kind": "organisation", "effectiveAt": START.isoformat()},
    )
    runner = day_by_day(app, later, "renameActor", lambda n: {"id": "org", "name": f"Org {n + 1}"})
    at = (START + timedelta(hours=12)).isoformat()
    early = {"id": "org", "name": "Org early", "effectiveAt": at}
    assert written_by(app, runner, "renameActor", early) == {
        t.actor_versions.name: (2, 1),
        t.facts.name: (1, 0),
        t.timeline_entries.name: (1, 0),
        **tagged(app, 1),
        t.texts.name: (1, 0),  # the entry's summary (the new name), stored once (schema 14)
    }
    correction = {
        "event": "actor:org@2",
        "changes": {"name": "Org 1, corrected"},
        "reason": "a typo",
    }
    assert written_by(app, runner, "correctEvent", correction) == {
        t.actor_versions.name: (1, 1),
        t.facts.name: (1, 0),
        t.timeline_entries.name: (1, 1),
        **tagged(app, 1),
        t.texts.name: (1, 0),  # the corrected name, likewise
    }
    facts = app.facts_of("actor", "org")
    now = datetime.now(UTC)
    for days in (0, 0.5, 1, 2, later / 2, later + 1):
        at = START + timedelta(days=days)
        found = q.actors_at(app.engine, ["org"], at)["org"]
        expected = state_at(RULES["actor"], facts, at, now)
        assert (found.name, found.former_names, found.corrected_by) == (
            expected.name,
            expected.former_names,
            expected.corrected_by,
        )
    assert q.actors_at(app.engine, ["org"], START + timedelta(days=later + 1))["org"].former_names[
        :3
    ] == ("Org 0", "Org early", "Org 1, corrected")
