"""CLI commands: `timeline token create|list|revoke` for the API's bearer tokens."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from domain.errors import InvalidInput

if TYPE_CHECKING:
    from sqlalchemy import Engine

token_app = typer.Typer(
    help="API bearer tokens (stored hashed; shown once at creation).", no_args_is_help=True
)

DatabaseUrl = Annotated[
    str | None,
    typer.Option("--database-url", help="SQLAlchemy URL; defaults to TIMELINE_DATABASE_URL."),
]


def _engine(database_url: str | None, *, existing: bool = False) -> Engine:
    """The engine for the URL; with `existing`, the database must already hold the tokens
    table (LogMissing otherwise), so that listing or revoking on a wrong URL creates nothing."""
    from sqlalchemy import create_engine

    from timeline import tokens
    from timeline.database import require_log
    from timeline.settings import Settings

    settings = Settings(database_url=database_url) if database_url else Settings()
    if existing:
        require_log(settings, tokens.api_tokens.name, "API tokens")
    return create_engine(settings.sqlalchemy_url)


@token_app.command("create")
def create(
    scope: Annotated[
        list[str],
        typer.Option("--scope", help="read or write (repeat for both); write implies read."),
    ] = ["read"],  # noqa: B006
    name: Annotated[str, typer.Option(help="A label to recognise the token by.")] = "",
    database_url: DatabaseUrl = None,
) -> None:
    """Create a token and print it once; only its hash is stored."""
    from timeline import tokens

    engine = _engine(database_url)
    try:
        token, info = tokens.create_token(engine, scope, name)
    except InvalidInput as error:
        typer.echo(f"error: {error.field}: {error.reason}", err=True)
        raise typer.Exit(2) from None
    finally:
        engine.dispose()
    typer.echo(token)
    typer.echo(
        f"token id {info.token_id}, scopes: {' '.join(sorted(info.scopes))} "
        "(store it now: it cannot be shown again)",
        err=True,
    )


@token_app.command("list")
def list_(database_url: DatabaseUrl = None) -> None:
    """List tokens (ids, names, scopes), never their secrets."""
    from timeline import tokens

    engine = _engine(database_url, existing=True)
    try:
        for info in tokens.list_tokens(engine):
            state = f"revoked {info.revoked_at.isoformat()}" if info.revoked_at else "active"
            typer.echo(f"{info.token_id}\t{' '.join(sorted(info.scopes))}\t{state}\t{info.name}")
    finally:
        engine.dispose()


@token_app.command("revoke")
def revoke(token_id: str, database_url: DatabaseUrl = None) -> None:
    """Revoke a token by its id; it stops working at once."""
    from timeline import tokens

    engine = _engine(database_url, existing=True)
    try:
        if not tokens.revoke_token(engine, token_id):
            typer.echo(f"error: token_id: no active token {token_id!r}", err=True)
            raise typer.Exit(1)
    finally:
        engine.dispose()
    typer.echo(f"revoked {token_id}")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.add_typer(token_app, name="token")
