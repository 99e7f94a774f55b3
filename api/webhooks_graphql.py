"""GraphQL for webhooks: `addWebhook` (mutation), `webhooks` and `webhookDeliveries` (queries).

Managing webhooks and reading their delivery log need a token with the `write` scope: the log
names receivers' URLs and the mutation hands out a signing secret. Merged into the schema's
Query and Mutation by api/schema.py.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from api.arguments import First
from api.context import Context, run
from api.errors import BadInput
from api.events import EventFilterType, stream_filter
from api.inputs import wire_path
from domain.errors import InvalidInput
from timeline import cursors
from timeline.streams import webhooks


@strawberry.input(description="Where to POST events and which; every given field must match.")
class AddWebhookInput:
    url: str = strawberry.field(
        description="http(s) URL that receives the POSTs: a public address, unless "
        "TIMELINE_WEBHOOK_ALLOWED_HOSTS lists it."
    )
    after: str | None = strawberry.field(
        default=None,
        description=(
            "Deliver the events after this position ('0': the whole log); default: from now on."
        ),
    )
    types: list[str] | None = strawberry.field(
        default=None, description="Event types, e.g. PolicyRevised."
    )
    aggregate_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Slugs (meta/hate-speech) or references (policy:meta/x)."
    )
    aggregate_kinds: list[str] | None = strawberry.field(
        default=None, description="policy, regulatory-action, statement, actor."
    )
    actors: list[str] | None = strawberry.field(
        default=None, description="Actor slugs involved: owner, authority, targets, author."
    )
    jurisdictions: list[str] | None = strawberry.field(
        default=None, description="ISO 3166 codes: an action's jurisdiction or clause scopes."
    )


@strawberry.type(description="A webhook endpoint; its cursor is the last delivered position.")
class WebhookEndpoint:
    id: strawberry.ID = strawberry.field(description="The endpoint's id (for removeWebhook).")
    url: str = strawberry.field(description="Where the events are POSTed.")
    cursor: str = strawberry.field(description="Position of the last event delivered.")
    filter: JSON = strawberry.field(description="Which events it receives, as registered.")
    created_at: datetime = strawberry.field(description="When it was registered.")

    @classmethod
    def of(cls, endpoint: webhooks.Endpoint) -> WebhookEndpoint:
        return cls(
            id=strawberry.ID(endpoint.id),
            url=endpoint.url,
            cursor=str(endpoint.cursor),
            filter=JSON(endpoint.filter.to_dict()),
            created_at=endpoint.created_at,
        )


@strawberry.type(description="The endpoint registered, with its signing secret.")
class AddWebhookResult:
    endpoint: WebhookEndpoint = strawberry.field(description="The endpoint registered.")
    secret: str = strawberry.field(
        description=("Standard Webhooks signing secret (whsec_...); shown only here.")
    )


@strawberry.type(description="One delivery attempt.")
class WebhookDelivery:
    id: strawberry.ID = strawberry.field(description="The attempt's id (pass as `before`).")
    endpoint_id: strawberry.ID = strawberry.field(description="The endpoint it went to.")
    event_id: strawberry.ID = strawberry.field(description="The event (and webhook-id).")
    position: int = strawberry.field(description="The event's global log position.")
    attempt: int = strawberry.field(
        description="1 for the first try, 2 for the first retry, and so on."
    )
    attempted_at: datetime = strawberry.field(description="When it was sent.")
    status_code: int | None = strawberry.field(
        description="The receiver's HTTP status; null: no answer."
    )
    error: str | None = strawberry.field(description="Why it failed, if it did.")
    succeeded: bool = strawberry.field(description="Whether the receiver took it (2xx).")
    duration_ms: int = strawberry.field(description="How long the attempt took, ms.")


def _cursor(field: str, text: str | None) -> int | None:
    """`after`, by the one cursor parser (timeline/cursors.py); absent: from now on."""
    try:
        return cursors.optional_position(text, field)
    except InvalidInput as error:
        raise BadInput(error.field, error.reason) from None


@strawberry.type(description="Managing webhook endpoints.")
class WebhookMutation:
    @strawberry.mutation(  # type: ignore[untyped-decorator]
        description="Register a webhook endpoint (needs the write scope)."
    )
    async def add_webhook(
        self,
        info: Info[Context, None],
        input: Annotated[
            AddWebhookInput, strawberry.argument(description="The endpoint and its filter.")
        ],
    ) -> AddWebhookResult:
        await info.context.require("write")
        wanted = stream_filter(
            EventFilterType(
                types=input.types,
                aggregate_kinds=input.aggregate_kinds,
                aggregate_ids=input.aggregate_ids,
                actors=input.actors,
                jurisdictions=input.jurisdictions,
            ),
            "input",
        )
        try:
            endpoint = await run(
                webhooks.add_endpoint,
                info.context.services.timeline,
                input.url,
                wanted,
                _cursor("input.after", input.after),
            )
        except InvalidInput as error:  # `url` -> `input.url`, as sent
            raise BadInput(wire_path(error.field), error.reason) from None
        return AddWebhookResult(endpoint=WebhookEndpoint.of(endpoint), secret=endpoint.secret)

    @strawberry.mutation(  # type: ignore[untyped-decorator]
        description="Remove a webhook endpoint: nothing more is delivered to it (its "
        "delivery log is kept). NOT_FOUND for an unknown id. Needs the write scope."
    )
    async def remove_webhook(
        self,
        info: Info[Context, None],
        id: Annotated[strawberry.ID, strawberry.argument(description="The endpoint's id.")],
    ) -> strawberry.ID:
        await info.context.require("write")
        await run(webhooks.remove_endpoint, info.context.engine, str(id))
        return id


@strawberry.type(description="Webhook endpoints and their delivery log.")
class WebhookQuery:
    @strawberry.field(  # type: ignore[untyped-decorator]
        description="Webhook endpoints, oldest first (needs the write scope)."
    )
    async def webhooks(self, info: Info[Context, None]) -> list[WebhookEndpoint]:
        await info.context.require("write")
        found = await run(webhooks.list_endpoints, info.context.engine)
        return [WebhookEndpoint.of(e) for e in found]

    @strawberry.field(
        description=(  # type: ignore[untyped-decorator]
            "Delivery attempts, newest first; page with `before` (a delivery id). Needs the "
            "write scope."
        )
    )
    async def webhook_deliveries(
        self,
        info: Info[Context, None],
        endpoint_id: Annotated[
            strawberry.ID | None,
            strawberry.argument(description="Only this endpoint's deliveries; default all."),
        ] = None,
        first: First = None,
        before: Annotated[
            strawberry.ID | None,
            strawberry.argument(description="Older than this delivery id; default the newest."),
        ] = None,
    ) -> list[WebhookDelivery]:
        await info.context.require("write")
        limit = info.context.page_size(first)
        found = await run(
            webhooks.list_deliveries,
            info.context.engine,
            str(endpoint_id) if endpoint_id else None,
            limit,
            _cursor("before", str(before) if before else None),
        )
        return [
            WebhookDelivery(
                id=strawberry.ID(str(d.id)),
                endpoint_id=strawberry.ID(d.endpoint_id),
                event_id=strawberry.ID(d.event_id),
                position=d.position,
                attempt=d.attempt,
                attempted_at=d.attempted_at,
                status_code=d.status_code,
                error=d.error,
                succeeded=d.succeeded,
                duration_ms=d.duration_ms,
            )
            for d in found
        ]
