"""CLI commands: `timeline webhook add|list|remove|deliveries` for signed event deliveries."""

from __future__ import annotations

from typing import Annotated

import typer

from domain.errors import NotFound, TimelineError
from entrypoints.cli.console import has_table, log, services
from timeline import cursors

webhook_app = typer.Typer(
    help="Webhook endpoints: events POSTed as signed CloudEvents "
    "(Standard Webhooks), in order, retried with backoff.",
    no_args_is_help=True,
)


def _fail(error: TimelineError) -> typer.Exit:
    field = getattr(error, "field", None)
    typer.echo(f"error: {field + ': ' if field else ''}{getattr(error, 'reason', error)}", err=True)
    return typer.Exit(2)


@webhook_app.command("add")
def add(
    url: Annotated[
        str,
        typer.Argument(
            help="http(s) URL that receives the POSTs: a public address, unless "
            "TIMELINE_WEBHOOK_ALLOWED_HOSTS lists it."
        ),
    ],
    filter: Annotated[
        list[str] | None,
        typer.Option(
            "--filter",
            help="name=value with name aggregate, type, actor, jurisdiction or kind; "
            "repeat to combine (different names must all match, one name may list choices).",
        ),
    ] = None,
    after: Annotated[
        str | None,
        typer.Option(
            help="Deliver the events after this position (0: the whole log). Default: only "
            "events recorded from now on."
        ),
    ] = None,
) -> None:
    """Register an endpoint and print its id and signing secret (shown only here)."""
    from timeline.streams import webhooks
    from timeline.streams.reader import EventFilter

    with services() as built:
        try:
            endpoint = webhooks.add_endpoint(
                built.timeline,
                url,
                EventFilter.parse(filter or []),
                cursors.optional_position(after, "--after"),
            )
        except TimelineError as error:
            raise _fail(error) from None
    typer.echo(f"{endpoint.id}\t{endpoint.url}\tafter {endpoint.cursor}\t{endpoint.filter}")
    typer.echo(f"secret: {endpoint.secret}")
    typer.echo(
        "verify each delivery's webhook-signature with this secret (Standard Webhooks)", err=True
    )


@webhook_app.command("list")
def list_() -> None:
    """Endpoints with their cursor (last delivered position) and filter; never secrets."""
    from timeline.streams import webhooks

    with log() as timeline:
        if not has_table(timeline.engine, webhooks.endpoints.name):
            return  # none registered yet; a read creates no table
        for endpoint in webhooks.list_endpoints(timeline.engine):
            typer.echo(
                f"{endpoint.id}\t{endpoint.url}\tcursor {endpoint.cursor}\t{endpoint.filter}"
            )


@webhook_app.command("remove")
def remove(endpoint_id: str) -> None:
    """Stop delivering to an endpoint and forget it."""
    from timeline.streams import webhooks

    with log() as timeline:
        try:
            if not has_table(timeline.engine, webhooks.endpoints.name):
                raise NotFound("webhook", endpoint_id)
            webhooks.remove_endpoint(timeline.engine, endpoint_id)
        except TimelineError as error:
            raise _fail(error) from None
    typer.echo(f"removed {endpoint_id}")


@webhook_app.command("deliveries")
def deliveries(
    endpoint_id: Annotated[str | None, typer.Argument(help="Only this endpoint.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 20,
) -> None:
    """The latest delivery attempts, newest first."""
    from timeline.streams import webhooks

    with log() as timeline:
        if not has_table(timeline.engine, webhooks.deliveries.name):
            return  # nothing delivered yet; a read creates no table
        for d in webhooks.list_deliveries(timeline.engine, endpoint_id, limit):
            outcome = "ok" if d.succeeded else f"failed ({d.error})"
            typer.echo(
                f"{d.attempted_at.isoformat()}\t{d.endpoint_id}\t{d.event_id}\t"
                f"attempt {d.attempt}\t{d.status_code or '-'}\t{outcome}"
            )


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.add_typer(webhook_app, name="webhook")
