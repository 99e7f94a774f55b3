"""Read queries as specifications: the March 2022 questions, filters, pages, errors."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, event

from domain.errors import InvalidInput
from projections import queries as q
from timeline.bootstrap import Services, bootstrap
from timeline.settings import Settings

POLICY = "meta/hate-speech"
ACTION = "rkn/instagram-restriction"


@pytest.fixture
def services(database_url: str) -> Iterator[Services]:
    built = bootstrap(Settings(database_url=database_url))
    t = built.timeline
    for slug, name, kind in (
        ("meta", "Facebook, Inc.", "organisation"),
        ("instagram", "Instagram", "platform"),
        ("rkn", "Roskomnadzor", "authority"),
    ):
        t.register_actor(
            {"id": slug, "name": name, "kind": kind, "effectiveAt": "2004-02-04T00:00:00+00:00"}
        )
    t.rename_actor(
        {"id": "meta", "name": "Meta Platforms, Inc.", "effectiveAt": "2021-10-28T00:00:00+00:00"}
    )
    t.announce_policy(
        {
            "id": POLICY,
            "title": "Hate Speech",
            "owner": "meta",
            "clauses": [{"id": "tier-1", "text": "No violent speech."}],
            "effectiveAt": "2022-01-01T00:00:00+00:00",
        }
    )
    t.revise_policy(
        {
            "id": POLICY,
            "summary": "allowance",
            "addClauses": [
                {"id": "allowance", "text": "Temporary allowance.", "scope": ["UA", "RU"]}
            ],
            "effectiveAt": "2022-03-10T15:00:00+03:00",
        }
    )
    t.announce_policy(
        {
            "id": "meta/violence",
            "title": "Violence and Incitement",
            "owner": "meta",
            "clauses": [{"id": "v", "text": "No incitement."}],
            "effectiveAt": "2022-01-01T00:00:00+00:00",
        }
    )
    t.announce_regulatory_action(
        {
            "id": ACTION,
            "authority": "rkn",
            "jurisdiction": "RU",
            "targets": ["instagram"],
            "kind": "restriction",
            "inResponseTo": [f"policy:{POLICY}@2"],
            "announcedAt": "2022-03-11T18:00:00+03:00",
            "effectiveAt": "2022-03-14T00:00:00+03:00",
        }
    )
    t.record_statement(
        {
            "id": "clegg/statement",
            "actor": "meta",
            "kind": "post",
            "text": "Our policies are focused on protecting people's rights.",
            "inResponseTo": [f"policy:{POLICY}"],
            "effectiveAt": "2022-03-11T20:00:00+00:00",
        }
    )
    built.projections.catch_up()
    try:
        yield built
    finally:
        built.close()


def msk(text: str) -> datetime:
    return datetime.fromisoformat(text + "+03:00")


def test_instagram_restriction_is_announced_but_not_in_effect_on_12_march(
    services: Services,
) -> None:
    engine = services.timeline.engine
    on_12th = q.regulatory_action_at(engine, ACTION, msk("2022-03-12T12:00:00"))
    on_14th = q.regulatory_action_at(engine, ACTION, msk("2022-03-14T00:00:00"))
    assert on_12th is not None and on_12th.status == "ANNOUNCED"
    assert on_14th is not None and on_14th.status == "IN_EFFECT"
    assert q.regulatory_action_at(engine, ACTION, msk("2022-03-11T17:59:59")) is None


def test_a_change_at_15_00_shows_on_that_day_beside_the_morning_version(services: Services) -> None:
    day = q.policy_on(services.timeline.engine, POLICY, date(2022, 3, 10), "Europe/Moscow")
    assert [[c.id for c in v.clauses] for v in day] == [["tier-1"], ["tier-1", "allowance"]]
    utc_day_before = q.policy_on(services.timeline.engine, POLICY, date(2022, 3, 9), "UTC")
    assert [v.revision for v in utc_day_before] == [1]


def test_an_unknown_time_zone_is_refused_naming_the_field(services: Services) -> None:
    with pytest.raises(InvalidInput) as error:
        q.policy_on(services.timeline.engine, POLICY, date(2022, 3, 10), "Mars/Olympus")
    assert error.value.field == "timeZone"


def test_a_forged_cursor_is_refused_naming_the_field(services: Services) -> None:
    with pytest.raises(InvalidInput) as error:
        q.timeline_page(services.timeline.engine, after="bm90IGEgY3Vyc29y")
    assert error.value.field == "after"
    with pytest.raises(InvalidInput):
        q.list_policies(services.timeline.engine, after="%%%")


def test_the_diff_names_the_added_allowance(services: Services) -> None:
    diff = q.policy_diff(
        services.timeline.engine, POLICY, msk("2022-03-09T00:00:00"), msk("2022-03-11T00:00:00")
    )
    assert [(c.id, c.change) for c in diff.clauses] == [
        ("tier-1", "UNCHANGED"),
        ("allowance", "ADDED"),
    ]


def test_actors_carry_the_name_they_had_at_valid_time(services: Services) -> None:
    engine = services.timeline.engine
    assert (
        q.actors_at(engine, ["meta"], msk("2021-10-01T00:00:00"))["meta"].name == "Facebook, Inc."
    )
    now = q.actors_at(engine, ["meta", "rkn"])
    assert now["meta"].name == "Meta Platforms, Inc."
    assert now["meta"].former_names == ("Facebook, Inc.",)


def test_the_timeline_pages_through_every_fact_once_in_effective_order(services: Services) -> None:
    engine = services.timeline.engine
    seen: list[Any] = []
    after = None
    while True:
        page = q.timeline_page(engine, first=2, after=after)
        seen.extend(page.items)
        if not page.has_next_page:
            break
        after = page.end_cursor
    effects = [e for e in seen if e.entry_kind != "ANNOUNCEMENT"]
    announcements = [e for e in seen if e.entry_kind == "ANNOUNCEMENT"]
    assert len(effects) == services.timeline.head_position()
    assert len({e.position for e in effects}) == len(effects)
    assert len({e.position for e in announcements}) == len(announcements)
    assert all(e.at == e.announced_at != e.effective_at for e in announcements)
    assert all(e.at == e.effective_at for e in effects)
    assert [e.feed_key() for e in seen] == sorted(e.feed_key() for e in seen)


def test_the_timeline_filters_by_actor_jurisdiction_policy_kind_type_and_time(
    services: Services,
) -> None:
    engine = services.timeline.engine

    def slugs(**filters: Any) -> list[tuple[str, str]]:
        """(slug, type) of each entry; an announcement entry as (slug, "announced")."""
        return [
            (e.slug, "announced" if e.entry_kind == "ANNOUNCEMENT" else e.type)
            for e in q.timeline_page(engine, first=100, **filters).items
        ]

    assert slugs(actor="instagram") == [
        ("instagram", "ActorRegistered"),
        (ACTION, "announced"),  # on 11 March, before it takes effect on 14 March
        (ACTION, "RegulatoryActionAnnounced"),
    ]
    assert slugs(jurisdiction="RU") == [
        (POLICY, "PolicyRevised"),
        (ACTION, "announced"),
        (ACTION, "RegulatoryActionAnnounced"),
    ]
    assert slugs(policy=POLICY) == [
        (POLICY, "PolicyAnnounced"),
        (POLICY, "PolicyRevised"),
        (ACTION, "announced"),
        ("clegg/statement", "StatementRecorded"),
        (ACTION, "RegulatoryActionAnnounced"),
    ]
    assert slugs(kinds=["statement"]) == [("clegg/statement", "StatementRecorded")]
    assert slugs(types=["PolicyRevised"]) == [(POLICY, "PolicyRevised")]
    assert slugs(from_=msk("2022-03-11T00:00:00"), to=msk("2022-03-14T00:00:00")) == [
        (ACTION, "announced"),
        ("clegg/statement", "StatementRecorded"),
    ]
    assert slugs(from_=msk("2022-03-14T00:00:00")) == [(ACTION, "RegulatoryActionAnnounced")]
    facts_only = q.timeline_page(engine, first=100, announcements=False, actor="instagram")
    assert [e.entry_kind for e in facts_only.items] == ["OCCURRENCE", "ENTRY_INTO_FORCE"]


def test_policies_list_filters_and_pages_by_slug(services: Services) -> None:
    engine = services.timeline.engine
    valid_at = msk("2022-03-12T00:00:00")
    first = q.list_policies(engine, valid_at, first=1)
    assert [p.slug for p in first.items] == [POLICY] and first.has_next_page
    assert first.total_count == 2
    second = q.list_policies(engine, valid_at, first=1, after=first.end_cursor)
    assert [p.slug for p in second.items] == ["meta/violence"] and not second.has_next_page
    assert [p.slug for p in q.list_policies(engine, valid_at, jurisdiction="UA").items] == [POLICY]
    assert [p.slug for p in q.list_policies(engine, valid_at, search="VIOLENCE").items] == [
        "meta/violence"
    ]
    assert q.list_policies(engine, msk("2021-06-01T00:00:00")).items == ()


def test_responses_for_a_page_of_policies_take_three_statements(services: Services) -> None:
    """The frames, the parts and the feed's counters of the citing actions, whatever the
    number of policies asked about (a dataloader's batch is not N + 1 queries)."""
    engine: Engine = services.timeline.engine
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    event.listen(engine, "before_cursor_execute", count)
    try:
        found = q.responses_to(engine, [POLICY, "meta/violence", "meta/unknown"])
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(statements) == 3
    statements.clear()
    event.listen(engine, "before_cursor_execute", count)
    try:
        q.responses_to(engine, [POLICY])
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(statements) == 3
    assert {k: [a.slug for a in v] for k, v in found.items()} == {
        POLICY: [ACTION],
        "meta/violence": [],
        "meta/unknown": [],
    }
    said = q.statements_responding_to(engine, [POLICY])
    assert [s.slug for s in said[POLICY]] == ["clegg/statement"]
    statement = q.statement_at(engine, "clegg/statement")
    assert statement is not None and statement.actor == "meta"
