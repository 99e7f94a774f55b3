"""The REST parameters' OpenAPI schemas (api/rest_parameters.py) are exactly the parsers'
rules: a value a schema allows is taken, any other refused naming the parameter. So a fuzzer
that follows the document sends only valid values, and its negative mode only invalid ones."""

from __future__ import annotations

import urllib.parse
from collections.abc import Sequence
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.requests import Request

from api import rest_parameters as rp
from domain.errors import InvalidInput
from domain.values import ISO_3166

SLUG_200 = "a" * 200
HOSTILE_TEXT = [
    "",
    " ",
    "0",
    "00",
    "5",
    "+5",
    "-1",
    " 5",
    "5 ",
    "5\n",
    "1_0",
    "\u0665",  # Arabic-Indic 5
    "\uff15",  # fullwidth 5
    "\u00b2",
    "10000",
    "010000",
    "10001",
    "9223372036854775807",
    "9223372036854775808",
    "0" * 64,
    "0" * 65,
    "meta",
    "meta\n",
    "Meta",
    "meta/hate-speech",
    "meta//x",
    "meta/",
    SLUG_200,
    SLUG_200 + "a",
    "policy:meta/hate-speech",
    "policy:meta/hate-speech@2",
    "policy:meta@0",
    "policy:meta@00",
    "policy:meta@01",
    "policy:meta@" + "9" * 18,
    "policy:meta@" + "9" * 19,
    "policy:meta@" + "1" * 5000,  # beyond Python's int() digit limit: was a 500
    "policy:" + SLUG_200,
    "policy:" + SLUG_200 + "a",
    "actor:" + SLUG_200 + "@3",
    "nosuchkind:meta",
    "policy:meta:x",
    ":meta",
    "ru",
    "RU",
    "Ru",
    "EU",
    "ZZ",
    "\u00df",  # ß: its upper() is SS, South Sudan
    "\u0131e",  # a dotless i and e: upper() gives IE, Ireland
    "PolicyRevised",
    "org.policy-timeline.PolicyRevised",
    "org.policy-timeline.org.policy-timeline.PolicyRevised",
    "policyrevised",
]


def request(query: Sequence[tuple[str, str]], headers: Sequence[tuple[str, str]] = ()) -> Request:
    """A bare ASGI request with this query and these headers, as the server parses them."""
    return Request(
        {
            "type": "http",
            "method": "GET",
            "path": "/events",
            "query_string": urllib.parse.urlencode(query).encode(),
            "headers": [(k.lower().encode(), v.encode("latin-1")) for k, v in headers],
        }
    )


PARAMETERS = [rp.AFTER, rp.LIMIT, rp.LAST_EVENT_ID, *rp.FILTERS]
READERS: dict[str, Any] = {
    "after": rp.cursor,
    "limit": rp.limit,
    "Last-Event-ID": rp.stream_cursor,
    **{p.name: rp.event_filter for p in rp.FILTERS},
}


def allowed(parameter: rp.Parameter, value: str) -> bool:
    return jsonschema.Draft202012Validator(parameter.schema).is_valid(value)


def accepted(parameter: rp.Parameter, value: str) -> bool:
    given_ = request([(parameter.name, value)]) if parameter.location == "query" else None
    if given_ is None:
        given_ = request([], [(parameter.name, value)])
    try:
        READERS[parameter.name](given_)
    except InvalidInput as error:
        assert error.field.removeprefix("filter.").split("[")[0] == parameter.name, error
        return False
    return True


def header_safe(parameter: rp.Parameter, value: str) -> bool:
    """A header value is latin-1 without CR, LF or outer whitespace (HTTP strips that)."""
    if parameter.location != "header":
        return True
    return (
        value == value.strip(" \t")
        and "\r" not in value
        and "\n" not in value
        and (value.isascii() or all(ord(c) < 256 for c in value))
    )


@pytest.mark.parametrize(
    ("parameter", "value"),
    [(p, v) for p in PARAMETERS for v in HOSTILE_TEXT if header_safe(p, v)],
    ids=lambda x: x.name if isinstance(x, rp.Parameter) else repr(x)[:30],
)
def test_the_schema_allows_exactly_what_the_parser_accepts(
    parameter: rp.Parameter, value: str
) -> None:
    assert allowed(parameter, value) == accepted(parameter, value)


@pytest.mark.parametrize("parameter", PARAMETERS, ids=lambda p: p.name)
def test_values_drawn_from_the_schema_or_anywhere_agree_with_the_parser(
    parameter: rp.Parameter,
) -> None:
    pattern = parameter.schema.get("pattern")
    drawn = st.from_regex(pattern) if pattern else st.sampled_from(parameter.schema["enum"])
    near = st.sampled_from(HOSTILE_TEXT)

    @settings(max_examples=150, deadline=None, database=None)
    @given(st.one_of(drawn, near, st.text(max_size=12), st.text("0123456789", max_size=25)))
    def agree(value: str) -> None:
        if header_safe(parameter, value):
            assert allowed(parameter, value) == accepted(parameter, value), value

    agree()


def test_every_jurisdiction_in_either_case_and_no_other_two_letters() -> None:
    (jurisdiction,) = [p for p in rp.FILTERS if p.name == "jurisdiction"]
    for first in map(chr, range(ord("A"), ord("Z") + 1)):
        for second in map(chr, range(ord("A"), ord("Z") + 1)):
            code = first + second
            for spelling in (code, code.lower(), first + second.lower()):
                assert allowed(jurisdiction, spelling) == (code in ISO_3166), spelling
                assert accepted(jurisdiction, spelling) == (code in ISO_3166), spelling


def test_a_parameter_given_twice_is_refused_and_a_bad_after_beside_last_event_id() -> None:
    with pytest.raises(InvalidInput) as twice:
        rp.cursor(request([("after", "1"), ("after", "2")]))
    assert twice.value.field == "after"
    with pytest.raises(InvalidInput) as beside:
        rp.stream_cursor(request([("after", "x")], [("Last-Event-ID", "3")]))
    assert beside.value.field == "after"
    assert rp.stream_cursor(request([("after", "1")], [("Last-Event-ID", "3")])) == 3
    assert rp.stream_cursor(request([("after", "1")], [("Last-Event-ID", "")])) == 1
