"""Command input models: every input is either a valid command or InvalidInput naming a field.

Pure: no database. Hypothesis throws arbitrary strings, huge texts, unicode (lone surrogates
included), instants far in the past and future and instants without an offset at every model.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

import pytest
from factories import action, actor, clause, correction, policy, revision, statement
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain import InvalidInput
from domain.values import Reference, check_slug, parse_instant
from timeline import commands as c
from timeline.validation import validate

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

VALID: dict[str, dict[str, Any]] = {
    "registerActor": actor(),
    "renameActor": {"id": "acme", "name": "Acme", "effectiveAt": "2022-01-01T00:00:00Z"},
    "announcePolicy": policy(),
    "revisePolicy": revision(),
    "withdrawPolicy": {"id": "acme/conduct", "effectiveAt": "2022-01-01T00:00:00Z"},
    "announceRegulatoryAction": action(inResponseTo=["policy:acme/conduct@1"]),
    "amendRegulatoryAction": {
        "id": "regulator/fine",
        "kind": "block",
        "effectiveAt": "2022-03-20T00:00:00+03:00",
    },
    "liftRegulatoryAction": {"id": "regulator/fine", "effectiveAt": "2022-04-01T00:00:00Z"},
    "recordStatement": statement(),
    "correctEvent": correction("policy:acme/conduct@1", title="Conduct"),
    "retractEvent": {"event": "policy:acme/conduct@2", "reason": "error"},
    "redactEvent": {"event": "statement:acme/post@1", "reason": "court order"},
}


def _refused(name: str, data: Any) -> InvalidInput:
    with pytest.raises(InvalidInput) as refused:
        validate(c.COMMANDS[name], data)
    return refused.value


@pytest.mark.parametrize("name", sorted(VALID))
def test_every_command_accepts_its_documented_camel_case_shape(name: str) -> None:
    command = validate(c.COMMANDS[name], VALID[name])
    if isinstance(command, c.Timed):
        assert command.payload()["effective_at"].tzinfo == UTC


def test_every_wire_command_has_a_valid_example() -> None:
    assert set(VALID) == set(c.COMMANDS)


@pytest.mark.parametrize("instant", ["2022-03-11T00:00:00", "2022-03-11", "2022-03-11 00:00"])
def test_an_effective_at_without_an_offset_is_refused_never_guessed(instant: str) -> None:
    refused = _refused("revisePolicy", revision(effective_at=instant))
    assert refused.field == "effectiveAt" and "offset" in refused.reason


@pytest.mark.parametrize("instant", ["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00"])
def test_an_instant_that_utc_cannot_hold_is_refused_as_out_of_range(instant: str) -> None:
    refused = _refused("revisePolicy", revision(effective_at=instant))
    assert refused.field == "effectiveAt" and "out of the supported range" in refused.reason


def test_instants_are_stored_in_utc() -> None:
    command = validate(c.RevisePolicy, revision(effective_at="2022-03-14T00:00:00+03:00"))
    assert command.effective_at.isoformat() == "2022-03-13T21:00:00+00:00"
    assert command.payload()["announced_at"] == command.effective_at


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (policy(slug="Meta/Hate Speech"), "id"),
        (policy(owner="-meta"), "owner"),
        (policy(clauses=[clause(scope=["UA", "Ukraine"])]), "clauses[0].scope[1]"),
        (policy(clauses=[clause(scope=["ua"])]), "clauses[0].scope[0]"),
        (policy(clauses=[]), "clauses"),
        (policy(clauses=[clause("a"), clause("a")]), "clauses[1].id"),
        (policy(title="   "), "title"),
        (policy(recordedAt="2022-01-01T00:00:00Z"), "recordedAt"),
        (policy(sources=[{"url": "not a url"}]), "sources[0].url"),
        (policy(expectedVersion=-1), "expectedVersion"),
    ],
)
def test_a_bad_policy_announcement_names_the_field(data: dict[str, Any], field: str) -> None:
    assert _refused("announcePolicy", data).field == field


@pytest.mark.parametrize(
    ("name", "data", "field"),
    [
        ("announceRegulatoryAction", action(jurisdiction="RUS"), "jurisdiction"),
        ("announceRegulatoryAction", action(kind="ban"), "kind"),
        ("announceRegulatoryAction", action(inResponseTo=["meta/hate-speech"]), "inResponseTo[0]"),
        ("announceRegulatoryAction", action(inResponseTo=["policy:meta@0"]), "inResponseTo[0]"),
        ("recordStatement", statement(kind="tweet"), "kind"),
        ("registerActor", actor(kind="company"), "kind"),
        ("correctEvent", correction("policy:acme/conduct", title="x"), "event"),
        ("retractEvent", {"event": "policy:acme/conduct@1"}, "reason"),
        ("redactEvent", {"event": "statement:acme/post@1"}, "reason"),
        ("redactEvent", {"event": "statement:acme/post@1", "reason": " "}, "reason"),
        ("redactEvent", {"event": "statement:acme/post", "reason": "x"}, "event"),
        ("revisePolicy", {"id": "acme/conduct", "effectiveAt": "2022-01-01T00:00:00Z"}, "input"),
    ],
)
def test_a_bad_command_names_the_field(name: str, data: dict[str, Any], field: str) -> None:
    assert _refused(name, data).field == field


def test_a_recorded_at_is_never_accepted_from_a_client() -> None:
    for name, data in VALID.items():
        assert _refused(name, {**data, "recordedAt": "2022-01-01T00:00:00Z"}).field == "recordedAt"


def test_snake_case_field_names_are_accepted_too() -> None:
    command = validate(
        c.RevisePolicy,
        {"id": "acme/conduct", "effective_at": "2022-01-01T00:00Z", "remove_clauses": ["c1"]},
    )
    assert command.remove_clauses == ["c1"]


# -- hypothesis: never anything but a command or InvalidInput --------------------------------

_INSTANTS = st.one_of(
    st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
    st.datetimes().map(lambda d: d.isoformat()),  # no offset
    st.sampled_from(
        [
            "0001-01-01T00:00:00+14:00",
            "9999-12-31T23:59:59-12:00",
            "2022-03-11T00:00:00+25:00",
            "2022-02-30T00:00:00Z",
            "",
        ]
    ),
)
_TEXT = st.one_of(
    st.text(),
    st.text(alphabet=st.characters(codec=None, categories=None)),
    st.just("x" * 250_000),
    st.just("\x00"),
    st.just("\ud800"),
)
_VALUES = st.deferred(
    lambda: st.one_of(
        _TEXT,
        _INSTANTS,
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(),
        st.lists(_VALUES, max_size=3),
        st.dictionaries(st.text(max_size=12), _VALUES, max_size=3),
    )
)


@st.composite
def _inputs(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """A valid command with some fields replaced, removed or added."""
    name = draw(st.sampled_from(sorted(VALID)))
    data = dict(VALID[name])
    keys = sorted(set(data) | {"announcedAt", "expectedVersion", "idempotencyKey", "sources"})
    for key in draw(st.lists(st.sampled_from(keys), max_size=3, unique=True)):
        if draw(st.booleans()):
            data[key] = draw(_INSTANTS if key.endswith("At") else _VALUES)
        else:
            data.pop(key, None)
    if draw(st.booleans()):
        data[draw(st.text(max_size=12))] = draw(_VALUES)
    return name, data


def _field_is_named(error: InvalidInput, data: dict[str, Any]) -> bool:
    field = error.field
    if field == "input" or field.split("[")[0].split(".")[0] in VALID_ALIASES:
        return True
    return any(field == key or field.startswith((f"{key}[", f"{key}.")) for key in map(str, data))


VALID_ALIASES = {
    field.alias or name
    for model in c.COMMANDS.values()
    for name, field in model.model_fields.items()
}


@FUZZ
@given(_inputs())
def test_any_input_is_a_valid_command_or_invalid_input_naming_a_field(
    case: tuple[str, dict[str, Any]],
) -> None:
    name, data = case
    try:
        command = validate(c.COMMANDS[name], data)
    except InvalidInput as error:
        assert error.field and error.reason
        assert _field_is_named(error, data), error
        return
    if isinstance(command, c.Timed):
        payload = command.payload()
        assert payload["effective_at"].tzinfo is not None
        for text in _strings(payload):
            text.encode("utf-8")  # storable: no lone surrogates reach the event store


@FUZZ
@given(st.one_of(_VALUES, st.dictionaries(st.text(max_size=20), _VALUES, max_size=5)))
def test_arbitrary_json_for_any_command_is_refused_with_a_field(value: Any) -> None:
    for model in c.COMMANDS.values():
        try:
            validate(model, value)
        except InvalidInput as error:
            assert error.field and error.reason


@FUZZ
@given(_TEXT)
def test_slugs_references_and_instants_from_arbitrary_text_are_checked(text: str) -> None:
    for check in (
        lambda t: check_slug("id", t),
        lambda t: Reference.parse("event", t),
        lambda t: parse_instant("effectiveAt", t),
    ):
        try:
            check(text)
        except InvalidInput as error:
            assert error.field in ("id", "event", "effectiveAt")


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list | tuple):
        return [s for v in value for s in _strings(v)]
    return []
