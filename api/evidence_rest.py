"""REST for evidence, beside GraphQL's: the public key at /.well-known/timeline-key, signed
tree heads and RFC 9162 proofs under /log, evidence bundles at /evidence (and their printable
report at /evidence/report), as plain JSON a verifier can fetch with curl."""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from api.context import refuse_closed_read, run
from api.rest_parameters import ACTOR_SCHEMA, CURSOR_SCHEMA, END, Parameter
from api.streams import REFUSALS
from domain.errors import InvalidInput, NotFound, NotYetKnown
from domain.values import INSTANT_PATTERN, check_slug, parse_instant
from timeline import cursors, eventstore, evidence, evidence_check, evidence_report, proofs, signing
from timeline.bootstrap import Services
from timeline.integrity import TreeHead

router = APIRouter(tags=["evidence"])

#: Declared here and read as text by our parsers, so a refusal is 400 BAD_INPUT, never 422.
KNOWN_AT = Parameter(
    "knownAt",
    "query",
    {
        "type": "string",
        "pattern": f"^(?:{INSTANT_PATTERN}){END}",
        "maxLength": 64,
        "examples": ["2022-03-12T00:00:00+03:00"],
    },
    "The head as of this instant (ISO 8601 with an offset).",
)
KNOWN_AT_POSITION = Parameter(
    "knownAtPosition", "query", CURSOR_SCHEMA, "The head right after this log position."
)
POSITION = Parameter("position", "query", CURSOR_SCHEMA, "The event's log position.")
TREE_SIZE = Parameter("treeSize", "query", CURSOR_SCHEMA, "The tree to prove against (now).")
VALID_AT = Parameter(
    "validAt",
    "query",
    KNOWN_AT.schema,
    "The moment in the world asked about (ISO 8601 with an offset); default now.",
)
KIND = Parameter(
    "kind",
    "query",
    {"type": "string", "enum": list(evidence_check.KINDS)},
    "What is asked about: policy, regulatory-action or statement.",
)
ID = Parameter("id", "query", ACTOR_SCHEMA | {"examples": ["meta/hate-speech"]}, "Its id (slug).")
FROM = Parameter("from", "query", CURSOR_SCHEMA, "The earlier tree size (>= 1).")
TO = Parameter("to", "query", CURSOR_SCHEMA, "The later tree size (default: now).")
RESPONSES: dict[int | str, dict[str, Any]] = {
    **REFUSALS,
    404: {"description": "NOT_FOUND: no event at that position."},
}


def _numbers(request: Request, *parameters: Parameter) -> list[int | None]:
    """Non-negative integer parameters (ASCII digits, 64-bit), None when absent; every value
    is checked before any requirement, so a refusal names a value that is wrong if any is."""
    return [cursors.optional_position(p.value(request), p.name) for p in parameters]


def _required(parameter: Parameter, value: int | None) -> int:
    if value is None:
        raise InvalidInput(parameter.name, "is required")
    return value


def _declared(*parameters: tuple[Parameter, bool]) -> dict[str, Any]:
    """The OpenAPI parameters, the required ones marked so."""
    return {"parameters": [p.openapi() | {"required": needed} for p, needed in parameters]}


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def _error(
    status: int, code: str, field: str | None, message: str, extra: dict[str, Any] | None = None
) -> JSONResponse:
    """The REST error body; `extra`: the error's extensions beside its code (firstKnownAt)."""
    body = {"code": code, "field": field, "message": message, **(extra or {})}
    return JSONResponse(status_code=status, content={"error": body})


def signed_head(services: Services, head: TreeHead) -> dict[str, Any]:
    """A head as JSON: the GraphQL SignedTreeHead's fields, signed."""
    return signing.head_json(signing.signer(services.settings).sign(head))


async def _answer(request: Request, build: Any) -> JSONResponse:
    """Run `build` off the loop; domain refusals become 400 / 404 naming the field."""
    refused = await refuse_closed_read(request)
    if refused is not None:
        return refused
    try:
        return JSONResponse(await run(build, _services(request)))
    except InvalidInput as error:
        return _error(400, "BAD_INPUT", error.field, str(error))
    except (NotFound, NotYetKnown) as error:
        return _error(404, error.code, None, str(error), error.extensions)


@router.get(
    "/.well-known/timeline-key",
    summary="The public key that signs tree heads.",
    responses=RESPONSES,
)
async def timeline_key(request: Request) -> JSONResponse:
    def build(services: Services) -> dict[str, Any]:
        return signing.key_json(signing.signer(services.settings))

    return await _answer(request, build)


