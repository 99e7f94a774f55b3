"""Command inputs: pydantic models that name the field and the reason for every refusal.

Field names are snake_case in Python and camelCase on the wire (GraphQL, NDJSON import).
`payload()` gives the event attributes the command records (JSON-native, instants as datetimes).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)
from pydantic.alias_generators import to_camel

from domain.actor import ACTOR_KINDS
from domain.errors import InvalidInput
from domain.policy import check_expiry
from domain.regulatory import ACTION_KINDS
from domain.statement import STATEMENT_KINDS
from domain.values import (
    Reference,
    check_jurisdiction,
    check_slug,
    format_instant,
    parse_instant,
)


def _instant(value: object) -> datetime:
    """Every command instant goes through the one parser (domain/values.py): ISO 8601 text
    with an offset; numbers, numeric strings and naive times are refused, never converted."""
    try:
        return parse_instant("instant", value)
    except InvalidInput as error:
        raise ValueError(error.reason) from None


def _checked_by(check: Callable[[str], object]) -> AfterValidator:
    """A pydantic validator from a domain check; pydantic puts the field path on the reason."""

    def validator(value: str) -> str:
        try:
            return str(check(value))
        except InvalidInput as error:
            raise ValueError(error.reason) from None

    return AfterValidator(validator)


def _storable(value: str) -> str:
    """Refuse what no store keeps faithfully: lone surrogates (not UTF-8) and NUL characters."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text (it contains a lone surrogate)") from None
    return value


Instant = Annotated[datetime, BeforeValidator(_instant)]
Slug = Annotated[str, _checked_by(lambda text: check_slug("id", text))]
Jurisdiction = Annotated[str, _checked_by(lambda text: check_jurisdiction("scope", text))]
ReferenceText = Annotated[str, _checked_by(lambda text: Reference.parse("reference", text))]
ClauseId = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", max_length=100)
]
ShortText = Annotated[str, StringConstraints(max_length=1_000), AfterValidator(_storable)]
LongText = Annotated[str, StringConstraints(max_length=200_000), AfterValidator(_storable)]
NonEmpty = Annotated[
    str,
    StringConstraints(min_length=1, max_length=1_000, strip_whitespace=True),
    AfterValidator(_storable),
]


