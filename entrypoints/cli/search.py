"""`timeline search`: full-text search in time from a terminal (projections/search.py)."""

from __future__ import annotations

import typer

from entrypoints.cli.console import basis, out, parse_instant, print_json, read_models
from entrypoints.cli.query import JSON, KNOWN_AT, POSITION, VALID_AT

#: The search's argument names as the command line spells them.
_OPTIONS = {"query": "QUERY", "kinds": "--kind", "first": "--first", "after": "--after"}


def register(app: typer.Typer) -> None:
    app.command("search")(search)


def search(
    query: str = typer.Argument(
        ..., metavar="QUERY", help='Words to find; "quoted words" form a phrase.'
    ),
    valid_at: str | None = VALID_AT,
    known_at: str | None = KNOWN_AT,
    position: str | None = POSITION,
    kind: list[str] = typer.Option(
        [], "--kind", help="policy, regulatory-action or statement (repeatable); default all."
    ),
    first: int = typer.Option(20, "--first", help="How many hits, best first."),
    as_json: bool = JSON,
) -> None:
    """Which policies, regulatory actions and statements said these words at a moment
    (--valid-at), as known at another (--known-at, or right after log position --position)."""
    from rich.markup import escape
    from rich.table import Table

    from domain.errors import InvalidInput
    from projections import search as fulltext

    valid, known = parse_instant("--valid-at", valid_at), parse_instant("--known-at", known_at)
    with read_models() as engine:
        at_position = basis(engine, known, position)
        try:
            page = fulltext.search(engine, query, valid, at_position, kinds=kind, first=first)
        except InvalidInput as refused:  # name the argument as typed here
            name = refused.field.split("[")[0]
            raise InvalidInput(_OPTIONS.get(name, refused.field), refused.reason) from None
    if as_json:
        print_json(
            {
                "totalCount": page.total_count,
                "hits": [
                    {
                        "kind": h.kind,
                        "id": h.slug,
                        "title": h.title,
                        "rank": h.rank,
                        "snippets": [{"field": s.field, "text": s.text} for s in h.snippets],
                    }
                    for h in page.items
                ],
            }
        )
        return
    if not page.items:
        out().print(f"nothing said {query!r} at that moment (as known then)")
        return
    table = Table(title=f"{page.total_count} hit(s) for {query!r}")
    for column in ("kind", "id", "title", "snippet"):
        table.add_column(column)
    for hit in page.items:
        snippet = hit.snippets[0] if hit.snippets else None
        marked = (
            "".join(f"[bold]{escape(t)}[/bold]" if on else escape(t) for t, on in snippet.fragments)
            if snippet
            else ""
        )
        table.add_row(hit.kind, escape(hit.slug), escape(hit.title), marked)
    out().print(table)
