"""CLI command: `timeline redact EVENT --reason ...` erases an event's texts from the store
(docs/evidence.md): the tombstone keeps its salted digest, so every head and proof verifies."""

from __future__ import annotations

from typing import Annotated

import typer

from entrypoints.cli.console import print_json, services


def redact(
    event: Annotated[str, typer.Argument(help="The event to redact: kind:slug@version.")],
    reason: Annotated[
        str, typer.Option("--reason", help="Why it is redacted (a court order, ...); required.")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Erase the summary, text and source quotes of a recorded event from the store, record
    the redaction in its stream, and rebuild the read models of that aggregate."""
    with services(read_only=True) as built:
        result = built.timeline.redact_event({"event": event, "reason": reason})
        redaction = built.timeline.facts_of(result.kind, result.id)[-1]
        built.projections.catch_up()
    fields = list(redaction.data["fields"])
    reference = f"{result.kind}:{result.id}@{result.version}"
    if as_json:
        print_json(
            {
                "event": reference,
                "target": event,
                "position": result.position,
                "recordedAt": result.recorded_at,
                "reason": reason,
                "fields": fields,
            }
        )
        return
    typer.echo(
        f"redacted {event} ({', '.join(fields)}) by {reference} at position {result.position}"
    )


def register(app: typer.Typer) -> None:
    """Add `timeline redact` to the root app."""
    app.command("redact")(redact)
