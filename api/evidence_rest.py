"""REST for evidence, beside GraphQL's: the public key at /.well-known/timeline-key, signed
tree heads and RFC 9162 proofs under /log, as plain JSON a verifier can fetch with curl."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from api.context import allowed, authenticate, run
from api.errors import ApiError, Unauthenticated
from domain.errors import InvalidInput, NotFound
from domain.values import format_instant, parse_instant
from timeline import proofs, signing
from timeline.bootstrap import Services
from timeline.integrity import TreeHead

router = APIRouter(tags=["evidence"])


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def _refused(request: Request) -> JSONResponse | None:
    """Closed with the other reads by `read_requires_token` (the one bearer rule)."""
    services = _services(request)
    if not services.settings.read_requires_token:
        return None
    try:
        allowed(
            await authenticate(services.timeline.engine, request.headers.get("authorization")),
            "read",
        )
    except ApiError as error:
        return _error(
            401 if isinstance(error, Unauthenticated) else 403,
            error.code,
            error.field,
            error.message,
        )
    return None


def _error(status: int, code: str, field: str | None, message: str) -> JSONResponse:
    return JSONResponse(
        status_code=status, content={"error": {"code": code, "field": field, "message": message}}
    )


def signed_head(services: Services, head: TreeHead) -> dict[str, Any]:
    """A head as JSON: the GraphQL SignedTreeHead's fields, signed."""
    signed = signing.signer(services.settings).sign(head)
    return {
        "treeSize": head.tree_size,
        "rootHash": head.hash,
        "position": head.position,
        "recordedAt": format_instant(head.recorded_at) if head.recorded_at else None,
        "checkpoint": signed.checkpoint,
        "signature": signed.signature,
        "keyId": signed.key_id,
        "note": signed.note,
    }


async def _answer(request: Request, build: Any) -> JSONResponse:
    """Run `build` off the loop; domain refusals become 400 / 404 naming the field."""
    refused = await _refused(request)
    if refused is not None:
        return refused
    try:
        return JSONResponse(await run(build, _services(request)))
    except InvalidInput as error:
        return _error(400, "BAD_INPUT", error.field, str(error))
    except NotFound as error:
        return _error(404, "NOT_FOUND", None, str(error))


@router.get("/.well-known/timeline-key", summary="The public key that signs tree heads.")
async def timeline_key(request: Request) -> JSONResponse:
    def build(services: Services) -> dict[str, Any]:
        signer = signing.signer(services.settings)
        return {
            "keyId": signer.key_id,
            "algorithm": signing.ALGORITHM,
            "publicKey": base64.b64encode(signer.public_key).decode(),
            "publicKeyPem": signer.public_pem(),
            "origin": signer.origin,
        }

    return await _answer(request, build)


@router.get("/log/head", summary="The signed tree head, now or as known at an instant/position.")
async def log_head(
    request: Request,
    known_at: Annotated[str | None, Query(alias="knownAt")] = None,
    known_at_position: Annotated[int | None, Query(alias="knownAtPosition")] = None,
) -> JSONResponse:
    def build(services: Services) -> dict[str, Any]:
        instant = _instant(known_at)
        head = proofs.head_for(services.timeline.engine, instant, known_at_position)
        return signed_head(services, head)

    return await _answer(request, build)


@router.get("/log/proofs/inclusion", summary="RFC 9162 inclusion proof of the event at a position.")
async def inclusion(
    request: Request,
    position: Annotated[int, Query()],
    tree_size: Annotated[int | None, Query(alias="treeSize")] = None,
) -> JSONResponse:
    def build(services: Services) -> dict[str, Any]:
        timeline = services.timeline
        events = timeline.recorder.events_record_cls.__table__  # type: ignore[attr-defined]
        proof = proofs.prove_inclusion(timeline.engine, events, position, tree_size)
        leaf = proof.stored.leaf
        return {
            "position": leaf.position,
            "leafIndex": proof.stored.leaf_index,
            "treeSize": proof.head.tree_size,
            "leaf": leaf.canonical().decode(),
            "leafHash": leaf.hash().hex(),
            "salt": proof.stored.salt.hex(),
            "path": [p.hex() for p in proof.path],
            "head": signed_head(services, proof.head),
        }

    return await _answer(request, build)


@router.get("/log/proofs/consistency", summary="RFC 9162 consistency proof between tree sizes.")
async def consistency(
    request: Request,
    first: Annotated[int, Query(alias="from")],
    second: Annotated[int | None, Query(alias="to")] = None,
) -> JSONResponse:
    def build(services: Services) -> dict[str, Any]:
        proof = proofs.prove_consistency(services.timeline.engine, first, second)
        return {
            "fromSize": proof.first.tree_size,
            "toSize": proof.second.tree_size,
            "path": [p.hex() for p in proof.path],
            "fromHead": signed_head(services, proof.first),
            "toHead": signed_head(services, proof.second),
        }

    return await _answer(request, build)


def _instant(text: str | None) -> datetime | None:
    return None if text is None else parse_instant("knownAt", text)
