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


def _f(description: str) -> Any:
    """An optional input field (default null) with its description."""
    return strawberry.field(default=None, description=description)


_EFFECTIVE = "When it takes effect in the world (ISO 8601 with an offset)."
_SUMMARY = "One line saying what happened; default empty."


@strawberry.input(description="A source: where a fact is documented.")
class SourceInput:
    url: str = strawberry.field(description="Address of the document cited.")
    title: str | None = _f("The document's title.")
    publisher: str | None = _f("Who published it.")
    published_at: datetime | None = _f("When it was published.")
    quote: str | None = _f("The passage relied on, verbatim.")


@strawberry.input(description="A new clause of a policy.")
class ClauseInput:
    id: strawberry.ID = strawberry.field(description="The clause's id, unique in the policy.")
    text: str = strawberry.field(description="The clause's wording.")
    heading: str | None = _f("The clause's heading.")
    scope: list[str] | None = _f("ISO 3166-1 alpha-2 codes where it applies; empty: everywhere.")
    expires_at: datetime | None = _f("When a temporary clause stops applying.")


@strawberry.input(description="Changed fields of an existing clause; unset fields stay.")
class ClauseAmendmentInput:
    id: strawberry.ID = strawberry.field(description="The id of the clause to change.")
    heading: str | None = _f("The new heading.")
    text: str | None = _f("The new wording.")
    scope: list[str] | None = _f("The new ISO 3166 codes; empty: everywhere.")
    expires_at: datetime | None = _f("The new expiry.")


@strawberry.input(description="Options every command takes.")
class CommandOptions:
    idempotency_key: str | None = _f("Repeating a command with the same key stores nothing new.")
    expected_version: int | None = _f(
        "The version read (e.g. Policy.version): CONFLICT if it moved on."
    )


@strawberry.input(description="Options of the commands that record a fact in the world.")
class TimedOptions(CommandOptions):
    announced_at: datetime | None = _f("When it was made public; defaults to effectiveAt.")
    sources: list[SourceInput] | None = _f("Where the fact is documented.")


@strawberry.input(description="A new policy; its id must be free.")
class AnnouncePolicyInput(TimedOptions):
    id: strawberry.ID = strawberry.field(
        description="The new policy's slug, e.g. meta/hate-speech."
    )
    title: str = strawberry.field(description="The policy's title.")
    owner: str = strawberry.field(description="The owner's slug (a registered actor).")
    clauses: list[ClauseInput] = strawberry.field(description="Its clauses, in order.")
    effective_at: datetime = strawberry.field(description=_EFFECTIVE)
    summary: str | None = _f(_SUMMARY)


@strawberry.input(description="A revision of a policy; it must change something.")
class RevisePolicyInput(TimedOptions):
    id: strawberry.ID = strawberry.field(description="The policy's slug.")
    effective_at: datetime = strawberry.field(description=_EFFECTIVE)
    title: str | None = _f("The new title.")
    summary: str | None = _f(_SUMMARY)
    add_clauses: list[ClauseInput] | None = _f("Clauses to add.")
    amend_clauses: list[ClauseAmendmentInput] | None = _f("Clauses to change.")
    remove_clauses: list[strawberry.ID] | None = _f("Ids of the clauses to remove.")


@strawberry.input(description="The withdrawal of a policy.")
class WithdrawPolicyInput(TimedOptions):
    id: strawberry.ID = strawberry.field(description="The policy's slug.")
    effective_at: datetime = strawberry.field(description=_EFFECTIVE)
    summary: str | None = _f(_SUMMARY)


