"""`timeline serve`: the API with the projector in-process, optionally on the demo data set."""

from __future__ import annotations

import typer

from timeline.cli.console import err


def register(app: typer.Typer) -> None:
    """Add `serve` to the root app."""
    app.command("serve")(serve)


def serve(
    demo: bool = typer.Option(False, "--demo",
                              help="Load the March 2022 demo data set first (idempotent)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on."),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="TCP port."),
) -> None:
    """Serve GraphQL at /graphql (and /healthz, /readyz, /metrics, /events) with uvicorn.

    The database is TIMELINE_DATABASE_URL (default: the SQLite file timeline.db in the
    working directory). The projections are kept up to date in this process.
    """
    import uvicorn
    from api.app import create_app  # imported here: api depends on timeline, not the reverse
    from sqlalchemy.engine import make_url

    from timeline.bootstrap import bootstrap
    from timeline.demo import load_demo

    services = bootstrap()
    try:
        if demo:
            added = load_demo(services.timeline)
            err.print(f"demo data set: {added} events added"
                      + (" (already loaded)" if added == 0 else ""))
        database = make_url(services.settings.sqlalchemy_url).render_as_string(
            hide_password=True)
        err.print(f"serving on [bold]http://{host}:{port}/graphql[/] (database: {database})")
        uvicorn.run(create_app(services=services), host=host, port=port, log_level="info")
    finally:
        services.close()
