"""The base of every aggregate: keeps its facts, checks each change against the fold."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain.errors import AlreadyExists, InvalidInput, NothingChanged, UnfoldableHistory
from domain.facts import REDACTED, Fact, believe, fact_form
from domain.redaction import placeholder, redact, redactable_fields
from domain.rules import Fold, FoldRules, extend, fold
from domain.values import aggregate_uuid

A = TypeVar("A", bound="TimelineAggregate")

#: Payload fields that a correction may not touch: they are what the event is about.
_IMMUTABLE_FIELDS = frozenset({"slug"})


class TimelineAggregate(Aggregate):
    """An aggregate whose state is its list of facts; meaning comes from the fold."""

    KIND: ClassVar[str]
    RULES: ClassVar[FoldRules[Any]]
    #: The type of the event that starts a stream of this kind (its announcement).
    ANNOUNCEMENT: ClassVar[str]

    if TYPE_CHECKING:  # set by the events; class annotations would make them dataclass fields
        slug: str
        facts: list[Fact]
        _fold: tuple[int, Fold[Any] | None]

    class Created(Aggregate.Created):
        """Base of the events that start a stream."""

        def apply(self, aggregate: Any) -> None:
            aggregate.slug = vars(self)["slug"]
            aggregate.facts = [Fact.from_event(self)]

    class Event(Aggregate.Event):
        """Base of every later event."""

        def apply(self, aggregate: Any) -> None:
            aggregate.facts.append(Fact.from_event(self))

    class EventCorrected(Event):
        """Replaces fields of an earlier event from now on; what was said before stays."""

        target: int
        changes: dict[str, Any]
        reason: str
        sources: list[dict[str, Any]]

    class EventRetracted(Event):
        """Withdraws an earlier event from the believed history from now on."""

        target: int
        reason: str
        sources: list[dict[str, Any]]

    class EventRedacted(Event):
        """Erased fields of an earlier event in the store (a court order, data protection):
        its payload is now a tombstone whose digest is `tombstone_digest`; what it means to
        the fold is unchanged, only its texts read as redacted."""

        target: int
        reason: str
        fields: list[str]
        tombstone_digest: str

        def apply(self, aggregate: Any) -> None:
            super().apply(aggregate)
            text = placeholder(f"{aggregate.KIND}:{aggregate.slug}@{self.originator_version}")
            aggregate.facts = [
                replace(f, data=redact(f.data, self.fields, text))
                if f.version == self.target
                else f
                for f in aggregate.facts
            ]

    class AnnouncedAnew(Event):
        """The announcement again, after every fact of the stream was retracted: it reads as
        the fact `announcement` with `payload` (the library allows a Created event only as a
        stream's first), so the stream continues where the wrong record left it."""

        announcement: str
        payload: dict[str, Any]
        effective_at: datetime
        announced_at: datetime

    @classmethod
    def start(cls: type[A], event_class: type[Aggregate.Created], slug: str, **kwargs: Any) -> A:
        """Create the aggregate with its first event, after checking that the fact folds."""
        aggregate_id = aggregate_uuid(cls.KIND, slug)
        candidate = _candidate(aggregate_id, 1, event_class.__name__, kwargs | {"slug": slug})
        folded = check_foldable(cls.RULES, [candidate], candidate)
        aggregate = cls._create(event_class, id=aggregate_id, slug=slug, **kwargs)
        aggregate._fold = (aggregate.version, folded.recorded(candidate, aggregate.facts[-1]))
        return aggregate

    def record(self, event_class: type[Aggregate.Event], **kwargs: Any) -> None:
        """Trigger a later event, after checking the history still folds with it.

        The fold is kept between commands: a fact that sorts after every believed fact only
        applies to its last state; any other change refolds from the first fact it moves.
        """
        candidate = _candidate(self.id, self.version + 1, event_class.__name__, kwargs)
        folded = self.folded()
        if folded is None and not candidate.is_meta and not self.believed():
            self.refuse_retracted(candidate)
        if (
            folded is not None
            and not candidate.is_meta
            and self.RULES.fold_time(candidate) >= self.RULES.fold_time(folded.ordered[-1])
        ):
            folded = extend(self.RULES, folded, candidate)
        else:
            folded = check_foldable(self.RULES, [*self.facts, candidate], candidate, folded)
        self.refuse_no_op(folded, candidate)
        # stored at the instant checked: a correction's mark (its recordedAt) is in the fold
        self.trigger_event(event_class, timestamp=candidate.recorded_at, **kwargs)
        self._fold = (self.version, folded.recorded(candidate, self.facts[-1]))

    def announce_anew(self, **kwargs: Any) -> None:
        """Announce a stream again whose every fact is retracted (re-record it under the right
        facts); a stream that still exists as known is refused as AlreadyExists."""
        if self.believed():
            raise AlreadyExists(
                f"{self.KIND} {self.slug!r} already exists; revise it instead", "id"
            )
        instants = {name: kwargs.pop(name) for name in ("effective_at", "announced_at")}
        self.record(
            vars(type(self))["AnnouncedAnew"],
            announcement=self.ANNOUNCEMENT,
            payload={**kwargs, "slug": self.slug},
            **instants,
        )

    def refuse_no_op(self, folded: Fold[Any], candidate: Fact) -> None:
        """Refuse a change that would leave the state exactly as it was (NothingChanged);
        `folded` is the history with it. Nothing is refused here; a policy overrides it."""

    def refuse_retracted(self, candidate: Fact) -> None:
        """Every fact of this stream is retracted: it does not exist as known, so only an
        announcement anew may follow (InvalidInput naming `id` for anything else)."""
        if candidate.type != self.ANNOUNCEMENT:
            raise InvalidInput(
                "id",
                f"{self.KIND} {self.slug!r} does not exist as known: every fact of it was "
                "retracted; announce it anew to record it again",
            )

    def folded(self) -> Fold[Any] | None:
        """The fold of the believed history now; None when it does not fold (the full check
        then explains why) or is empty, remembered until the next event."""
        version, folded = getattr(self, "_fold", (0, None))
        if version != self.version or folded is None:
            believed = believe(self.facts)
            try:
                folded = fold(self.RULES, believed) if believed else None
            except Exception:  # any failure: leave the verdict to the full check
                folded = None
            self._fold = (self.version, folded)
        return folded if folded is not None and folded.ordered else None

    def fact(self, version: int, field: str = "event") -> Fact:
        """The stored fact at `version`; corrections and retractions cannot be targets."""
        for fact in self.facts:
            if fact.version == version:
                if fact.is_meta:
                    raise InvalidInput(
                        field,
                        f"event {version} is a {fact.type}; correct or "
                        "retract the original event instead",
                    )
                return fact
        raise InvalidInput(
            field,
            f"{self.KIND} {self.slug!r} has no event {version} (its latest is {self.version})",
        )

    def believed(self) -> list[Fact]:
        """The facts as believed now (corrections applied, retractions dropped)."""
        return believe(self.facts)

    def correct(
        self,
        target: int,
        changes: Mapping[str, Any],
        reason: str,
        sources: Sequence[Mapping[str, Any]],
    ) -> None:
        """Correct fields of event `target`; refused if the corrected history would not fold."""
        fact = self.fact(target)
        current = next((f for f in self.believed() if f.version == target), None)
        if current is None:
            raise InvalidInput("event", f"event {target} was retracted; it cannot be corrected")
        allowed = set(fact.data) - _IMMUTABLE_FIELDS | {"effective_at", "announced_at"}
        if not changes:
            raise InvalidInput("changes", "name at least one field to correct")
        for name in changes:
            if name not in allowed:
                raise InvalidInput(
                    f"changes.{name}",
                    f"{fact.type} has no correctable field "
                    f"{name!r} (fields: {', '.join(sorted(allowed))})",
                )
        if all(_reads(current, name, value) for name, value in changes.items()):
            raise NothingChanged(
                "changes",
                f"event {target} already reads so ({', '.join(_camel(n) for n in changes)} "
                "unchanged): a correction must change something",
            )
        self.record(
            type(self).EventCorrected,
            target=target,
            changes=dict(changes),
            reason=reason,
            sources=list(sources),
        )

    def retract(self, target: int, reason: str, sources: Sequence[Mapping[str, Any]]) -> None:
        """Retract event `target`; refused if the remaining history would not fold."""
        self.fact(target)
        if target not in {f.version for f in self.believed()}:
            raise InvalidInput("event", f"event {target} is already retracted")
        self.record(type(self).EventRetracted, target=target, reason=reason, sources=list(sources))

    def redaction_of(self, target: int) -> list[str]:
        """The fields a redaction of event `target` would erase; refused (BAD_INPUT on
        `event`) for an event that does not exist, is a redaction, is redacted already, or
        holds no text to erase."""
        fact = next((f for f in self.facts if f.version == target), None)
        if fact is None:
            raise InvalidInput(
                "event",
                f"{self.KIND} {self.slug!r} has no event {target} (its latest is {self.version})",
            )
        if fact.type == REDACTED:
            raise InvalidInput("event", f"event {target} is a redaction; it cannot be redacted")
        earlier = self.redaction_by(target)
        if earlier is not None:
            raise InvalidInput(
                "event",
                f"event {target} is already redacted (by {self.KIND}:{self.slug}@{earlier})",
            )
        fields = redactable_fields(fact.data)
        if not fields:
            raise InvalidInput("event", f"event {target} ({fact.type}) holds no text to redact")
        return fields

    def redaction_by(self, target: int) -> int | None:
        """The version of the redaction of event `target`, if it was redacted."""
        return next(
            (f.version for f in self.facts if f.type == REDACTED and f.data["target"] == target),
            None,
        )

    def redact(self, target: int, reason: str, tombstone_digest: str) -> list[str]:
        """Record the redaction of event `target` (the caller replaces its stored payload by
        the tombstone of that digest in the same transaction); returns the erased fields."""
        fields = self.redaction_of(target)
        self.trigger_event(
            type(self).EventRedacted,
            target=target,
            reason=reason,
            fields=fields,
            tombstone_digest=tombstone_digest,
        )
        return fields


def check_foldable(
    rules: FoldRules[Any],
    facts: Sequence[Fact],
    candidate: Fact,
    since: Fold[Any] | None = None,
) -> Fold[Any]:
    """Refuse a change after which the believed history does not fold; return the fold of
    the history with the change (refolded from `since`, a fold without it). An empty history
    folds (to nothing): retracting a stream's only believed fact leaves it unknown from then.

    When an earlier fact is what no longer applies, the error says which one.
    """
    believed = believe(facts)
    if not believed:
        return Fold((), ())
    try:
        touched = {candidate.data["target"]} if candidate.is_meta else set()
        return fold(rules, believed, since, touched)
    except UnfoldableHistory as error:
        failed = error.fact
        if not isinstance(failed, Fact) or failed.version == candidate.version:
            raise
        raise UnfoldableHistory(
            error.field if not candidate.is_meta else "event",
            f"this change would leave event {failed.version} ({failed.type}, effective "
            f"{rules.fold_time(failed).isoformat()}) unfoldable: {error.reason}",
        ) from None


def _reads(fact: Fact, name: str, value: Any) -> bool:
    """Whether the (believed) fact already holds `value` in field `name`; instants are
    compared as instants, whatever their offset."""
    if name in ("effective_at", "announced_at"):
        try:
            instant = datetime.fromisoformat(value) if isinstance(value, str) else value
            return bool(instant == getattr(fact, name))
        except (TypeError, ValueError):
            return False
    return name in fact.data and bool(fact.data[name] == value)


def _camel(name: str) -> str:
    """`effective_at` -> `effectiveAt`: a payload field as clients spell it."""
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def _candidate(aggregate_id: UUID, version: int, type_name: str, kwargs: dict[str, Any]) -> Fact:
    """The fact a command would record, for checking before anything is stored."""
    fact_type, data = fact_form(
        type_name, {k: v for k, v in kwargs.items() if k not in {"effective_at", "announced_at"}}
    )
    return Fact(
        aggregate_id=aggregate_id,
        version=version,
        type=fact_type,
        recorded_at=datetime.now(UTC),
        effective_at=kwargs.get("effective_at"),
        announced_at=kwargs.get("announced_at"),
        data=data,
    )
