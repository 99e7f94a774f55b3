"""Arbitrary command input against a real store: a result, or InvalidInput with nothing stored.

A small hypothesis run per database (the unit fuzz in tests/unit covers the models at length).
"""

from __future__ import annotations

from typing import Any

import pytest
from factories import action, actor, clause, correction, policy, revision, statement
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain import TimelineError
from timeline.application import Timeline

_TEXT = st.one_of(
    st.text(max_size=30),
    st.just("\x00"),
    st.just("x" * 300_000),
    st.sampled_from(["acme", "nobody", "c1", "c2", "UA", "RU", "xx"]),
)
_INSTANTS = st.one_of(
    st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
    st.datetimes().map(lambda d: d.isoformat()),
    st.sampled_from(
        [
            "2022-01-01T00:00:00Z",
            "2022-02-15T00:00:00+03:00",
            "0001-01-01T00:00:00+00:00",
            "9999-12-31T23:59:59+00:00",
        ]
    ),
)
_SEEDS: list[tuple[str, dict[str, Any]]] = [
    ("revisePolicy", revision()),
    ("revisePolicy", revision(addClauses=[clause("c2", scope=["UA"])])),
    ("withdrawPolicy", {"id": "acme/conduct", "effectiveAt": "2022-02-01T00:00:00Z"}),
    ("announcePolicy", policy("acme/other")),
    ("announceRegulatoryAction", action(inResponseTo=["policy:acme/conduct@1"])),
    ("liftRegulatoryAction", {"id": "regulator/fine", "effectiveAt": "2022-04-01T00:00:00Z"}),
    ("recordStatement", statement()),
    ("registerActor", actor("new-actor", parent="acme")),
    ("renameActor", {"id": "acme", "name": "Acme", "effectiveAt": "2022-01-01T00:00:00Z"}),
    ("correctEvent", correction("policy:acme/conduct@1", effectiveAt="2021-12-01T00:00:00Z")),
    ("retractEvent", {"event": "policy:acme/conduct@1", "reason": "error"}),
]


@st.composite
def _commands(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    name, seed = draw(st.sampled_from(_SEEDS))
    data = dict(seed)
    for key in draw(st.lists(st.sampled_from(sorted(data)), max_size=2, unique=True)):
        data[key] = draw(_INSTANTS if key.endswith("At") else _TEXT)
    if draw(st.booleans()):
        data["idempotencyKey"] = draw(_TEXT)
    return name, data


@pytest.fixture
def seeded(timeline: Timeline) -> Timeline:
    timeline.register_actor(actor())
    timeline.register_actor(actor("regulator", "The Regulator", "authority"))
    timeline.register_actor(actor("spokesperson", "A Spokesperson", "person", parent="acme"))
    timeline.announce_policy(policy())
    return timeline


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=_commands())
def test_any_command_is_stored_whole_or_refused_with_nothing_stored(
    seeded: Timeline,
    case: tuple[str, dict[str, Any]],
) -> None:
    name, data = case
    before = seeded.head_position()
    try:
        result = seeded.execute(name, data)
    except TimelineError as error:
        assert error.code in ("BAD_INPUT", "CONFLICT", "NOT_FOUND") and error.message
        assert seeded.head_position() == before
        return
    assert result.position >= 1
    assert seeded.head_position() in (before, before + 1)  # a replayed key adds nothing


_FIELDS = st.sampled_from(
    [
        "effectiveAt",
        "announcedAt",
        "title",
        "summary",
        "owner",
        "clauses",
        "addClauses",
        "amendClauses",
        "removeClauses",
        "sources",
        "slug",
        "effective_at",
        "colour",
        "id",
    ]
)
_CHANGE_VALUES = st.one_of(
    _TEXT,
    _INSTANTS,
    st.none(),
    st.integers(),
    st.lists(_TEXT, max_size=2),
    st.lists(
        st.fixed_dictionaries({"id": st.sampled_from(["c1", "c2", "c3"]), "text": _TEXT}),
        max_size=2,
    ),
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(version=st.integers(0, 4), changes=st.dictionaries(_FIELDS, _CHANGE_VALUES, max_size=3))
def test_any_correction_is_stored_whole_or_refused_with_nothing_stored(
    seeded: Timeline,
    version: int,
    changes: dict[str, Any],
) -> None:
    before = seeded.head_position()
    try:
        seeded.correct_event(
            {"event": f"policy:acme/conduct@{version}", "changes": changes, "reason": "fuzz"}
        )
    except TimelineError as error:
        assert error.code in ("BAD_INPUT", "CONFLICT", "NOT_FOUND") and error.message
        assert seeded.head_position() == before
        return
    assert seeded.head_position() == before + 1
