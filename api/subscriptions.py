"""GraphQL subscriptions over graphql-transport-ws: `events(after, filter)` catches up from the
cursor, then streams live events from this process's fan-out, in log order, once each.

A subscriber that falls too far behind is ended with a SLOW_SUBSCRIBER error that names the
cursor to resume from (`after`); the writers and other subscribers never wait for it.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry
from strawberry.types import Info

from api.context import Context
from api.errors import ApiError
from api.events import EventType, Filter, LogCursor, event_from, parse_cursor, stream_filter
from timeline.streams.fanout import Fanout, SubscriberTooSlow
from timeline.streams.reader import StreamEvent


class SlowSubscriber(ApiError):
    """The subscription was ended because its buffer filled; resume from `after`."""

    code = "SLOW_SUBSCRIBER"

    def __init__(self, message: str) -> None:
        super().__init__(message, "after")


def _fanout(info: Info[Context, None]) -> Fanout:
    request = info.context.request
    fanout = getattr(request.app.state, "fanout", None) if request is not None else None
    if not isinstance(fanout, Fanout):
        raise RuntimeError("the event fan-out is not running (see api.streams.running)")
    return fanout


def graphql_event(item: StreamEvent) -> EventType:
    """The `Event` for a stream event, built once and shared by every subscriber it reaches
    (the fan-out hands them the same StreamEvent; nothing downstream changes the object)."""
    event = item.renderings.get("graphql")
    if not isinstance(event, EventType):
        event = item.renderings["graphql"] = event_from(item.logged, item.slug)
    return event


@strawberry.type(description="Live events over graphql-transport-ws.")
class Subscription:
    @strawberry.subscription(
        description=(  # type: ignore[untyped-decorator]
            "Every event after the cursor `after` (a position; default the start), then live "
            "events as they are recorded, in log order, each once. Resume after a disconnect "
            "with the `position` of the last event received. A subscriber that falls too far "
            "behind is ended with the error code SLOW_SUBSCRIBER; it may resume the same way."
        )
    )
    async def events(
        self, info: Info[Context, None], after: LogCursor = None, filter: Filter = None
    ) -> AsyncGenerator[EventType, None]:
        await info.context.authorize_read()
        cursor = parse_cursor(after)
        wanted = stream_filter(filter)
        source = _fanout(info).events(cursor, wanted)
        try:
            async for item in source:
                yield graphql_event(item)
        except SubscriberTooSlow as error:
            raise SlowSubscriber(str(error)) from None
        finally:
            await source.aclose()  # type: ignore[attr-defined]
