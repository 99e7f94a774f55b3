"""The application service: one method per command, each validated, idempotent, all-or-nothing."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import IntegrityError, StoredEvent
from pydantic.alias_generators import to_camel
from sqlalchemy import Connection, Engine

from domain import AGGREGATES, EVENT_KINDS, Fact, TimelineAggregate, believe
from domain.errors import AlreadyExists, InvalidInput, NotFound, VersionConflict
from domain.facts import fact_form
from domain.rules import check_no_response_cycle
from domain.values import ACTOR_FIELDS, Reference, aggregate_uuid, format_instant
from timeline import commands as c
from timeline import eventstore, integrity, migrations, redaction, store
from timeline.database import EVENTS_TABLE, require_log
from timeline.settings import Settings
from timeline.store import AggregateCache, CachedAggregate, CommandResult
from timeline.validation import validate

A = TypeVar("A", bound=TimelineAggregate)


@dataclass(frozen=True)
class LoggedFact:
    """A fact with its place in the global log: the cursor every subscriber resumes from."""

    position: int
    kind: str
    fact: Fact


class Timeline(Application[UUID]):
    """Policy Timeline's write side over the `eventsourcing` event store.

    With `read_only`, the database must already hold the log (else LogMissing) and nothing
    is created: a read or `verify` against a misspelled URL fails instead of answering from a
    fresh empty database.
    """

    name = "Timeline"

    def __init__(self, settings: Settings | None = None, *, read_only: bool = False) -> None:
        self.settings = settings or Settings()
        if read_only:
            require_log(self.settings)
        super().__init__(
            env={
                "PERSISTENCE_MODULE": "eventsourcing_sqlalchemy",
                "SQLALCHEMY_URL": self.settings.sqlalchemy_url,
                "CREATE_TABLE": "n" if read_only else "y",
            }
        )
        if not read_only:
            migrations.upgrade(self.engine)
        store.use_wal(self.engine)
        self._recent = AggregateCache()

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine of the event store, shared by the read models."""
        return eventstore.engine(self.recorder)

    # -- commands --------------------------------------------------------------------------

    def announce_policy(self, command: c.AnnouncePolicy | dict[str, Any]) -> CommandResult:
        cmd = validate(c.AnnouncePolicy, command)
        return self._create(
            cmd,
            "policy",
            cmd.id,
            lambda cls: cls.announce(cmd.id, **cmd.payload()),
            refs={"owner": cmd.owner},
        )

    def revise_policy(self, command: c.RevisePolicy | dict[str, Any]) -> CommandResult:
        cmd = validate(c.RevisePolicy, command)
        return self._change(cmd, "policy", cmd.id, lambda a: a.revise(**cmd.payload()))

    def withdraw_policy(self, command: c.WithdrawPolicy | dict[str, Any]) -> CommandResult:
        cmd = validate(c.WithdrawPolicy, command)
        return self._change(cmd, "policy", cmd.id, lambda a: a.withdraw(**cmd.payload()))

    def announce_regulatory_action(
        self, command: c.AnnounceRegulatoryAction | dict[str, Any]
    ) -> CommandResult:
        cmd = validate(c.AnnounceRegulatoryAction, command)
        refs = {
            "authority": cmd.authority,
            **{f"targets[{i}]": t for i, t in enumerate(cmd.targets)},
        }
        return self._create(
            cmd,
            "regulatory-action",
            cmd.id,
            lambda cls: cls.announce(cmd.id, **cmd.payload()),
            refs=refs,
            responses=cmd.in_response_to,
        )

    def amend_regulatory_action(
        self, command: c.AmendRegulatoryAction | dict[str, Any]
    ) -> CommandResult:
        cmd = validate(c.AmendRegulatoryAction, command)
        self._check_no_cycle("regulatory-action", cmd.id, cmd.in_response_to or [])
        self._check_references(
            {f"targets[{i}]": t for i, t in enumerate(cmd.targets or [])}, cmd.in_response_to or []
        )
        return self._change(cmd, "regulatory-action", cmd.id, lambda a: a.amend(**cmd.payload()))

    def lift_regulatory_action(
        self, command: c.LiftRegulatoryAction | dict[str, Any]
    ) -> CommandResult:
        cmd = validate(c.LiftRegulatoryAction, command)
        return self._change(cmd, "regulatory-action", cmd.id, lambda a: a.lift(**cmd.payload()))

    def record_statement(self, command: c.RecordStatement | dict[str, Any]) -> CommandResult:
        cmd = validate(c.RecordStatement, command)
        return self._create(
            cmd,
            "statement",
            cmd.id,
            lambda cls: cls.record_statement(cmd.id, **cmd.payload()),
            refs={"actor": cmd.actor},
            responses=cmd.in_response_to,
        )

    def register_actor(self, command: c.RegisterActor | dict[str, Any]) -> CommandResult:
        cmd = validate(c.RegisterActor, command)
        refs = {"parent": cmd.parent} if cmd.parent else {}
        return self._create(
            cmd, "actor", cmd.id, lambda cls: cls.register(cmd.id, **cmd.payload()), refs=refs
        )

    def rename_actor(self, command: c.RenameActor | dict[str, Any]) -> CommandResult:
        cmd = validate(c.RenameActor, command)
        return self._change(cmd, "actor", cmd.id, lambda a: a.rename(**cmd.payload()))

    def correct_event(self, command: c.CorrectEvent | dict[str, Any]) -> CommandResult:
        cmd = validate(c.CorrectEvent, command)
        ref = Reference.parse("event", cmd.event)
        assert ref.version is not None

        def correct(aggregate: TimelineAggregate) -> None:
            changes = self._checked_changes(aggregate, ref.version or 0, cmd.changes)
            self._check_no_cycle(
                ref.kind, ref.slug, changes.get("in_response_to") or [], prefix="changes."
            )
            self._check_corrected_references(changes)
            aggregate.correct(
                ref.version or 0, changes, cmd.reason, [s.payload() for s in cmd.sources]
            )

        return self._change(cmd, ref.kind, ref.slug, correct)

    def retract_event(self, command: c.RetractEvent | dict[str, Any]) -> CommandResult:
        cmd = validate(c.RetractEvent, command)
        ref = Reference.parse("event", cmd.event)
        return self._change(
            cmd,
            ref.kind,
            ref.slug,
            lambda a: a.retract(ref.version or 0, cmd.reason, [s.payload() for s in cmd.sources]),
        )

    def redact_event(self, command: c.RedactEvent | dict[str, Any]) -> CommandResult:
        """Erase an event's texts from the store (docs/evidence.md): its payload becomes a
        tombstone keeping the salted digest its leaf commits to, the salt is wiped and the
        redaction is recorded in the same stream, all in one transaction."""
        cmd = validate(c.RedactEvent, command)
        ref = Reference.parse("event", cmd.event)
        target = ref.version or 0
        events = eventstore.events_table(self.recorder)
        erased: list[tuple[int, bytes]] = []

        def redact(aggregate: TimelineAggregate) -> None:
            fields = aggregate.redaction_of(target)
            reference = str(Reference(ref.kind, ref.slug, aggregate.version + 1))
            with eventstore.transaction(self.recorder, commit=False) as session:
                stored = redaction.stored_target(session, events, aggregate.id, target)
            body = redaction.tombstone(stored, fields, reference, cmd.reason)
            aggregate.redact(target, cmd.reason, redaction.tombstone_digest(body))
            erased.append((stored.position, body))

        def erase(session: Any) -> None:
            for position, body in erased:
                redaction.erase(session, events, position, body)

        try:
            return self._change(cmd, ref.kind, ref.slug, redact, after=erase)
        except NotFound:
            raise InvalidInput("event", f"no {ref.kind} {ref.slug!r}") from None

    def handle(self, command: c.Command) -> CommandResult:
        """Run a validated command by its type: the one dispatch of GraphQL and NDJSON import."""
        handler = HANDLERS.get(type(command))
        if handler is None:
            raise InvalidInput("command", f"no handler for {type(command).__name__}")
        return handler(self, command)

    def execute(self, name: str, data: dict[str, Any]) -> CommandResult:
        """Run a command by its wire name (`announcePolicy`, ...), as NDJSON import does."""
        if name not in c.COMMANDS:
            raise InvalidInput(
                "command", f"unknown command {name!r} (known: {', '.join(sorted(c.COMMANDS))})"
            )
        return self.handle(validate(c.COMMANDS[name], data))

    # -- reads of the log ------------------------------------------------------------------

    def get_aggregate(self, kind: str, slug: str) -> TimelineAggregate:
        """The aggregate as stored now, the caller's own; NotFound when the slug has no stream."""
        aggregate: TimelineAggregate = self._load(kind, slug).aggregate
        return aggregate

    def facts_of(self, kind: str, slug: str) -> list[Fact]:
        """Every stored fact of one aggregate, in version order (the oracle's input)."""
        loaded = self._load(kind, slug)
        facts = list(loaded.aggregate.facts)
        self._recent.put(loaded.aggregate.id, loaded)
        return facts

    def _load(self, kind: str, slug: str) -> CachedAggregate:
        """The aggregate as stored now, taken out of the cache of recent ones.

        A cached aggregate is used only if the store still holds its last event byte for
        byte (read in the current transaction, with any newer events, in one select);
        otherwise (an import rolled back, a gap) the stream is replayed from the start.
        """
        aggregate_id = aggregate_uuid(kind, slug)
        cached = self._recent.take(aggregate_id)
        events = eventstore.events_table(self.recorder)
        with eventstore.transaction(self.recorder, commit=False) as session:
            if cached is not None:
                newer = store.stream_events(session, events, aggregate_id, cached.version - 1)
                if newer and cached.ends_with(newer[0]):
                    return self._project(cached.aggregate, newer[1:]) if newer[1:] else cached
            stored = store.stream_events(session, events, aggregate_id)
        if not stored:
            raise NotFound(kind, slug)
        loaded = self._project(None, stored)
        assert isinstance(loaded.aggregate, AGGREGATES[kind])
        return loaded

    def _project(self, aggregate: Any, stored: Sequence[StoredEvent]) -> CachedAggregate:
        """Apply stored events (the library's `project_aggregate` without its per-event
        runtime Protocol check, which cost more than the rest of the replay)."""
        for event in stored:
            aggregate = self.mapper.to_domain_event(event).mutate(aggregate)  # type: ignore[attr-defined]
        last = stored[-1]
        return CachedAggregate(aggregate, last.originator_version, last.topic, bytes(last.state))

    def log(  # type: ignore[override]  # replaces the library's deprecated `log` property
        self, after: int = 0, limit: int = 1000, stop: int | None = None
    ) -> list[LoggedFact]:
        """Facts in global log order after position `after` (exclusive)."""
        notifications = self.recorder.select_notifications(
            start=after, limit=limit, stop=stop, inclusive_of_start=False
        )
        return [self._logged(n.id, n) for n in notifications]

    def logged_stream(
        self, connection: Connection, aggregate_id: UUID, last_version: int
    ) -> list[LoggedFact]:
        """One stream's facts up to `last_version` with their log positions, read on
        `connection` (the projector's, in its transaction: the read models live in the log's
        database), decoded as `log` decodes them; a redacted payload reads as its tombstone."""
        events = eventstore.events_table(self.recorder)
        return [
            self._logged(position, stored)
            for position, stored in store.positioned_events(
                connection, events, aggregate_id, last_version
            )
        ]

    def _logged(self, position: int, stored: StoredEvent) -> LoggedFact:
        """A stored event (or notification) at `position` as the fact subscribers read."""
        event = self.mapper.to_domain_event(stored)
        return LoggedFact(position, EVENT_KINDS[type(event)], Fact.from_event(event))

    def iter_log(self, after: int = 0, batch: int = 1000) -> Iterator[LoggedFact]:
        """Every fact after `after`, in order, read in batches."""
        while True:
            page = self.log(after, batch)
            yield from page
            if len(page) < batch:
                return
            after = page[-1].position

    def head_position(self) -> int:
        """The position of the latest event in the log (0 when empty)."""
        return self.recorder.max_notification_id() or 0

    # -- the machinery ---------------------------------------------------------------------

    def _create(
        self,
        cmd: c.Command,
        kind: str,
        slug: str,
        make: Callable[[type[Any]], TimelineAggregate],
        refs: dict[str, str] | None = None,
        responses: Sequence[str] = (),
    ) -> CommandResult:
        def build() -> TimelineAggregate:
            retracted = None
            if self._existing({aggregate_uuid(kind, slug)}):
                retracted = self.get_aggregate(kind, slug)  # ours alone until saved
                if retracted.believed():
                    raise AlreadyExists(f"{kind} {slug!r} already exists; revise it instead", "id")
            expected = 0 if retracted is None else retracted.version
            if cmd.expected_version not in (None, expected):
                raise VersionConflict(
                    f"expectedVersion {cmd.expected_version} is stale: {kind} {slug!r} "
                    + ("does not exist yet" if retracted is None else f"is at version {expected}"),
                    "expected_version",
                )
            self._check_no_cycle(kind, slug, responses)
            self._check_references(refs or {}, responses)
            if retracted is not None:  # every fact retracted: the stream continues anew
                retracted.announce_anew(**cmd.payload())
                return retracted
            return make(AGGREGATES[kind])

        return self._run(cmd, kind, slug, build)

    def _change(
        self,
        cmd: c.Command,
        kind: str,
        slug: str,
        change: Callable[[Any], None],
        after: Callable[[Any], None] | None = None,
    ) -> CommandResult:
        def build() -> TimelineAggregate:
            aggregate = self.get_aggregate(kind, slug)  # ours alone until saved (see _run)
            if cmd.expected_version is not None and cmd.expected_version != aggregate.version:
                raise VersionConflict(
                    f"expectedVersion {cmd.expected_version} is stale: {kind} {slug!r} is at "
                    f"version {aggregate.version}",
                    "expected_version",
                )
            change(aggregate)
            return aggregate

        return self._run(cmd, kind, slug, build, after)

    def _run(
        self,
        cmd: c.Command,
        kind: str,
        slug: str,
        build: Callable[[], TimelineAggregate],
        after: Callable[[Any], None] | None = None,
    ) -> CommandResult:
        """Build the change, then store events, stream name and idempotency key (and what
        `after` writes with the session) in one transaction; a lost race comes back as
        VersionConflict, never as a silent merge.

        The build reads in the same transaction (no second one per command); that takes no
        lock: the event store locks its table only at the insert (PostgreSQL), and SQLite
        takes its write lock only at the first write.
        """
        key = cmd.idempotency_key
        fingerprint = _fingerprint(cmd) if key is not None else ""  # only keys need it
        if key is not None and (prior := self._prior_result(key, fingerprint)) is not None:
            return prior
        try:
            with eventstore.transaction(self.recorder, commit=True) as session:
                aggregate = build()
                pending = aggregate.collect_events()
                if not pending:
                    raise InvalidInput("input", "the command changes nothing")
                notifications = store.insert_events(
                    session,
                    self.recorder,
                    [self.mapper.to_stored_event(e) for e in pending],
                    notify=False,  # the seal sends the NOTIFY in its own statement
                )  # as `save`, without its Protocol checks or the ORM unit of work
                self._seal(session, notifications, f"{kind}:{slug}", pending)
                if after is not None:
                    after(session)
                last = pending[-1]
                result = CommandResult(
                    kind=kind,
                    id=slug,
                    aggregate_id=aggregate.id,
                    version=last.originator_version,
                    position=notifications[-1].id,
                    recorded_at=last.timestamp,
                    event_type=fact_form(type(last).__name__, vars(last))[0],
                )
                if pending[0].originator_version == 1:
                    store.register_stream(session, aggregate.id, kind, slug)
                if key is not None:
                    store.remember(session, key, fingerprint, result)
        except IntegrityError:
            if key is not None and (prior := self._prior_result(key, fingerprint)) is not None:
                return prior
            raise VersionConflict(
                f"{kind} {slug!r} was changed by another writer at the same "
                "time; reload it and try again"
            ) from None
        stored = notifications[-1]
        self._recent.put(
            aggregate.id,
            CachedAggregate(
                aggregate, stored.originator_version, stored.topic, bytes(stored.state)
            ),
        )
        return result

    def _seal(
        self, session: Any, notifications: Sequence[Any], stream: str, pending: Sequence[Any]
    ) -> None:
        """Add the command's events to the log's Merkle tree in its transaction (a method so
        that the benchmark can measure a baseline without it)."""
        integrity.seal(
            session,
            notifications,
            stream,
            [event.timestamp for event in pending],
            notify=eventstore.channel(self.recorder),
        )

    def _prior_result(self, key: str, fingerprint: str) -> CommandResult | None:
        found = store.find_idempotent(self.engine, key)
        if found is None:
            return None
        stored_fingerprint, result = found
        if stored_fingerprint != fingerprint:
            raise InvalidInput(
                "idempotencyKey",
                "this key was already used for a different "
                "command; use a new key for a new command",
            )
        return result

    def _check_references(
        self, refs: dict[str, str], responses: Sequence[str], prefix: str = ""
    ) -> None:
        """Actors named and facts responded to must exist (as known now): one query for all,
        and one more for those wholly retracted (streams whose every fact is retracted)."""
        cited = [
            (
                f"{prefix}inResponseTo[{index}]",
                Reference.parse(f"{prefix}inResponseTo[{index}]", text),
            )
            for index, text in enumerate(responses)
        ]
        wanted = {aggregate_uuid("actor", slug) for slug in refs.values()}
        wanted |= {ref.aggregate_id for _, ref in cited}
        existing = self._existing(wanted)
        streams = {aggregate_uuid("actor", slug): ("actor", slug) for slug in refs.values()}
        streams |= {ref.aggregate_id: (ref.kind, ref.slug) for _, ref in cited}
        gone = self._wholly_retracted({i: s for i, s in streams.items() if i in existing})
        for field, slug in refs.items():
            if aggregate_uuid("actor", slug) not in existing:
                raise InvalidInput(prefix + field, f"no actor {slug!r}; register it first")
            if aggregate_uuid("actor", slug) in gone:
                raise InvalidInput(prefix + field, _RETRACTED.format(kind="actor", slug=slug))
        for field, ref in cited:
            if ref.aggregate_id not in existing:
                raise InvalidInput(field, f"no {ref.kind} {ref.slug!r}")
            if ref.aggregate_id in gone:
                raise InvalidInput(field, _RETRACTED.format(kind=ref.kind, slug=ref.slug))
            if ref.version is not None and ref.version > self._stream_version(ref.aggregate_id):
                raise InvalidInput(field, f"{ref.kind} {ref.slug!r} has no event {ref.version}")

    def _wholly_retracted(self, streams: dict[UUID, tuple[str, str]]) -> set[UUID]:
        """The streams (id -> kind, slug) whose every fact is retracted: they do not exist as
        known. Only those holding a retraction are loaded (the cache keeps them warm)."""
        events = eventstore.events_table(self.recorder)
        with eventstore.transaction(self.recorder, commit=False) as session:
            candidates = store.streams_with_retractions(session, events, set(streams))
        return {i for i in candidates if not believe(self.facts_of(*streams[i]))}

    def _check_no_cycle(
        self, kind: str, slug: str, responses: Sequence[str], prefix: str = ""
    ) -> None:
        """`inResponseTo` may not cite the fact's own aggregate nor close a loop of responses
        (the rule is domain.rules.check_no_response_cycle; this walks the stored responses)."""
        cited = [
            (field, _stream_of(Reference.parse(field, text)))
            for field, text in (
                (f"{prefix}inResponseTo[{i}]", text) for i, text in enumerate(responses)
            )
        ]
        if cited:
            check_no_response_cycle((kind, slug), cited, self._responses_of)

    def _responses_of(self, stream: tuple[str, str]) -> list[tuple[str, str]]:
        """The streams an aggregate responds to now (any of its believed facts); none for a
        kind that cannot respond or a stream that does not exist."""
        kind, slug = stream
        if kind not in _RESPONDING_KINDS:
            return []
        try:
            believed = believe(self.facts_of(kind, slug))  # keeps the cache warm
        except NotFound:
            return []
        return [
            _stream_of(Reference.parse("inResponseTo", text))
            for fact in believed
            for text in fact.data.get("in_response_to") or ()
        ]

    def _existing(self, aggregate_ids: set[UUID]) -> set[UUID]:
        """Streams that exist, read inside the current transaction when one is open (an import
        runs many commands in one transaction and must see its own earlier lines)."""
        with eventstore.transaction(self.recorder, commit=False) as session:
            return store.existing_streams(session, aggregate_ids)

    def _stream_version(self, aggregate_id: UUID) -> int:
        """The latest version of a stream, read from the store's index (0 if none), inside
        the current transaction when one is open."""
        events = eventstore.events_table(self.recorder)
        with eventstore.transaction(self.recorder, commit=False) as session:
            return store.stream_version(session, events, aggregate_id)

    def _check_corrected_references(self, changes: dict[str, Any]) -> None:
        """A correction names actors and cited facts under the same rule as the original."""
        refs = {name: changes[name] for name in ACTOR_FIELDS if changes.get(name)}
        refs.update({f"targets[{i}]": t for i, t in enumerate(changes.get("targets") or [])})
        self._check_references(refs, changes.get("in_response_to") or [], prefix="changes.")

    def _checked_changes(
        self, aggregate: TimelineAggregate, version: int, changes: dict[str, Any]
    ) -> dict[str, Any]:
        """Validate corrected fields as the original command would, in snake_case."""
        target = aggregate.fact(version)
        model = c.COMMAND_FOR_EVENT[target.type]
        snake = {_snake(name): value for name, value in changes.items()}
        original = {k: v for k, v in target.data.items() if k != "slug"}
        original.update(
            id=aggregate.slug, effective_at=target.effective_at, announced_at=target.announced_at
        )
        merged = {k: v for k, v in {**original, **snake}.items() if v is not None}
        for given in changes:
            if _snake(given) not in original:
                raise InvalidInput(f"changes.{given}", f"{target.type} has no field {given!r}")
        try:
            checked = validate(model, merged).payload()
        except InvalidInput as error:
            raise InvalidInput(f"changes.{_camel_path(error.field)}", error.reason) from None
        result = {name: checked.get(name) for name in snake}
        for name in ("effective_at", "announced_at"):
            value = result.get(name)
            if isinstance(value, datetime):
                result[name] = format_instant(value)
        return result