@strawberry.input(description="A new regulatory action; its id must be free.")
class AnnounceRegulatoryActionInput(TimedOptions):
    id: strawberry.ID = strawberry.field(
        description="The new action's slug, e.g. roskomnadzor/instagram-restriction."
    )
    authority: str = strawberry.field(description="The authority's slug (a registered actor).")
    jurisdiction: str = strawberry.field(description="ISO 3166 code where it applies.")
    kind: str = strawberry.field(
        description="restriction, block, fine, designation, investigation, court-ruling, other"
    )
    effective_at: datetime = strawberry.field(description=_EFFECTIVE)
    targets: list[str] | None = _f("Slugs of the actors it targets.")
    summary: str | None = _f(_SUMMARY)
    text: str | None = _f("The action's full text.")
    in_response_to: list[str] | None = _f("References such as policy:meta/hate-speech@2.")


@strawberry.input(description="An amendment of a regulatory action; unset fields stay.")
class AmendRegulatoryActionInput(TimedOptions):
    id: strawberry.ID = strawberry.field(description="The action's slug.")
    effective_at: datetime = strawberry.field(description=_EFFECTIVE)
    kind: str | None = _f("The new kind.")
    summary: str | None = _f("The new summary.")
    text: str | None = _f("The new text.")
    targets: list[str] | None = _f("The new targets (actor slugs).")
    in_response_to: list[str] | None = _f("The new references cited.")


@strawberry.input(description="The lifting of a regulatory action.")
class LiftRegulatoryActionInput(TimedOptions):
    id: strawberry.ID = strawberry.field(description="The action's slug.")
    effective_at: datetime = strawberry.field(description="When it stops applying.")
    summary: str | None = _f(_SUMMARY)


@strawberry.input(description="A public statement by an actor; its id must be free.")
class RecordStatementInput(TimedOptions):
    id: strawberry.ID = strawberry.field(description="The new statement's slug.")
    actor: str = strawberry.field(description="Slug of the actor who made it.")
    text: str = strawberry.field(description="The statement's text.")
    effective_at: datetime = strawberry.field(description="When it was made.")
    kind: str | None = _f(
        "post (default), blog-post, press-release, interview, internal-memo, other"
    )
    summary: str | None = _f(_SUMMARY)
    in_response_to: list[str] | None = _f("References it responds to.")


@strawberry.input(description="A new actor; its id must be free.")
class RegisterActorInput(TimedOptions):
    id: strawberry.ID = strawberry.field(description="The new actor's slug, e.g. meta.")
    name: str = strawberry.field(description="Its name from effectiveAt.")
    kind: str = strawberry.field(description="organisation, platform, authority, court, person")
    effective_at: datetime = strawberry.field(description="Since when it exists by this name.")
    parent: str | None = _f("Slug of the actor it belongs to.")


@strawberry.input(description="An actor's new name.")
class RenameActorInput(TimedOptions):
    id: strawberry.ID = strawberry.field(description="The actor's slug.")
    name: str = strawberry.field(description="Its name from effectiveAt.")
    effective_at: datetime = strawberry.field(description="When the name changed.")


@strawberry.input(
    description="Correct fields of a recorded event; what was said before stays "
    "answerable with a knownAt before the correction."
)
class CorrectEventInput(CommandOptions):
    event: str = strawberry.field(description="kind:slug@version, e.g. policy:meta/hate-speech@2")
    changes: JSON = strawberry.field(
        description='Changed fields in camelCase, e.g. {"effectiveAt": "..."}.'
    )
    reason: str = strawberry.field(description="Why it is corrected.")
    sources: list[SourceInput] | None = _f("Where the correct value is documented.")


@strawberry.input(
    description="Retract a recorded event; it stays answerable with an earlier knownAt."
)
class RetractEventInput(CommandOptions):
    event: str = strawberry.field(description="kind:slug@version")
    reason: str = strawberry.field(description="Why it is retracted.")
    sources: list[SourceInput] | None = _f("Where the retraction is justified.")


@strawberry.input(
    description="Erase the texts of a recorded event from the store (a court order, data "
    "protection); the redaction is recorded, and every head and proof still verifies."
)
class RedactEventInput(CommandOptions):
    event: str = strawberry.field(description="kind:slug@version of the event to redact")
    reason: str = strawberry.field(description="Why it is redacted (required).")
