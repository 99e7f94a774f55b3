"""CLI command: `timeline verify` walks the log, recomputes the hash chain and names the first
position where an event was altered, removed or written outside the service."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer

from domain.errors import InvalidInput
from entrypoints.cli.console import log

if TYPE_CHECKING:
    from timeline import integrity

#: Exit code when the chain does not hold (distinct from refused input, 1, and database, 4).
EXIT_TAMPERED = 5
#: Exit code when the log holds no event and `--allow-empty` was not given: a check pointed at
#: the wrong (empty) database must not pass.
EXIT_EMPTY = 6


def parse_head(text: str | None) -> integrity.LogHead | None:
    """`--expect-head POSITION:HASH`, as cited from `logHead` in an export."""
    from timeline import integrity

    if text is None:
        return None
    position, _, digest = text.strip().partition(":")
    if (
        not position.isdigit()
        or len(digest) != 64
        or not all(ch in "0123456789abcdef" for ch in digest)
    ):
        raise InvalidInput(
            "--expect-head",
            f"{text!r} is not POSITION:HASH (a position and "
            "the 64 hex digits of the cited head's hash)",
        )
    return integrity.LogHead(int(position), digest)


def verify(
    expect_head: Annotated[
        str | None,
        typer.Option(
            "--expect-head",
            help="A head cited earlier (POSITION:HASH, from the GraphQL "
            "`logHead`); fail unless it is still on the chain.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the verdict as JSON.")] = False,
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, help="Events read per query.")
    ] = 1000,
    allow_empty: Annotated[
        bool,
        typer.Option(
            "--allow-empty",
            help="Pass on a log with no events (by default an empty log fails, exit 6).",
        ),
    ] = False,
) -> None:
    """Check the log's hash chain: exit 0 when every event is as written, 5 naming the first
    bad position when an event was altered or removed directly in the database, 6 when the
    log is empty (unless --allow-empty), 4 when the database or its log does not exist."""
    from sqlalchemy.engine import make_url

    from timeline import eventstore, integrity

    expect = parse_head(expect_head)
    with log() as timeline:
        table = eventstore.events_table(timeline.recorder)
        verdict = integrity.verify(timeline.engine, table, batch_size, expect)
        shown = make_url(timeline.settings.database_url).render_as_string(hide_password=True)
    empty = verdict.ok and verdict.checked == 0 and not allow_empty
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "ok": verdict.ok,
                    "checked": verdict.checked,
                    "head": {"position": verdict.head.position, "hash": verdict.head.hash},
                    "badPosition": verdict.bad_position,
                    "reason": verdict.reason or None,
                    "empty": verdict.checked == 0,
                    "redactions": [
                        {"position": position, "redaction": redaction}
                        for position, redaction in verdict.redacted
                    ],
                }
            )
        )
    if empty:
        typer.echo(
            f"error: the log at {shown} is empty: 0 events to verify (a wrong "
            "TIMELINE_DATABASE_URL?); pass --allow-empty if an empty log is expected",
            err=True,
        )
        raise typer.Exit(EXIT_EMPTY)
    if not verdict.ok:
        if not as_json:
            typer.echo(f"error: position {verdict.bad_position}: {verdict.reason}", err=True)
        raise typer.Exit(EXIT_TAMPERED)
    if not as_json:
        typer.echo(
            f"ok: {verdict.checked} events verified; head position "
            f"{verdict.head.position} hash {verdict.head.hash}"
        )
        for position, redaction in verdict.redacted:
            typer.echo(
                f"redacted: position {position} by {redaction} (its tombstone keeps the digest "
                "its leaf commits to; not tampering)"
            )


def register(app: typer.Typer) -> None:
    """Add `timeline verify` to the root app."""
    app.command("verify")(verify)
