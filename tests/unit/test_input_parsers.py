"""The one cursor parser, the one instant parser and the one time-zone check (issue 12, items 5
and 7): the exact hostile values of the issue, then properties over any string."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.errors import InvalidInput
from domain.values import Reference, check_slug, check_time_zone, day_bounds, parse_instant
from timeline import commands as c
from timeline.cursors import (
    MAX_CURSOR_LENGTH,
    MAX_POSITION,
    POSITION_PATTERN,
    parse_position,
    start_position,
)
from timeline.streams.reader import EventFilter
from timeline.validation import validate

HOSTILE_CURSORS = [
    "99999999999999999999",
    str(2**63),
    "9223372036854775808",
    "²",
    "+3",
    "-1",
    "1_0",
    " 42",
    "42 ",
    "\uff14\uff12",  # fullwidth
    "\u0664\u0662",  # Arabic-Indic
    "0x10",
    "1e3",
    "",
]


@pytest.mark.parametrize("value", HOSTILE_CURSORS)
def test_hostile_cursors_are_refused_naming_the_field(value: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_position(value, "Last-Event-ID")
    assert caught.value.field == "Last-Event-ID"


@pytest.mark.parametrize("field", ["knownAtPosition", "treeSize", "--position"])
def test_a_bad_position_that_is_not_a_stream_cursor_is_not_worded_as_one(field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_position("abc", field)
    assert caught.value.field == field
    assert "is not a log position" in caught.value.reason
    assert "last event received" not in caught.value.reason


@pytest.mark.parametrize("field", ["after", "--after", "Last-Event-ID"])
def test_a_bad_stream_cursor_says_where_its_number_comes_from(field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_position("abc", field)
    assert "the `position` of the last event received" in caught.value.reason


def test_the_largest_position_is_accepted() -> None:
    assert parse_position(str(MAX_POSITION)) == MAX_POSITION
    assert start_position(None) == 0 and start_position("") == 0


@settings(max_examples=300)
@given(st.text(max_size=30))
def test_any_text_that_is_not_ascii_digits_in_range_is_refused(text: str) -> None:
    valid = re.fullmatch(r"[0-9]+", text) is not None and int(text) <= MAX_POSITION
    try:
        value = parse_position(text)
    except InvalidInput as error:
        assert not valid and error.field == "after"
    else:
        assert valid and value == int(text)


@given(st.integers(min_value=0, max_value=MAX_POSITION))
def test_any_valid_position_round_trips(position: int) -> None:
    assert parse_position(str(position)) == position


def _accepted(text: str) -> bool:
    try:
        parse_position(text)
    except InvalidInput:
        return False
    return True


@settings(max_examples=300)
@given(
    st.one_of(
        st.integers(min_value=0, max_value=2**64).map(str),
        st.integers(min_value=MAX_POSITION - 1000, max_value=MAX_POSITION + 1000).map(str),
        st.text(alphabet="0123456789", min_size=1, max_size=MAX_CURSOR_LENGTH),
        st.text(max_size=30),
    )
)
def test_the_openapi_cursor_pattern_matches_exactly_what_the_parser_accepts(text: str) -> None:
    """The REST document's pattern is the parser's rule, so a fuzzer that follows it sends
    only cursors the server takes, and the document promises nothing the server refuses."""
    matches = re.fullmatch(POSITION_PATTERN, text) is not None and len(text) <= MAX_CURSOR_LENGTH
    assert matches == _accepted(text)


HOSTILE_INSTANTS: list[Any] = [
    12345,
    1.5e9,
    "1647000000",
    "1.5e9",
    "2022-03-11T00:00:00+03:00\x00",
    "2022-03-11T00:00:00",
    "2022-03-11",
    "20220311T000000Z",
    "2022-W10-5T00:00Z",
    " 2022-03-11T00:00:00Z",
    None,
    True,
]


@pytest.mark.parametrize("value", HOSTILE_INSTANTS)
def test_hostile_instants_are_refused_naming_the_field(value: Any) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_instant("effectiveAt", value)
    assert caught.value.field == "effectiveAt"


@pytest.mark.parametrize("value", [12345, "1647000000", 1.5e9, "2022-03-11T00:00:00Z\x00"])
def test_commands_refuse_numbers_as_instants(value: Any) -> None:
    body = {"id": "acme", "name": "Acme", "effectiveAt": value}
    with pytest.raises(InvalidInput) as caught:
        validate(c.RenameActor, body)
    assert "effectiveAt" in caught.value.field or "effective_at" in caught.value.field


@given(st.datetimes(timezones=st.just(UTC)))
def test_any_instant_with_an_offset_round_trips(moment: datetime) -> None:
    assert parse_instant("at", moment.isoformat()) == moment


@pytest.mark.parametrize("name", ["__pycache__", "x" * 10_000, "../etc/passwd", "zone.tab", ""])
def test_non_iana_zones_are_refused(name: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        check_time_zone("timeZone", name)
    assert caught.value.field == "timeZone"
    assert len(caught.value.reason) < 200


@pytest.mark.parametrize(
    ("day", "zone"), [(date(9999, 12, 31), "UTC"), (date(1, 1, 1), "Asia/Tokyo")]
)
def test_day_bounds_outside_the_instants_are_refused(day: date, zone: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        day_bounds(day, zone)
    assert caught.value.field == "date"


def test_unknown_event_types_are_refused_like_unknown_jurisdictions() -> None:
    with pytest.raises(InvalidInput) as caught:
        EventFilter.build(types=["PolicyAnnounced", "NoSuchEvent"])
    assert caught.value.field == "filter.type[1]" and "NoSuchEvent" in caught.value.reason
    assert EventFilter.build(types=["org.policy-timeline.PolicyAnnounced"]).types == {
        "PolicyAnnounced"
    }


@pytest.mark.parametrize(
    ("check", "value"),
    [
        (lambda v: check_slug("id", v), "acme\n"),
        (lambda v: Reference.parse("inResponseTo[0]", v), "policy:acme/conduct\n"),
        (lambda v: Reference.parse("inResponseTo[0]", v), "policy:acme/conduct@\u0663"),
        (lambda v: Reference.parse("inResponseTo[0]", v), "policy:acme/conduct@2\n"),
    ],
    ids=["slug-newline", "reference-newline", "reference-arabic-indic-version", "version-newline"],
)
def test_slugs_and_references_are_matched_whole_in_ascii(check: Any, value: str) -> None:
    """`$` alone takes a trailing newline and `\\d` takes any script's digits: both were
    accepted (a slug stored with its newline, `@٣` read as version 3)."""
    with pytest.raises(InvalidInput):
        check(value)
