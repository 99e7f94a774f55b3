"""Mutations: each checks the `write` scope, runs one Timeline command, then waits (bounded)
for the projections to reach the new event so the caller reads its own write."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated, Any, TypeVar

import strawberry
from strawberry.types import Info

from api import inputs as i
from api.context import Context, described, run
from api.errors import BadInput
from api.types import ActorType, PolicyType, RedactionType, RegulatoryActionType, StatementType
from domain.errors import InvalidInput, VersionConflict
from domain.values import Reference
from projections import queries
from timeline import commands as c
from timeline.bootstrap import Services
from timeline.store import CommandResult
from timeline.validation import validate

log = logging.getLogger("api.mutations")

InputT = TypeVar("InputT")
#: Every mutation's one argument: the command's fields.
Input = Annotated[InputT, strawberry.argument(description="The command's fields (camelCase).")]


@strawberry.interface(description="What every write returns.")
class WriteResult:
    id: strawberry.ID = strawberry.field(description="The aggregate's slug.")
    version: int = strawberry.field(description="The aggregate's version after the write.")
    position: int = strawberry.field(description="The event's global log position.")
    recorded_at: datetime = strawberry.field(description="When the service stored the event.")
    event_type: str = strawberry.field(description="The event's type, e.g. PolicyRevised.")
    event_id: strawberry.ID = strawberry.field(description="The event's reference.")

    @classmethod
    def fields_of(cls, result: CommandResult) -> dict[str, Any]:
        return {
            "id": strawberry.ID(result.id),
            "version": result.version,
            "position": result.position,
            "recorded_at": result.recorded_at,
            "event_type": result.event_type,
            "event_id": strawberry.ID(str(Reference(result.kind, result.id, result.version))),
        }


@strawberry.type(description="What a policy write returns.")
class PolicyResult(WriteResult):
    @described("The policy as in force now, as known now.")
    async def policy(self, info: Info[Context, None]) -> PolicyType | None:
        found = await run(queries.policy_at, info.context.engine, str(self.id))
        return PolicyType.of(found) if found else None


@strawberry.type(description="What a regulatory action write returns.")
class RegulatoryActionResult(WriteResult):
    @described("The action as seen now.")
    async def regulatory_action(self, info: Info[Context, None]) -> RegulatoryActionType | None:
        found = await run(queries.regulatory_action_at, info.context.engine, str(self.id))
        return RegulatoryActionType.of(found, None, None) if found else None


@strawberry.type(description="What recordStatement returns.")
class StatementResult(WriteResult):
    @described("The statement as known now.")
    async def statement(self, info: Info[Context, None]) -> StatementType | None:
        found = await run(queries.statement_at, info.context.engine, str(self.id))
        return StatementType.of(found) if found else None


@strawberry.type(description="What an actor write returns.")
class ActorResult(WriteResult):
    @described("The actor as named now.")
    async def actor(self, info: Info[Context, None]) -> ActorType | None:
        found = await run(queries.actors_at, info.context.engine, [str(self.id)])
        return ActorType.of(found[str(self.id)]) if str(self.id) in found else None


@strawberry.type(description="What correctEvent and retractEvent return.")
class CorrectionResult(WriteResult):
    target: strawberry.ID = strawberry.field(description="The corrected or retracted event.")


@strawberry.type(description="What redactEvent returns.")
class RedactionResult(WriteResult):
    target: strawberry.ID = strawberry.field(description="The redacted event.")

    @described("The redaction as the read models hold it: what it erased and why.")
    async def redaction(self, info: Info[Context, None]) -> RedactionType | None:
        kind = str(self.event_id).partition(":")[0]
        found = await run(queries.redactions_of, info.context.engine, kind, str(self.id))
        return next((RedactionType.of(r) for r in found if r.event == self.event_id), None)


async def wait_for_projections(services: Services, position: int) -> None:
    """Read-your-writes: wait, bounded by the setting, until the projections reach `position`."""
    wait_for = getattr(services, "wait_for", None)
    if wait_for is None:
        return
    caught_up = await run(wait_for, position, services.settings.read_your_writes_timeout)
    if caught_up is False:
        log.warning("projections did not reach position %s in time", position)


async def execute(info: Info[Context, None], command: type[c.Command], data: Any) -> CommandResult:
    """Authorize, validate the input as `command`, run it by its type, wait for the read side."""
    context = info.context
    await context.require("write")
    try:
        validated = validate(command, i.command_data(data))
        result: CommandResult = await run(context.services.timeline.handle, validated)
    except InvalidInput as error:  # named as sent: input.sources[0].url
        raise BadInput(i.wire_path(error.field), i.wire_reason(error.reason)) from None
    except VersionConflict as error:
        if error.field is not None:
            error.field = i.wire_path(error.field)  # input.expectedVersion, as sent
        raise
    await wait_for_projections(context.services, result.position)
    return result


@strawberry.type(description="Writes: each needs the write scope and records one event.")
class Mutation:
    @strawberry.mutation(description="Announce a new policy with its clauses.")  # type: ignore[untyped-decorator]
    async def announce_policy(
        self, info: Info[Context, None], input: Input[i.AnnouncePolicyInput]
    ) -> PolicyResult:
        return PolicyResult(**WriteResult.fields_of(await execute(info, c.AnnouncePolicy, input)))

    @strawberry.mutation(description="Revise a policy: add, amend or remove clauses, retitle it.")  # type: ignore[untyped-decorator]
    async def revise_policy(
        self, info: Info[Context, None], input: Input[i.RevisePolicyInput]
    ) -> PolicyResult:
        return PolicyResult(**WriteResult.fields_of(await execute(info, c.RevisePolicy, input)))

    @strawberry.mutation(description="Withdraw a policy; its last clauses stay readable.")  # type: ignore[untyped-decorator]
    async def withdraw_policy(
        self, info: Info[Context, None], input: Input[i.WithdrawPolicyInput]
    ) -> PolicyResult:
        return PolicyResult(**WriteResult.fields_of(await execute(info, c.WithdrawPolicy, input)))

    @strawberry.mutation(description="Record a regulatory action announced by an authority.")  # type: ignore[untyped-decorator]
    async def announce_regulatory_action(
        self, info: Info[Context, None], input: Input[i.AnnounceRegulatoryActionInput]
    ) -> RegulatoryActionResult:
        return RegulatoryActionResult(
            **WriteResult.fields_of(await execute(info, c.AnnounceRegulatoryAction, input))
        )

    @strawberry.mutation(
        description="Amend a regulatory action's kind, text, targets or citations."
    )  # type: ignore[untyped-decorator]
    async def amend_regulatory_action(
        self, info: Info[Context, None], input: Input[i.AmendRegulatoryActionInput]
    ) -> RegulatoryActionResult:
        return RegulatoryActionResult(
            **WriteResult.fields_of(await execute(info, c.AmendRegulatoryAction, input))
        )

    @strawberry.mutation(description="Record that a regulatory action was lifted.")  # type: ignore[untyped-decorator]
    async def lift_regulatory_action(
        self, info: Info[Context, None], input: Input[i.LiftRegulatoryActionInput]
    ) -> RegulatoryActionResult:
        return RegulatoryActionResult(
            **WriteResult.fields_of(await execute(info, c.LiftRegulatoryAction, input))
        )

    @strawberry.mutation(description="Record a public statement by an actor.")  # type: ignore[untyped-decorator]
    async def record_statement(
        self, info: Info[Context, None], input: Input[i.RecordStatementInput]
    ) -> StatementResult:
        return StatementResult(
            **WriteResult.fields_of(await execute(info, c.RecordStatement, input))
        )

    @strawberry.mutation(
        description="Register an organisation, platform, authority, court or person."
    )  # type: ignore[untyped-decorator]
    async def register_actor(
        self, info: Info[Context, None], input: Input[i.RegisterActorInput]
    ) -> ActorResult:
        return ActorResult(**WriteResult.fields_of(await execute(info, c.RegisterActor, input)))

    @strawberry.mutation(description="Record an actor's new name from effectiveAt.")  # type: ignore[untyped-decorator]
    async def rename_actor(
        self, info: Info[Context, None], input: Input[i.RenameActorInput]
    ) -> ActorResult:
        return ActorResult(**WriteResult.fields_of(await execute(info, c.RenameActor, input)))

    @strawberry.mutation(
        description="Correct fields of a recorded event; the earlier belief stays answerable."
    )  # type: ignore[untyped-decorator]
    async def correct_event(
        self, info: Info[Context, None], input: Input[i.CorrectEventInput]
    ) -> CorrectionResult:
        result = await execute(info, c.CorrectEvent, input)
        return CorrectionResult(target=strawberry.ID(input.event), **WriteResult.fields_of(result))

    @strawberry.mutation(
        description="Retract a recorded event; the earlier belief stays answerable."
    )  # type: ignore[untyped-decorator]
    async def retract_event(
        self, info: Info[Context, None], input: Input[i.RetractEventInput]
    ) -> CorrectionResult:
        result = await execute(info, c.RetractEvent, input)
        return CorrectionResult(target=strawberry.ID(input.event), **WriteResult.fields_of(result))

    @strawberry.mutation(
        description="Erase the texts of a recorded event (a court order, data protection): "
        "its stored payload becomes a tombstone holding its salted digest, so every signed "
        "head and inclusion proof still verifies; the redaction is recorded as an event."
    )  # type: ignore[untyped-decorator]
    async def redact_event(
        self, info: Info[Context, None], input: Input[i.RedactEventInput]
    ) -> RedactionResult:
        result = await execute(info, c.RedactEvent, input)
        return RedactionResult(target=strawberry.ID(input.event), **WriteResult.fields_of(result))
