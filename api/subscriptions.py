"""GraphQL subscriptions (placeholder until the event-stream issue fills it in)."""

from __future__ import annotations

Subscription: type | None = None
