"""Relay-style connections over the projections' keyset pages: edges with opaque cursors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

import strawberry

from api.types import Actor, Policy, RegulatoryAction, Statement, TimelineEntry
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


@strawberry.type
class Edge(Generic[T]):
    cursor: str = strawberry.field(description="Opaque; pass as `after` to page on from here.")
    node: T


@strawberry.type
class Connection(Generic[T]):
    edges: list[Edge[T]]
    nodes: list[T]
    page_info: PageInfo
    total_count: int | None


C = TypeVar("C", bound=Connection[Any])
#: The sort keys of the projections' keyset pages, which their cursors encode.
BY_SLUG: Callable[[Any], list[Any]] = lambda item: [item.slug]  # noqa: E731
BY_EFFECTIVE_TIME: Callable[[Any], list[Any]] = (  # noqa: E731
    lambda item: [item.effective_at, item.position]
)


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


@strawberry.type
class PolicyConnection(Connection[Policy]):
    pass


@strawberry.type
class RegulatoryActionConnection(Connection[RegulatoryAction]):
    pass


@strawberry.type
class TimelineConnection(Connection[TimelineEntry]):
    pass


@strawberry.type
class ActorConnection(Connection[Actor]):
    pass


@strawberry.type
class StatementConnection(Connection[Statement]):
    pass
