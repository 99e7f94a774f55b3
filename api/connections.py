"""Relay-style connections over the projections' keyset pages: edges with opaque cursors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

import strawberry

from api.types import ActorType, PolicyType, RegulatoryActionType, StatementType, TimelineEntryType
from projections import models as m
from projections.decode import encode_cursor

T = TypeVar("T")


@strawberry.type(description="Where a page of a connection sits (Relay), for every list.")
class PageInfo:
    has_next_page: bool = strawberry.field(description="Whether items follow this page.")
    has_previous_page: bool = strawberry.field(
        description="Whether items come before it: true when the page was asked `after` a "
        "cursor (paging is forward only)."
    )
    end_cursor: str | None = strawberry.field(
        description="Opaque; pass as `after` for the next page."
    )
    start_cursor: str | None = strawberry.field(description="The cursor of the first item.")


@strawberry.type(description="One item of a page with its cursor (Relay).")
class Edge(Generic[T]):
    cursor: str = strawberry.field(description="Opaque; pass as `after` to page on from here.")
    node: T = strawberry.field(description="The item.")


@strawberry.type
class Connection(Generic[T]):
    edges: list[Edge[T]] = strawberry.field(description="The page's items with their cursors.")
    nodes: list[T] = strawberry.field(description="The page's items, without cursors.")
    page_info: PageInfo = strawberry.field(description="Where the page sits; how to go on.")
    total_count: int | None = strawberry.field(
        description="How many items match in all pages; null where not counted."
    )


C = TypeVar("C", bound=Connection[Any])
#: The sort keys of the projections' keyset pages, which their cursors encode.
BY_SLUG: Callable[[Any], list[Any]] = lambda item: [item.slug]  # noqa: E731
#: The timeline feed's key: (instant, position, announcement first), TimelineEntry.feed_key.
BY_FEED_INSTANT: Callable[[Any], list[Any]] = m.TimelineEntry.feed_key


def connection(
    cls: type[C],
    page: m.Page[Any],
    node: Callable[[Any], Any],
    key: Callable[[Any], list[Any]],
    after: str | None,
) -> C:
    """A Relay-style connection for a page (asked `after` a cursor, or from the start): an
    edge with its cursor for every node."""
    nodes = [node(item) for item in page.items]
    edges = [
        Edge(cursor=encode_cursor(key(item)), node=value)
        for item, value in zip(page.items, nodes, strict=True)
    ]
    return cls(
        edges=edges,
        nodes=nodes,
        total_count=page.total_count,
        page_info=PageInfo(
            has_next_page=page.has_next_page,
            has_previous_page=after is not None,
            end_cursor=page.end_cursor,
            start_cursor=page.start_cursor,
        ),
    )


@strawberry.type(description="A page of policies (Relay connection).")
class PolicyConnection(Connection[PolicyType]):
    pass


@strawberry.type(description="A page of regulatory actions (Relay connection).")
class RegulatoryActionConnection(Connection[RegulatoryActionType]):
    pass


@strawberry.type(description="A page of timeline entries (Relay connection).")
class TimelineConnection(Connection[TimelineEntryType]):
    pass


@strawberry.type(description="A page of actors (Relay connection).")
class ActorConnection(Connection[ActorType]):
    pass


@strawberry.type(description="A page of statements (Relay connection).")
class StatementConnection(Connection[StatementType]):
    pass
