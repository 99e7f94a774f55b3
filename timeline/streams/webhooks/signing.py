"""Standard Webhooks signing: each endpoint's secret and the signed headers of one POST.

`webhook-id` is the event id (`kind:slug@version`), `webhook-timestamp` the send time, and
`webhook-signature: v1,<HMAC-SHA256>` over both and the body, so a receiver can verify it
with any Standard Webhooks library and drop replays.
"""

from __future__ import annotations

import base64
import secrets
from datetime import datetime
from typing import Protocol

from standardwebhooks.webhooks import Webhook

from timeline.streams.reader import StreamEvent


class Signer(Protocol):
    """What signing needs of an endpoint: its secret."""

    @property
    def secret(self) -> str: ...


def new_secret() -> str:
    """A fresh signing secret, `whsec_` and 24 random bytes in base64 (shown to the receiver
    once, when the endpoint is registered)."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def signed_request(
    endpoint: Signer, event: StreamEvent, now: datetime
) -> tuple[dict[str, str], str]:
    """Standard Webhooks headers and the body for one event."""
    body = event.cloudevent_json
    signature = Webhook(endpoint.secret).sign(event.reference, now, body)
    return {
        "webhook-id": event.reference,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
        # The CloudEvents HTTP binding, structured mode: the whole envelope is the body.
        "content-type": "application/cloudevents+json; charset=utf-8",
    }, body
