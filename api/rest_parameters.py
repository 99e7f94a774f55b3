"""The REST parameters of /events and /events/stream, declared in one place: each one's OpenAPI
schema, exactly as tight as the server's parsers (a fuzzer that follows it sends only values
the server takes, and a value outside it is refused), and its reading from the request.

FastAPI declares and validates nothing here: every value reaches our parsers (timeline/cursors,
EventFilter) as text, so a refusal is our 400 BAD_INPUT naming the field, never a 422.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from fastapi import Request

from domain.errors import InvalidInput
from domain.values import AGGREGATE_KINDS, ISO_3166, MAX_SLUG_LENGTH, SLUG_PATTERN
from timeline import cursors
from timeline.streams.cloudevents import TYPE_PREFIX
from timeline.streams.reader import EVENT_TYPES, EventFilter

MAX_LIMIT = 10_000
DEFAULT_LIMIT = 1000
#: The end of the value. Not `$`: in Python's reading (and so in the validators and generators
#: of Python fuzzers) `$` also matches before a trailing newline, which the parsers refuse.
END = r"(?![\s\S])"


def _inner(pattern: str) -> str:
    """A `^...$` pattern without its anchors, to be part of a larger one."""
    return pattern.removeprefix("^").removesuffix("$")


def _whole(body: str) -> str:
    return f"^(?:{body}){END}"


def _either_case(code: str) -> str:
    return "".join(f"[{c}{c.lower()}]" for c in code)


_SLUG = _inner(SLUG_PATTERN)
#: A slug of at most MAX_SLUG_LENGTH characters (it holds no '@', which may follow it).
_BOUNDED_SLUG = f"(?=[^@]{{1,{MAX_SLUG_LENGTH}}}(?:@|{END})){_SLUG}"
_KINDS = "|".join(re.escape(kind) for kind in AGGREGATE_KINDS)
#: Digits of an event version (Reference.parse): at least 1, at most 18 digits.
_VERSION = "@(?=[0-9]{1,18}" + END + ")0*[1-9][0-9]*"
#: '' means "not given" for both cursors and the limit.
_LIMIT = rf"(?:0*(?:[1-9][0-9]{{0,3}}|{MAX_LIMIT}))?"

CURSOR_SCHEMA: dict[str, Any] = {
    "type": "string",
    "pattern": _whole(f"(?:{_inner(cursors.POSITION_PATTERN)})?"),
    "maxLength": cursors.MAX_CURSOR_LENGTH,
    "examples": ["0", "42"],
}
LIMIT_SCHEMA: dict[str, Any] = {
    "type": "string",
    "pattern": _whole(_LIMIT),
    "maxLength": cursors.MAX_CURSOR_LENGTH,
    "examples": ["100"],
}
TYPE_SCHEMA: dict[str, Any] = {
    "type": "string",
    "enum": sorted(EVENT_TYPES) + sorted(TYPE_PREFIX + name for name in EVENT_TYPES),
}
ACTOR_SCHEMA: dict[str, Any] = {
    "type": "string",
    "pattern": _whole(_SLUG),
    "maxLength": MAX_SLUG_LENGTH,
    "examples": ["meta"],
}
AGGREGATE_SCHEMA: dict[str, Any] = {
    "type": "string",
    "pattern": _whole(f"{_BOUNDED_SLUG}|(?:{_KINDS}):{_BOUNDED_SLUG}(?:{_VERSION})?"),
    "examples": ["meta/hate-speech", "policy:meta/hate-speech"],
}
JURISDICTION_SCHEMA: dict[str, Any] = {
    "type": "string",
    "pattern": _whole("|".join(_either_case(code) for code in sorted(ISO_3166))),
    "examples": ["RU", "eu"],
}


@dataclass(frozen=True)
class Parameter:
    """One query parameter or header: its name, schema and description."""

    name: str
    location: Literal["query", "header"]
    schema: dict[str, Any]
    description: str
    repeatable: bool = False

    def openapi(self) -> dict[str, Any]:
        schema = {"type": "array", "items": self.schema} if self.repeatable else self.schema
        declared: dict[str, Any] = {
            "name": self.name,
            "in": self.location,
            "required": False,
            "description": self.description,
            "schema": schema,
        }
        if self.repeatable:
            declared |= {"style": "form", "explode": True}
        return declared

    def values(self, request: Request) -> list[str]:
        source = request.query_params if self.location == "query" else request.headers
        return list(source.getlist(self.name))

    def value(self, request: Request) -> str | None:
        """The one value given, None if absent; given more than once is refused."""
        values = self.values(request)
        if len(values) > 1:
            raise InvalidInput(self.name, "is given more than once; give it once")
        return values[0] if values else None


AFTER = Parameter(
    "after",
    "query",
    CURSOR_SCHEMA,
    "Position to start after (exclusive): the `position` of the last event received, ASCII "
    f"digits, at most {cursors.MAX_POSITION}; absent or empty: the start of the log.",
)
LAST_EVENT_ID = Parameter(
    "Last-Event-ID",
    "header",
    CURSOR_SCHEMA,
    "Set by reconnecting EventSource clients to the last `id` received; when not empty it "
    "takes precedence over `after` (both must be valid cursors).",
)
LIMIT = Parameter(
    "limit",
    "query",
    LIMIT_SCHEMA,
    f"Most events, 1..{MAX_LIMIT} in ASCII digits; absent or empty: {DEFAULT_LIMIT}.",
)
KIND_SCHEMA: dict[str, Any] = {"type": "string", "enum": list(AGGREGATE_KINDS)}


@dataclass(frozen=True)
class Criterion:
    """One filter criterion: its EventFilter.build argument and the parameters that give it,
    named as the GraphQL `EventFilter` fields are (the list and its singular shorthand)."""

    argument: str
    parameters: tuple[Parameter, ...]


def _criterion(
    argument: str, plural: str, singular: str | None, schema: dict[str, Any], what: str
) -> Criterion:
    names = (plural, singular) if singular else (plural,)
    return Criterion(
        argument,
        tuple(
            Parameter(
                name,
                "query",
                schema,
                f"Only events {what}. Repeatable (any may match)"
                + ("." if name == plural else f"; the same as `{plural}`."),
                repeatable=True,
            )
            for name in names
        ),
    )


CRITERIA = (
    _criterion(
        "aggregates",
        "aggregateIds",
        "aggregate",
        AGGREGATE_SCHEMA,
        "of these aggregates: `kind:slug` (a version suffix `@n` is ignored) or a bare slug",
    ),
    _criterion("kinds", "aggregateKinds", None, KIND_SCHEMA, "of aggregates of these kinds"),
    _criterion(
        "types",
        "types",
        "type",
        TYPE_SCHEMA,
        "of these types, with or without the CloudEvents prefix",
    ),
    _criterion("actors", "actors", "actor", ACTOR_SCHEMA, "concerning these actors (slugs)"),
    _criterion(
        "jurisdictions",
        "jurisdictions",
        "jurisdiction",
        JURISDICTION_SCHEMA,
        "concerning these ISO 3166-1 alpha-2 codes (or EU), either case",
    ),
)
#: The filter parameters of /events and /events/stream, the GraphQL EventFilter's names.
FILTERS = tuple(parameter for criterion in CRITERIA for parameter in criterion.parameters)


def openapi(*parameters: Parameter) -> dict[str, Any]:
    """The `openapi_extra` of a route taking these parameters."""
    return {"parameters": [parameter.openapi() for parameter in parameters]}


def cursor(request: Request, parameter: Parameter = AFTER) -> int:
    """The cursor a parameter gives, by the one parser (absent or '': the start, 0)."""
    return cursors.start_position(parameter.value(request), parameter.name)


def stream_cursor(request: Request) -> int:
    """The SSE cursor: Last-Event-ID when not empty, else `after`; both are checked."""
    after = cursor(request, AFTER)
    if LAST_EVENT_ID.value(request):
        return cursor(request, LAST_EVENT_ID)
    return after


def limit(request: Request) -> int:
    """The page size: ASCII digits, 1..MAX_LIMIT (absent or '': DEFAULT_LIMIT)."""
    text = LIMIT.value(request)
    if text is None or text == "":
        return DEFAULT_LIMIT
    if re.fullmatch(r"[0-9]{1,64}", text) is None:
        shown = repr(text) if len(text) <= 40 else "this value"
        raise InvalidInput("limit", f"{shown} is not a whole number in ASCII digits")
    value = int(text)
    if not 1 <= value <= MAX_LIMIT:
        raise InvalidInput("limit", f"must be between 1 and {MAX_LIMIT}")
    return value


def event_filter(request: Request) -> EventFilter:
    """The filter of the repeatable parameters, checked by EventFilter.build; a bad value is
    refused naming the parameter as sent (`actors`, or `actor` for the shorthand)."""
    given: dict[str, list[str]] = {}
    for criterion in CRITERIA:
        for parameter in criterion.parameters:
            for value in parameter.values(request):
                try:
                    EventFilter.build(**{criterion.argument: [value]})
                except InvalidInput as error:
                    raise InvalidInput(parameter.name, error.reason) from None
                given.setdefault(criterion.argument, []).append(value)
    return EventFilter.build(**given)


def check_known(request: Request, *parameters: Parameter) -> None:
    """Refuse a query parameter the endpoint does not take (a typo would otherwise widen the
    answer to the whole log), naming it; `token` and `access_token`, which some clients add
    for proxies, are let through (and redacted from the log)."""
    known = {p.name for p in parameters if p.location == "query"} | {"token", "access_token"}
    for name in request.query_params:
        if name not in known:
            shown = name if len(name) <= 200 else name[:197] + "..."
            raise InvalidInput(
                shown,
                "is not a parameter of this endpoint; it takes "
                + ", ".join(sorted(known - {"token", "access_token"})),
            )