# The library names the event store's table after the application: timeline.database's
# EVENTS_TABLE (which the read-only paths check without importing the library) must match.
assert Timeline.name.lower() + "_events" == EVENTS_TABLE


#: The handler of each command type: mutations and imports are followed to their method here.
HANDLERS: dict[type[c.Command], Callable[[Timeline, Any], CommandResult]] = {
    c.AnnouncePolicy: Timeline.announce_policy,
    c.RevisePolicy: Timeline.revise_policy,
    c.WithdrawPolicy: Timeline.withdraw_policy,
    c.AnnounceRegulatoryAction: Timeline.announce_regulatory_action,
    c.AmendRegulatoryAction: Timeline.amend_regulatory_action,
    c.LiftRegulatoryAction: Timeline.lift_regulatory_action,
    c.RecordStatement: Timeline.record_statement,
    c.RegisterActor: Timeline.register_actor,
    c.RenameActor: Timeline.rename_actor,
    c.CorrectEvent: Timeline.correct_event,
    c.RetractEvent: Timeline.retract_event,
    c.RedactEvent: Timeline.redact_event,
}


#: Kinds whose facts may respond to others (`inResponseTo`).
_RESPONDING_KINDS = ("regulatory-action", "statement")


#: Why a reference to a wholly retracted stream is refused.
_RETRACTED = "{kind} {slug!r} does not exist as known: every fact of it was retracted"


def _stream_of(ref: Reference) -> tuple[str, str]:
    """The (kind, slug) of the stream a reference names, whatever its version."""
    return ref.kind, ref.slug


def _camel_path(path: str) -> str:
    """`add_clauses[0].expires_at` -> `addClauses[0].expiresAt`: field paths as on the wire."""
    return re.sub(r"[a-z0-9]+(?:_[a-z0-9]+)+", lambda m: to_camel(m.group(0)), path)


def _fingerprint(cmd: c.Command) -> str:
    body = type(cmd).__name__ + cmd.model_dump_json(exclude={"idempotency_key"})
    return hashlib.sha256(body.encode()).hexdigest()


def _snake(name: str) -> str:
    return "".join("_" + ch.lower() if ch.isupper() else ch for ch in name)
