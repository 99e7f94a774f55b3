"""Mutation inputs: the command models' fields (timeline/commands.py), camelCase on the wire.

The inputs only carry values; `command_data` hands them to the commands, whose pydantic
models validate them and name the field of any refusal.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import datetime
from typing import Any

import strawberry
from pydantic.alias_generators import to_camel
from strawberry.scalars import JSON


def command_data(value: Any) -> Any:
    """An input as the plain dict a command takes: wire (camelCase) names, which the command
    models accept as aliases and so name in their errors too; unset fields left out."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            to_camel(f.name): command_data(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if getattr(value, f.name) is not None
        }
    if isinstance(value, list):
        return [command_data(v) for v in value]
    return value


_PATH = re.compile(r"^[A-Za-z_][\w.\[\]]*$")


def wire_path(field: str) -> str:
    """A command's field as the client sent it, under the mutation's `input` argument:
    `expected_version` -> `input.expectedVersion`, `sources[0].url` -> `input.sources[0].url`."""
    if field == "input" or field.startswith("input.") or not _PATH.match(field):
        return field
    return "input." + ".".join(
        re.sub(r"^[a-z0-9_]+", lambda m: to_camel(m.group(0)), part) for part in field.split(".")
    )


def wire_reason(reason: str) -> str:
    """The other problems listed after `; also ` named the same way."""
    head, sep, rest = reason.partition("; also ")
    if not sep:
        return reason
    items = []
    for item in rest.split("; "):
        name, colon, message = item.partition(": ")
        items.append(f"{wire_path(name)}: {message}" if colon and _PATH.match(name) else item)
    return head + sep + "; ".join(items)


@strawberry.input
class SourceInput:
    url: str
    title: str | None = None
    publisher: str | None = None
    published_at: datetime | None = None
    quote: str | None = None


@strawberry.input
class ClauseInput:
    id: strawberry.ID
    text: str
    heading: str | None = None
    scope: list[str] | None = strawberry.field(
        default=None, description="ISO 3166-1 alpha-2 codes where it applies; empty: everywhere."
    )
    expires_at: datetime | None = None


@strawberry.input(description="Changed fields of an existing clause; unset fields stay.")
class ClauseAmendmentInput:
    id: strawberry.ID
    heading: str | None = None
    text: str | None = None
    scope: list[str] | None = None
    expires_at: datetime | None = None


@strawberry.input
class CommandOptions:
    idempotency_key: str | None = strawberry.field(
        default=None, description="Repeating a command with the same key stores nothing new."
    )
    expected_version: int | None = strawberry.field(
        default=None, description="Refused as CONFLICT when the stream moved on."
    )


@strawberry.input
class TimedOptions(CommandOptions):
    announced_at: datetime | None = strawberry.field(
        default=None, description="When it was made public; defaults to effectiveAt."
    )
    sources: list[SourceInput] | None = None


@strawberry.input
class AnnouncePolicyInput(TimedOptions):
    id: strawberry.ID
    title: str
    owner: str
    clauses: list[ClauseInput]
    effective_at: datetime
    summary: str | None = None


@strawberry.input
class RevisePolicyInput(TimedOptions):
    id: strawberry.ID
    effective_at: datetime
    title: str | None = None
    summary: str | None = None
    add_clauses: list[ClauseInput] | None = None
    amend_clauses: list[ClauseAmendmentInput] | None = None
    remove_clauses: list[strawberry.ID] | None = None


@strawberry.input
class WithdrawPolicyInput(TimedOptions):
    id: strawberry.ID
    effective_at: datetime
    summary: str | None = None


@strawberry.input
class AnnounceRegulatoryActionInput(TimedOptions):
    id: strawberry.ID
    authority: str
    jurisdiction: str
    kind: str = strawberry.field(
        description="restriction, block, fine, designation, investigation, court-ruling, other"
    )
    effective_at: datetime
    targets: list[str] | None = None
    summary: str | None = None
    text: str | None = None
    in_response_to: list[str] | None = strawberry.field(
        default=None, description="References such as policy:meta/hate-speech@2."
    )


@strawberry.input
class AmendRegulatoryActionInput(TimedOptions):
    id: strawberry.ID
    effective_at: datetime
    kind: str | None = None
    summary: str | None = None
    text: str | None = None
    targets: list[str] | None = None
    in_response_to: list[str] | None = None


@strawberry.input
class LiftRegulatoryActionInput(TimedOptions):
    id: strawberry.ID
    effective_at: datetime
    summary: str | None = None


@strawberry.input
class RecordStatementInput(TimedOptions):
    id: strawberry.ID
    actor: str
    text: str
    effective_at: datetime
    kind: str | None = None
    summary: str | None = None
    in_response_to: list[str] | None = None


@strawberry.input
class RegisterActorInput(TimedOptions):
    id: strawberry.ID
    name: str
    kind: str = strawberry.field(description="organisation, platform, authority, court, person")
    effective_at: datetime
    parent: str | None = None


@strawberry.input
class RenameActorInput(TimedOptions):
    id: strawberry.ID
    name: str
    effective_at: datetime


@strawberry.input(
    description="Correct fields of a recorded event; what was said before stays "
    "answerable with a knownAt before the correction."
)
class CorrectEventInput(CommandOptions):
    event: str = strawberry.field(description="kind:slug@version, e.g. policy:meta/hate-speech@2")
    changes: JSON = strawberry.field(
        description='Changed fields in camelCase, e.g. {"effectiveAt": "..."}.'
    )
    reason: str
    sources: list[SourceInput] | None = None


@strawberry.input
class RetractEventInput(CommandOptions):
    event: str = strawberry.field(description="kind:slug@version")
    reason: str
    sources: list[SourceInput] | None = None
