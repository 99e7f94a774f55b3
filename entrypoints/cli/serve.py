"""`timeline serve`: the API with the projector in-process, optionally on the demo data set."""

from __future__ import annotations

import errno
import socket

import typer

from entrypoints.cli.console import err, warn_unknown_variables


def register(app: typer.Typer) -> None:
    """Add `serve` to the root app."""
    app.command("serve")(serve)


def serve(
    demo: bool = typer.Option(
        False, "--demo", help="Load the March 2022 demo data set first (idempotent)."
    ),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on."),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="TCP port."),
    projector: bool = typer.Option(
        True,
        "--projector/--no-projector",
        help="Keep the read models up to date in this process; "
        "--no-projector when a `timeline project` worker "
        "does it.",
    ),
) -> None:
    """Serve GraphQL at /graphql (and /healthz, /readyz, /metrics, /events) with uvicorn.

    The database is TIMELINE_DATABASE_URL (default: the SQLite file timeline.db in the
    working directory). By default the projections are kept up to date in this process.
    """
    import uvicorn
    from sqlalchemy.engine import make_url

    from entrypoints.asgi import create_app
    from timeline.bootstrap import bootstrap
    from timeline.demo import load_demo

    warn_unknown_variables()
    listening = bind(host, port)  # before anything is said to be served there
    services = bootstrap()
    try:
        if demo:
            added = load_demo(services.timeline)
            err().print(
                f"demo data set: {added} events added" + (" (already loaded)" if added == 0 else "")
            )
        database = make_url(services.settings.sqlalchemy_url).render_as_string(hide_password=True)
        err().print(
            f"serving on [bold]http://{host}:{port}/graphql[/] (database: {database}"
            + ("" if projector else "; projections by a separate worker")
            + ")"
        )
        if services.settings.development:
            err().print(
                f"development mode (TIMELINE_DEVELOPMENT): GraphiQL at "
                f"[bold]http://{host}:{port}/graphql[/], links at http://{host}:{port}/; "
                "pages on http://localhost:* and http://127.0.0.1:* may call the API"
            )
        config = uvicorn.Config(
            create_app(services, projector=projector),
            host=host,
            port=port,
            log_level="info",
            # A websocket message over the body limit is refused by the protocol (1009)
            # before it is buffered; the app refuses it too (4413) under any other server.
            ws_max_size=services.settings.max_body_bytes,
        )
        uvicorn.Server(config).run(sockets=[listening])
    finally:
        listening.close()
        services.close()


def bind(host: str, port: int) -> socket.socket:
    """The listening socket on (host, port), or exit 7 saying why it cannot be had (uvicorn
    would print "serving on" first and then exit 3, which means a write conflict here)."""
    from entrypoints.cli import EXIT_ADDRESS

    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        listening = socket.socket(family, kind, proto)
    except OSError as error:
        err().print(f"error: cannot serve on {host}:{port}: {error.strerror or error}")
        raise typer.Exit(EXIT_ADDRESS) from None
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listening.bind(address)
    except OSError as error:
        listening.close()
        reason = (
            "the port is already in use (another `timeline serve`?); choose one with --port"
            if error.errno == errno.EADDRINUSE
            else error.strerror or str(error)
        )
        err().print(f"error: cannot serve on {host}:{port}: {reason}")
        raise typer.Exit(EXIT_ADDRESS) from None
    return listening
