"""Regulatory actions, actors and statements as folded by the domain, without a store."""

from __future__ import annotations

from typing import Any

import pytest
from factories import action, actor, as_recorded, at, in_memory, statement

from domain import RULES, Actor, RegulatoryAction, UnfoldableHistory
from domain.fold import state_at
from domain.regulatory import ANNOUNCED, IN_EFFECT, LIFTED
from timeline.commands import LiftRegulatoryAction
from timeline.validation import validate

NOW = at("2030-01-01T00:00:00+00:00")
ANNOUNCE = action(announcedAt="2022-03-11T19:00:00+03:00")


def _action(*changes: tuple[str, dict[str, Any]]) -> RegulatoryAction:
    found = in_memory([("announceRegulatoryAction", ANNOUNCE), *changes])[
        ("regulatory-action", "regulator/fine")
    ]
    assert isinstance(found, RegulatoryAction)
    return found


def _status(aggregate: RegulatoryAction, valid_at: str) -> str | None:
    state = state_at(RULES["regulatory-action"], as_recorded(aggregate.facts), at(valid_at), NOW)
    return None if state is None else str(state.status)


def _lift(effective_at: str) -> tuple[str, dict[str, Any]]:
    return "liftRegulatoryAction", {"id": "regulator/fine", "effectiveAt": effective_at}


def test_an_action_exists_from_its_announcement_and_is_in_effect_from_its_effective_time() -> None:
    aggregate = _action()
    assert _status(aggregate, "2022-03-11T18:59:59+03:00") is None
    assert _status(aggregate, "2022-03-11T19:00:00+03:00") == ANNOUNCED
    assert _status(aggregate, "2022-03-13T20:59:59+00:00") == ANNOUNCED
    assert _status(aggregate, "2022-03-13T21:00:00+00:00") == IN_EFFECT


def test_a_lifted_action_is_lifted_from_the_lifts_effective_time() -> None:
    aggregate = _action(_lift("2022-04-01T00:00:00+00:00"))
    assert _status(aggregate, "2022-03-31T23:59:59+00:00") == IN_EFFECT
    assert _status(aggregate, "2022-04-01T00:00:00+00:00") == LIFTED


def test_lifting_an_action_that_is_not_in_effect_yet_is_refused() -> None:
    aggregate = _action()
    lift = validate(LiftRegulatoryAction, _lift("2022-03-12T12:00:00+03:00")[1])
    with pytest.raises(UnfoldableHistory) as refused:
        aggregate.lift(**lift.payload())
    assert refused.value.field == "effectiveAt"
    assert "not in effect" in refused.value.reason
    assert len(aggregate.facts) == 1


def test_nothing_changes_an_action_after_it_was_lifted() -> None:
    with pytest.raises(UnfoldableHistory) as refused:
        _action(
            _lift("2022-04-01T00:00:00+00:00"),
            (
                "amendRegulatoryAction",
                {"id": "regulator/fine", "summary": "later", "effectiveAt": "2022-05-01T00:00:00Z"},
            ),
        )
    assert "lifted" in refused.value.reason


def test_an_amendment_changes_the_action_from_its_effective_time() -> None:
    aggregate = _action(
        (
            "amendRegulatoryAction",
            {"id": "regulator/fine", "kind": "block", "effectiveAt": "2022-03-20T00:00:00+03:00"},
        )
    )
    facts = as_recorded(aggregate.facts)
    rules = RULES["regulatory-action"]
    assert state_at(rules, facts, at("2022-03-19T00:00:00+03:00"), NOW).kind == "restriction"
    assert state_at(rules, facts, at("2022-03-20T00:00:00+03:00"), NOW).kind == "block"


def test_an_actor_is_named_as_it_was_at_the_valid_time() -> None:
    found = in_memory(
        [
            ("registerActor", actor("meta", "Facebook, Inc.")),
            (
                "renameActor",
                {
                    "id": "meta",
                    "name": "Meta Platforms, Inc.",
                    "effectiveAt": "2021-10-28T00:00:00-07:00",
                },
            ),
        ]
    )[("actor", "meta")]
    assert isinstance(found, Actor)
    facts, rules = as_recorded(found.facts), RULES["actor"]
    assert state_at(rules, facts, at("2021-10-27T23:59:59-07:00"), NOW).name == "Facebook, Inc."
    renamed = state_at(rules, facts, at("2021-10-28T00:00:00-07:00"), NOW)
    assert renamed.name == "Meta Platforms, Inc." and renamed.former_names == ("Facebook, Inc.",)


def test_renaming_an_actor_before_it_was_registered_is_refused() -> None:
    with pytest.raises(UnfoldableHistory):
        in_memory(
            [
                ("registerActor", actor()),
                (
                    "renameActor",
                    {"id": "acme", "name": "Acme", "effectiveAt": "2020-01-01T00:00:00+00:00"},
                ),
            ]
        )


def test_a_statement_exists_from_the_moment_it_was_made() -> None:
    found = in_memory([("recordStatement", statement(inResponseTo=["policy:acme/conduct@2"]))])[
        ("statement", "spokesperson/reply")
    ]
    facts, rules = as_recorded(found.facts), RULES["statement"]
    assert state_at(rules, facts, at("2022-03-11T23:29:59+00:00"), NOW) is None
    made = state_at(rules, facts, at("2022-03-11T23:30:00+00:00"), NOW)
    assert made.in_response_to == ("policy:acme/conduct@2",) and made.actor == "spokesperson"
