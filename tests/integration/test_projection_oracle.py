"""Property tests: every projection answer equals the oracle (domain/fold.py) for random
histories written through the real application, on SQLite and on PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from domain import RULES, PolicyState, RegulatoryActionState, believe
from domain.concerns import concerns_in_log
from domain.errors import TimelineError
from domain.facts import META_TYPES
from domain.feed import entries as feed_entries
from domain.fold import state_at, states_on
from projections import queries as q
from projections.models import PolicyVersion, RegulatoryActionVersion
from projections.runner import ProjectionRunner
from timeline.bootstrap import Services, bootstrap
from timeline.settings import Settings
from timeline.streams.reader import EventReader, Tags

BASE = datetime(2022, 3, 1, tzinfo=UTC)
TICK = timedelta(microseconds=1)
ZONES = ("UTC", "Europe/Moscow", "America/Los_Angeles", "Pacific/Kiritimati")
EPOCH = "2020-01-01T00:00:00+00:00"

instants = st.integers(0, 60).map(lambda n: BASE + timedelta(hours=6 * n))  # to 16 March
clause_ids = st.sampled_from(["a", "b", "c"])
scopes = st.sampled_from([[], ["RU"], ["RU", "UA"]])
texts = st.sampled_from(["one", "two", "three"])


def iso(value: datetime) -> str:
    return value.isoformat()


@st.composite
def clauses(draw: st.DrawFn) -> dict[str, Any]:
    clause: dict[str, Any] = {"id": draw(clause_ids), "text": draw(texts), "scope": draw(scopes)}
    if draw(st.booleans()):
        clause["expiresAt"] = iso(draw(instants))
    return clause


@dataclass
class History:
    """The slugs of one example and what was written for them."""

    prefix: str
    versions: dict[tuple[str, str], int] = field(default_factory=dict)
    recorded: list[datetime] = field(default_factory=list)

    def slug(self, name: str) -> str:
        return f"{self.prefix}/{name}"


def command(draw: st.DrawFn, history: History) -> tuple[str, dict[str, Any]]:
    """One command over three policies and two actions; many are refused by the domain."""
    policy = history.slug(draw(st.sampled_from(["p0", "p1", "p2"])))
    action = history.slug(draw(st.sampled_from(["a0", "a1"])))
    when = draw(instants)
    op = draw(
        st.sampled_from(
            [
                "announce",
                "revise",
                "revise",
                "revise",
                "revise",
                "withdraw",
                "correct",
                "correct",
                "retract",
                "retract",
                "retract",
                "act",
                "act",
                "lift",
                "say",
                "say",
                "rename",
            ]
        )
    )
    if op == "announce":
        body = draw(st.lists(clauses(), min_size=1, max_size=3, unique_by=lambda c: c["id"]))
        return "announce_policy", {
            "id": policy,
            "title": draw(texts),
            "owner": "meta",
            "clauses": body,
            "effectiveAt": iso(when),
        }
    if op == "revise":
        change = draw(st.sampled_from(["addClauses", "amendClauses", "removeClauses", "title"]))
        data: dict[str, Any] = {"id": policy, "effectiveAt": iso(when)}
        if change == "addClauses":
            data[change] = [{**draw(clauses()), "id": draw(st.sampled_from("cde"))}]
        elif change == "amendClauses":
            data[change] = [{"id": draw(clause_ids), "text": draw(texts)}]
        elif change == "removeClauses":
            data[change] = [draw(clause_ids)]
        else:
            data["title"] = draw(texts) + " revised"
        return "revise_policy", data
    if op == "withdraw":
        return "withdraw_policy", {"id": policy, "effectiveAt": iso(when)}
    if op in ("correct", "retract"):
        kind, slug = draw(
            st.sampled_from(
                [
                    ("policy", policy),
                    ("regulatory-action", action),
                    ("statement", history.slug("s0")),
                    ("actor", history.slug("actor")),
                ]
            )
        )
        latest = history.versions.get((kind, slug), 0)
        if latest == 0:
            return "skip", {}
        target = draw(st.integers(1, latest) | st.just(1))  # the first: a whole stream
        event = f"{kind}:{slug}@{target}"
        if op == "retract":
            return "retract_event", {"event": event, "reason": "wrong"}
        changes = draw(st.sampled_from([{"effectiveAt": iso(when)}, {"summary": "fixed"}]))
        return "correct_event", {"event": event, "changes": changes, "reason": "typo"}
    if op == "act":
        announced = draw(instants)
        return "announce_regulatory_action", {
            "id": action,
            "authority": "rkn",
            "jurisdiction": "RU",
            "targets": ["meta"],
            "kind": "restriction",
            "inResponseTo": [f"policy:{policy}"],
            "announcedAt": iso(min(announced, when)),
            "effectiveAt": iso(when),
        }
    if op == "say":
        return "record_statement", {
            "id": history.slug("s0"),
            "actor": history.slug("actor"),
            "text": draw(texts),
            "inResponseTo": [f"policy:{policy}"],
            "effectiveAt": iso(when),
        }
    if op == "rename":
        return "rename_actor", {
            "id": history.slug("actor"),
            "name": draw(texts),
            "effectiveAt": iso(when),
        }
    return "lift_regulatory_action", {"id": action, "effectiveAt": iso(when)}


def write(services: Services, history: History, name: str, data: dict[str, Any]) -> None:
    """Run one command through the real application; refused commands store nothing."""
    if name == "skip":
        return
    try:
        result = getattr(services.timeline, name)(data)
    except TimelineError:
        return
    history.versions[(result.kind, result.id)] = result.version
    history.recorded.append(result.recorded_at)
    if result.version > 1 and name in _STARTS:
        event("a stream announced anew after its every fact was retracted")


_STARTS = {"announce_policy", "announce_regulatory_action", "record_statement"}


def as_policy_state(version: PolicyVersion | None) -> PolicyState | None:
    if version is None:
        return None
    return PolicyState(
        slug=version.slug,
        title=version.title,
        owner=version.owner,
        summary=version.summary,
        status=version.status,
        clauses=version.clauses,
        sources=version.sources,
        revision=version.revision,
        changed_by=version.changed_by,
        change_type=version.change_type,
        corrected_by=version.corrected_by,
    )


def as_action_state(version: RegulatoryActionVersion | None) -> RegulatoryActionState | None:
    if version is None:
        return None
    fields = {name: getattr(version, name) for name in RegulatoryActionState.__dataclass_fields__}
    return RegulatoryActionState(**fields)


@pytest.fixture
def services(database_url: str) -> Iterator[Services]:
    built = bootstrap(Settings(database_url=database_url))
    for slug, kind in (("meta", "organisation"), ("rkn", "authority")):
        built.timeline.register_actor(
            {"id": slug, "name": slug.upper(), "kind": kind, "effectiveAt": EPOCH}
        )
    try:
        yield built
    finally:
        built.close()


def probe_instants(facts: list[Any], kind: str) -> list[datetime]:
    """Every instant where an answer can change, and the instants just before them."""
    rules = RULES[kind]
    points = {BASE - TICK}
    for fact in believe(facts):
        if fact.is_meta:
            continue
        at = rules.fold_time(fact)
        points |= {at, at - TICK}
        for name in ("expires_at",):
            for clause in fact.data.get("clauses") or fact.data.get("add_clauses") or ():
                if clause.get(name):
                    expiry = datetime.fromisoformat(clause[name])
                    points |= {expiry, expiry - TICK}
        if fact.effective_at is not None:
            points |= {fact.effective_at, fact.effective_at - TICK}
    return sorted(points)


def check_policy(
    services: Services, slug: str, known_ats: list[datetime], days: list[tuple[date, str]]
) -> None:
    engine = services.timeline.engine
    try:
        facts = services.timeline.facts_of("policy", slug)
    except TimelineError:
        assert q.policy_history(engine, slug) == []
        return
    rules = RULES["policy"]
    for known_at in known_ats:
        for valid_at in probe_instants(facts, "policy"):
            expected = state_at(rules, facts, valid_at, known_at)
            found = as_policy_state(q.policy_at(engine, slug, valid_at, known_at))
            assert found == expected, (slug, valid_at, known_at)
        for day, zone in days:
            expected_day = states_on(rules, facts, day, zone, known_at)
            found_day = [as_policy_state(v) for v in q.policy_on(engine, slug, day, zone, known_at)]
            assert found_day == expected_day, (slug, day, zone, known_at)
        history = q.policy_history(engine, slug, known_at)
        for version in history:
            assert as_policy_state(version) == state_at(rules, facts, version.valid_from, known_at)
        stream = [f.version for f in facts if f.recorded_at <= known_at]
        assert all(v.aggregate_version == max(stream) for v in history)


def check_action(
    services: Services, slug: str, policies: list[str], known_ats: list[datetime]
) -> None:
    engine = services.timeline.engine
    try:
        facts = services.timeline.facts_of("regulatory-action", slug)
    except TimelineError:
        return
    rules = RULES["regulatory-action"]
    for known_at in known_ats:
        for valid_at in probe_instants(facts, "regulatory-action"):
            expected = state_at(rules, facts, valid_at, known_at)
            found = q.regulatory_action_at(engine, slug, valid_at, known_at)
            assert as_action_state(found) == expected, (slug, valid_at, known_at)
            responses = q.responses_to(engine, policies, valid_at, known_at)
            for policy in policies:
                cites = expected is not None and f"policy:{policy}" in expected.in_response_to
                assert (slug in [a.slug for a in responses[policy]]) == cites


def check_others(
    services: Services, history: History, policies: list[str], known_ats: list[datetime]
) -> None:
    """Statements and actors as the oracle has them; the policy list holds what is in force."""
    engine, timeline = services.timeline.engine, services.timeline
    actor = history.slug("actor")
    actor_facts = timeline.facts_of("actor", actor)
    try:
        said = timeline.facts_of("statement", history.slug("s0"))
    except TimelineError:
        said = []
    for known_at in known_ats:
        for valid_at in probe_instants(actor_facts, "actor"):
            expected = state_at(RULES["actor"], actor_facts, valid_at, known_at)
            found = q.actors_at(engine, [actor], valid_at, known_at).get(actor)
            assert name_of(found) == name_of(expected), (actor, valid_at, known_at)
        expected_said = (
            state_at(RULES["statement"], said, datetime.max.replace(tzinfo=UTC), known_at)
            if said
            else None
        )
        found_said = q.statement_at(engine, history.slug("s0"), known_at)
        assert words_of(found_said) == words_of(expected_said), known_at
        valid_at = BASE + timedelta(days=5)
        in_force = {
            slug
            for slug in policies
            if _policy_facts(services, slug)
            and state_at(RULES["policy"], _policy_facts(services, slug), valid_at, known_at)
            is not None
        }
        listed = q.list_policies(engine, valid_at, known_at, search=history.prefix, first=10)
        assert {p.slug for p in listed.items} == in_force


def name_of(actor: Any) -> tuple[str, tuple[str, ...], tuple[Any, ...]] | None:
    if actor is None:
        return None
    return (actor.name, tuple(actor.former_names), tuple(actor.corrected_by))


def words_of(statement: Any) -> tuple[str, datetime, tuple[str, ...], tuple[Any, ...]] | None:
    if statement is None:
        return None
    made = (statement.text, statement.made_at, tuple(statement.in_response_to))
    return (*made, tuple(statement.corrected_by))


def _policy_facts(services: Services, slug: str) -> list[Any]:
    try:
        return services.timeline.facts_of("policy", slug)
    except TimelineError:
        return []


def check_feed(services: Services, history: History, known_at: datetime) -> None:
    """The feed holds exactly the believed facts, each at its effectiveAt and, when made
    public at another instant, at its announcedAt (domain.feed), in (instant, position)
    order."""
    expected = set()
    for (kind, slug), _ in history.versions.items():
        for fact in believe(services.timeline.facts_of(kind, slug), known_at):
            assert fact.effective_at is not None
            for entry_kind, at in feed_entries(fact.type, fact.effective_at, fact.announced_at):
                expected.add((slug, fact.version, fact.type, entry_kind, at))
    page = q.timeline_page(services.timeline.engine, known_at=known_at, first=1000)
    mine = [e for e in page.items if e.slug.startswith(history.prefix + "/")]
    assert {(e.slug, e.version, e.type, e.entry_kind, e.at) for e in mine} == expected
    keys = [e.feed_key() for e in page.items]
    assert keys == sorted(keys)


def check_concerns(services: Services, history: History) -> None:
    """One meaning of "concerns" (domain.concerns): the stream reader, reading the log in
    order (incrementally, refolding after corrections and retroactive facts), tags each event
    as the reference does, and the feed, as known when a fact was recorded, tags it alike."""
    timeline = services.timeline
    mine = [
        e
        for e in EventReader(timeline).read(0, limit=1_000_000)
        if e.slug.startswith(history.prefix + "/")
    ]
    for index, event_ in enumerate(mine):
        facts = [
            f
            for f in timeline.facts_of(event_.kind, event_.slug)
            if f.version <= event_.fact.version
        ]
        expected = concerns_in_log(event_.kind, event_.slug, facts)
        assert event_.tags == Tags.of(expected), event_.reference
        if event_.fact.type in META_TYPES or index % 4:  # the feed for a quarter of them
            continue
        page = q.timeline_page(timeline.engine, known_at=event_.fact.recorded_at, first=1000)
        entries = [
            e for e in page.items if (e.slug, e.version) == (event_.slug, event_.fact.version)
        ]
        assert entries, event_.reference  # one, or two with its announcement: tagged alike
        for entry in entries:
            assert (entry.actors, entry.jurisdictions, entry.policies) == (
                expected.actors,
                expected.jurisdictions,
                expected.policies,
            ), event_.reference


@pytest.mark.slow
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_projection_answers_equal_the_oracle_for_random_histories(
    services: Services, data: st.DataObject
) -> None:
    history = History(prefix=f"h{uuid.uuid4().hex[:10]}")
    write(
        services,
        history,
        "register_actor",
        {"id": history.slug("actor"), "name": "first", "kind": "person", "effectiveAt": iso(BASE)},
    )
    for name in ("p0", "p1", "p2")[: data.draw(st.integers(1, 3), label="policies")]:
        body = data.draw(st.lists(clauses(), min_size=1, max_size=3, unique_by=lambda c: c["id"]))
        write(
            services,
            history,
            "announce_policy",
            {
                "id": history.slug(name),
                "title": "policy",
                "owner": "meta",
                "clauses": body,
                "effectiveAt": iso(BASE + timedelta(hours=6 * data.draw(st.integers(0, 8)))),
            },
        )
    for _ in range(data.draw(st.integers(4, 16), label="commands")):
        name, body = data.draw(st.composite(lambda draw: command(draw, history))(), label="command")
        write(services, history, name, body)
        catch_up = data.draw(
            st.sampled_from(["later", "now", "in a restarted runner"]), label="catch up"
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
        st.lists(st.sampled_from(candidates), min_size=1, max_size=4, unique=True), label="knownAt"
    )
    days = [
        (
            date(2022, 3, data.draw(st.integers(1, 16), label="day")),  # 13th: US DST
            data.draw(st.sampled_from(ZONES), label="zone"),
        )
        for _ in range(2)
    ]
    policies = [history.slug(p) for p in ("p0", "p1", "p2")]
    for slug in policies:
        check_policy(services, slug, known_ats, days)
    check_others(services, history, policies, known_ats)
    for action in ("a0", "a1"):
        check_action(services, history.slug(action), policies, known_ats[:2])
    for known_at in known_ats:
        check_feed(services, history, known_at)
    check_concerns(services, history)
    for kind, slug in history.versions:
        if not believe(services.timeline.facts_of(kind, slug)):
            event(f"a {kind} whose every fact is retracted")
