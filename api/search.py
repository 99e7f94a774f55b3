"""The `search` query: full-text search in time (projections/search.py), as a connection of
hits with their rank and highlighted snippets."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry.types import Info

from api.arguments import After, First, KnownAt, KnownAtPosition, ValidAt
from api.connections import Connection, connection
from api.context import Context, run
from projections import search as fulltext


@strawberry.type(name="SnippetFragment", description="A piece of a snippet's text.")
class SnippetFragmentType:
    text: str = strawberry.field(description="The text of this piece.")
    highlighted: bool = strawberry.field(description="Whether it is a matched word or phrase.")


@strawberry.type(name="SearchSnippet", description="A matching field's text around the match.")
class SearchSnippetType:
    field: str = strawberry.field(
        description="Where it matched: title, summary, clause:<id> (heading and text), text."
    )
    text: str = strawberry.field(description="The snippet as plain text.")
    fragments: list[SnippetFragmentType] = strawberry.field(
        description="The snippet in pieces, the matched ones highlighted."
    )

    @classmethod
    def of(cls, snippet: fulltext.Snippet) -> SearchSnippetType:
        return cls(
            field=snippet.field,
            text=snippet.text,
            fragments=[SnippetFragmentType(text=t, highlighted=h) for t, h in snippet.fragments],
        )


@strawberry.type(
    name="SearchHit", description="A policy, regulatory action or statement that matched."
)
class SearchHitType:
    kind: str = strawberry.field(description="policy, regulatory-action or statement.")
    id: strawberry.ID = strawberry.field(description="Its slug: look it up at the same basis.")
    title: str = strawberry.field(
        description="A policy's title, an action's or statement's summary, at the basis."
    )
    rank: float = strawberry.field(
        description="The database engine's relevance, higher is better (its best field)."
    )
    snippet: str = strawberry.field(description="The best field's snippet as plain text.")
    snippets: list[SearchSnippetType] = strawberry.field(
        description="Snippets of its best-matching fields, best first."
    )

    @classmethod
    def of(cls, hit: fulltext.SearchHit) -> SearchHitType:
        return cls(
            kind=hit.kind,
            id=strawberry.ID(hit.slug),
            title=hit.title,
            rank=hit.rank,
            snippet=hit.snippets[0].text if hit.snippets else "",
            snippets=[SearchSnippetType.of(s) for s in hit.snippets],
        )


@strawberry.type(description="A page of search hits, best first (Relay connection).")
class SearchConnection(Connection[SearchHitType]):
    pass


async def search(
    info: Info[Context, None],
    query: Annotated[
        str,
        strawberry.argument(
            description='Words to find; "quoted words" (or hyphenated-words) form a phrase. '
            "Every word or phrase must be in one field. Operators are not interpreted."
        ),
    ],
    valid_at: ValidAt = None,
    known_at: KnownAt = None,
    known_at_position: KnownAtPosition = None,
    kinds: Annotated[
        list[str] | None,
        strawberry.argument(description="policy, regulatory-action, statement; default all."),
    ] = None,
    first: First = None,
    after: After = None,
) -> SearchConnection:
    """Policies, regulatory actions and statements whose title, summary, clause or text
    said these words at validAt, as known right after the read's log position (knownAt or
    knownAtPosition, resolved as every read's)."""
    await info.context.authorize_read()
    at = await info.context.basis(known_at, known_at_position)
    page = await run(
        fulltext.search,
        info.context.engine,
        query,
        valid_at,
        at,
        kinds=tuple(kinds or ()),
        first=info.context.page_size(first),
        after=after,
    )
    return connection(SearchConnection, page, SearchHitType.of, fulltext.hit_cursor, after)