@router.get(
    "/log/head",
    summary="The signed tree head, now or as known at an instant or right after a position.",
    responses=RESPONSES,
    openapi_extra=_declared((KNOWN_AT, False), (KNOWN_AT_POSITION, False)),
)
async def log_head(request: Request) -> JSONResponse:
    def build(services: Services) -> dict[str, Any]:
        (position,) = _numbers(request, KNOWN_AT_POSITION)  # before the instant's calendar
        text = KNOWN_AT.value(request)
        instant = None if text is None else parse_instant("knownAt", text)
        return signed_head(services, proofs.head_for(services.timeline.engine, instant, position))

    return await _answer(request, build)


@router.get(
    "/log/proofs/inclusion",
    summary="RFC 9162 inclusion proof of the event at a position.",
    responses=RESPONSES,
    openapi_extra=_declared((POSITION, True), (TREE_SIZE, False)),
)
async def inclusion(request: Request) -> JSONResponse:
    def build(services: Services) -> dict[str, Any]:
        position, tree_size = _numbers(request, POSITION, TREE_SIZE)
        timeline = services.timeline
        events = eventstore.events_table(timeline.recorder)
        found = proofs.prove_inclusion(
            timeline.engine, events, _required(POSITION, position), tree_size
        )
        leaf = found.stored.leaf
        return {
            "position": leaf.position,
            "leafIndex": found.stored.leaf_index,
            "treeSize": found.head.tree_size,
            "leaf": leaf.canonical().decode(),
            "leafHash": leaf.hash().hex(),
            "salt": found.stored.salt.hex(),
            "path": [p.hex() for p in found.path],
            "head": signed_head(services, found.head),
        }

    return await _answer(request, build)


@router.get(
    "/log/proofs/consistency",
    summary="RFC 9162 consistency proof between two tree sizes.",
    responses=RESPONSES,
    openapi_extra=_declared((FROM, True), (TO, False)),
)
async def consistency(request: Request) -> JSONResponse:
    def build(services: Services) -> dict[str, Any]:
        first, second = _numbers(request, FROM, TO)
        engine = services.timeline.engine
        found = proofs.prove_consistency(engine, _required(FROM, first), second)
        return {
            "fromSize": found.first.tree_size,
            "toSize": found.second.tree_size,
            "path": [p.hex() for p in found.path],
            "fromHead": signed_head(services, found.first),
            "toHead": signed_head(services, found.second),
        }

    return await _answer(request, build)


def _bundle(request: Request, services: Services) -> dict[str, Any]:
    """The evidence bundle the query parameters ask for (timeline/evidence.py)."""
    (position,) = _numbers(request, KNOWN_AT_POSITION)
    kind = _required_text(KIND, request)
    if kind not in evidence_check.KINDS:  # checked before the instants: the document's first
        raise InvalidInput(KIND.name, f"must be one of {', '.join(evidence_check.KINDS)}")
    slug = check_slug(ID.name, _required_text(ID, request))
    texts = [p.value(request) for p in (VALID_AT, KNOWN_AT)]
    for parameter, text in zip((VALID_AT, KNOWN_AT), texts, strict=True):
        if text is not None and not re.fullmatch(INSTANT_PATTERN, text):  # the document's
            parse_instant(parameter.name, text)  # refusal first, then a 30 February's
    valid, known = (
        None if text is None else parse_instant(p.name, text)
        for p, text in zip((VALID_AT, KNOWN_AT), texts, strict=True)
    )
    return evidence.build(services.timeline, kind, slug, valid, known, position)


def _required_text(parameter: Parameter, request: Request) -> str:
    value = parameter.value(request)
    if value is None:
        raise InvalidInput(parameter.name, "is required")
    return value


_EVIDENCE = _declared(
    (KIND, True), (ID, True), (VALID_AT, False), (KNOWN_AT, False), (KNOWN_AT_POSITION, False)
)


@router.get(
    "/evidence",
    summary="An evidence bundle: an answer, its events with inclusion proofs, one signed head.",
    responses=RESPONSES,
    openapi_extra=_EVIDENCE,
)
async def evidence_bundle(request: Request) -> JSONResponse:
    return await _answer(request, lambda services: _bundle(request, services))


@router.get(
    "/evidence/report",
    summary="The printable HTML report of an evidence bundle.",
    responses=RESPONSES,
    openapi_extra=_EVIDENCE,
    response_class=HTMLResponse,
)
async def evidence_bundle_report(request: Request) -> Response:
    answered = await _answer(request, lambda services: _bundle(request, services))
    if answered.status_code != 200:
        return answered
    return HTMLResponse(evidence_report.render(json.loads(bytes(answered.body))))