class Input(BaseModel):
    """Strict input: unknown fields are refused, names accepted in camelCase or snake_case."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )


class SourceInput(Input):
    url: Annotated[
        str,
        StringConstraints(
            min_length=1, max_length=2_000, pattern=r"^(https?://|[a-z0-9.-]+\.[a-z]{2,}/?)\S*$"
        ),
        AfterValidator(_storable),
    ]
    title: ShortText = ""
    publisher: ShortText = ""
    published_at: Instant | None = None
    quote: LongText | None = None

    def payload(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "title": self.title,
            "publisher": self.publisher,
            "published_at": format_instant(self.published_at) if self.published_at else None,
            "quote": self.quote,
        }


class ClauseInput(Input):
    id: ClauseId
    heading: ShortText = ""
    text: LongText
    scope: list[Jurisdiction] = Field(default_factory=list, max_length=300)
    expires_at: Instant | None = None

    def payload(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "heading": self.heading,
            "text": self.text,
            "scope": self.scope,
            "expires_at": format_instant(self.expires_at) if self.expires_at else None,
        }


class ClauseAmendmentInput(Input):
    id: ClauseId
    heading: ShortText | None = None
    text: LongText | None = None
    scope: list[Jurisdiction] | None = Field(default=None, max_length=300)
    expires_at: Instant | None = None

    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id}
        for name in ("heading", "text", "scope"):
            if getattr(self, name) is not None:
                data[name] = getattr(self, name)
        if self.expires_at is not None:
            data["expires_at"] = format_instant(self.expires_at)
        return data


class Command(Input):
    """What every write carries: the optional idempotency key and expected stream version."""

    idempotency_key: (
        Annotated[str, StringConstraints(min_length=1, max_length=200), AfterValidator(_storable)]
        | None
    ) = None
    expected_version: Annotated[int, Field(ge=0)] | None = None

    def payload(self) -> dict[str, Any]:
        """The event attributes this command records."""
        raise NotImplementedError


class Timed(Command):
    """A command about a fact of the world: it takes effect at `effective_at`."""

    effective_at: Instant
    announced_at: Instant | None = None
    sources: list[SourceInput] = Field(default_factory=list, max_length=100)

    def instants(self) -> dict[str, Any]:
        return {
            "effective_at": self.effective_at,
            "announced_at": self.announced_at or self.effective_at,
            "sources": [s.payload() for s in self.sources],
        }


def _unique_ids(field: str, ids: list[str]) -> None:
    seen: set[str] = set()
    for index, clause_id in enumerate(ids):
        if clause_id in seen:
            raise InvalidInput(f"{field}[{index}].id", f"clause id {clause_id!r} appears twice")
        seen.add(clause_id)


class AnnouncePolicy(Timed):
    id: Slug
    title: NonEmpty
    owner: Slug
    summary: LongText = ""
    clauses: list[ClauseInput] = Field(min_length=1, max_length=2_000)

    @model_validator(mode="after")
    def _distinct_clauses(self) -> AnnouncePolicy:
        _unique_ids("clauses", [c.id for c in self.clauses])
        for index, clause in enumerate(self.clauses):
            check_expiry(f"clauses[{index}].expiresAt", clause.expires_at, self.effective_at)
        return self

    def payload(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "owner": self.owner,
            "summary": self.summary,
            "clauses": [c.payload() for c in self.clauses],
            **self.instants(),
        }


class RevisePolicy(Timed):
    id: Slug
    title: NonEmpty | None = None
    summary: LongText = ""
    add_clauses: list[ClauseInput] = Field(default_factory=list, max_length=2_000)
    amend_clauses: list[ClauseAmendmentInput] = Field(default_factory=list, max_length=2_000)
    remove_clauses: list[ClauseId] = Field(default_factory=list, max_length=2_000)

    @model_validator(mode="after")
    def _changes_something(self) -> RevisePolicy:
        if not (self.title or self.add_clauses or self.amend_clauses or self.remove_clauses):
            raise ValueError("a revision must change the title or add, amend or remove a clause")
        _unique_ids("addClauses", [c.id for c in self.add_clauses])
        _unique_ids("amendClauses", [c.id for c in self.amend_clauses])
        expiries = [("addClauses", i, c.expires_at) for i, c in enumerate(self.add_clauses)]
        expiries += [("amendClauses", i, c.expires_at) for i, c in enumerate(self.amend_clauses)]
        for field, index, expires_at in expiries:
            check_expiry(f"{field}[{index}].expiresAt", expires_at, self.effective_at)
        return self

    def payload(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "summary": self.summary,
            "add_clauses": [c.payload() for c in self.add_clauses],
            "amend_clauses": [c.payload() for c in self.amend_clauses],
            "remove_clauses": list(self.remove_clauses),
            **self.instants(),
        }


class WithdrawPolicy(Timed):
    id: Slug
    summary: LongText = ""

    def payload(self) -> dict[str, Any]:
        return {"summary": self.summary, **self.instants()}


class AnnounceRegulatoryAction(Timed):
    id: Slug
    authority: Slug
    jurisdiction: Jurisdiction
    targets: list[Slug] = Field(default_factory=list, max_length=100)
    kind: Literal[ACTION_KINDS]  # type: ignore[valid-type]
    summary: LongText = ""
    text: LongText = ""
    in_response_to: list[ReferenceText] = Field(default_factory=list, max_length=100)

    def payload(self) -> dict[str, Any]:
        return {
            "authority": self.authority,
            "jurisdiction": self.jurisdiction,
            "targets": list(self.targets),
            "kind": self.kind,
            "summary": self.summary,
            "text": self.text,
            "in_response_to": list(self.in_response_to),
            **self.instants(),
        }


class AmendRegulatoryAction(Timed):
    id: Slug
    kind: Literal[ACTION_KINDS] | None = None  # type: ignore[valid-type]
    summary: LongText | None = None
    text: LongText | None = None
    targets: list[Slug] | None = Field(default=None, max_length=100)
    in_response_to: list[ReferenceText] | None = Field(default=None, max_length=100)

    @model_validator(mode="after")
    def _changes_something(self) -> AmendRegulatoryAction:
        if all(
            getattr(self, n) is None
            for n in ("kind", "summary", "text", "targets", "in_response_to")
        ):
            raise ValueError(
                "an amendment must change kind, summary, text, targets or inResponseTo"
            )
        return self

    def payload(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "summary": self.summary,
            "text": self.text,
            "targets": self.targets,
            "in_response_to": self.in_response_to,
            **self.instants(),
        }


class LiftRegulatoryAction(Timed):
    id: Slug
    summary: LongText = ""

    def payload(self) -> dict[str, Any]:
        return {"summary": self.summary, **self.instants()}


class RecordStatement(Timed):
    id: Slug
    actor: Slug
    kind: Literal[STATEMENT_KINDS] = "post"  # type: ignore[valid-type]
    summary: LongText = ""
    text: LongText
    in_response_to: list[ReferenceText] = Field(default_factory=list, max_length=100)

    def payload(self) -> dict[str, Any]:
        return {
            "actor": self.actor,
            "kind": self.kind,
            "summary": self.summary,
            "text": self.text,
            "in_response_to": list(self.in_response_to),
            **self.instants(),
        }


class RegisterActor(Timed):
    id: Slug
    name: NonEmpty
    kind: Literal[ACTOR_KINDS]  # type: ignore[valid-type]
    parent: Slug | None = None

    def payload(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "parent": self.parent, **self.instants()}


class RenameActor(Timed):
    id: Slug
    name: NonEmpty

    def payload(self) -> dict[str, Any]:
        return {"name": self.name, **self.instants()}


class CorrectEvent(Command):
    """Correct fields of a recorded event: `event` is `kind:slug@version`."""

    event: ReferenceText
    changes: dict[str, Any] = Field(min_length=1, max_length=100)
    reason: NonEmpty
    sources: list[SourceInput] = Field(default_factory=list, max_length=100)

    @model_validator(mode="after")
    def _names_an_event(self) -> CorrectEvent:
        if Reference.parse("event", self.event).version is None:
            raise InvalidInput(
                "event", "must name an event version, e.g. 'policy:meta/hate-speech@2'"
            )
        return self


class RetractEvent(Command):
    """Retract a recorded event from the believed history from now on."""

    event: ReferenceText
    reason: NonEmpty
    sources: list[SourceInput] = Field(default_factory=list, max_length=100)

    @model_validator(mode="after")
    def _names_an_event(self) -> RetractEvent:
        if Reference.parse("event", self.event).version is None:
            raise InvalidInput(
                "event", "must name an event version, e.g. 'policy:meta/hate-speech@2'"
            )
        return self


class RedactEvent(Command):
    """Erase the texts of a recorded event from the store (a court order, data protection):
    `event` is `kind:slug@version`; the redaction is itself recorded, with its reason."""

    event: ReferenceText
    reason: NonEmpty

    @model_validator(mode="after")
    def _names_an_event(self) -> RedactEvent:
        if Reference.parse("event", self.event).version is None:
            raise InvalidInput(
                "event", "must name an event version, e.g. 'statement:someone/2022-03-10@1'"
            )
        return self


#: The command that records each event type: used to validate corrections and imports.
COMMAND_FOR_EVENT: dict[str, type[Timed]] = {
    "PolicyAnnounced": AnnouncePolicy,
    "PolicyRevised": RevisePolicy,
    "PolicyWithdrawn": WithdrawPolicy,
    "RegulatoryActionAnnounced": AnnounceRegulatoryAction,
    "RegulatoryActionAmended": AmendRegulatoryAction,
    "RegulatoryActionLifted": LiftRegulatoryAction,
    "StatementRecorded": RecordStatement,
    "ActorRegistered": RegisterActor,
    "ActorRenamed": RenameActor,
}

#: Commands by their wire name (NDJSON import, CLI).
COMMANDS: dict[str, type[Command]] = {
    "announcePolicy": AnnouncePolicy,
    "revisePolicy": RevisePolicy,
    "withdrawPolicy": WithdrawPolicy,
    "announceRegulatoryAction": AnnounceRegulatoryAction,
    "amendRegulatoryAction": AmendRegulatoryAction,
    "liftRegulatoryAction": LiftRegulatoryAction,
    "recordStatement": RecordStatement,
    "registerActor": RegisterActor,
    "renameActor": RenameActor,
    "correctEvent": CorrectEvent,
    "retractEvent": RetractEvent,
    "redactEvent": RedactEvent,
}
