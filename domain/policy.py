"""Policy: a document of clauses owned by an actor, announced, revised and withdrawn."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from domain.aggregate import TimelineAggregate
from domain.errors import InvalidInput, InvalidRevision, NothingChanged, UnfoldableHistory
from domain.facts import RETRACTED, Correction, Fact
from domain.rules import Fold
from domain.values import Clause, Source

ACTIVE = "ACTIVE"
WITHDRAWN = "WITHDRAWN"


@dataclass(frozen=True)
class PolicyState:
    """A policy as in force at one valid time (as believed at one record time)."""

    slug: str
    title: str
    owner: str
    summary: str
    status: str
    clauses: tuple[Clause, ...]
    sources: tuple[Source, ...]
    revision: int
    changed_by: int
    change_type: str
    #: The corrections of the facts folded into it, in fold order: a version built from a
    #: corrected fact says so (and a reader sees when and why).
    corrected_by: tuple[Correction, ...] = ()

    @property
    def text(self) -> str:
        """The whole policy as plain text: headings and clauses in order."""
        return "\n\n".join(f"{c.heading}\n{c.text}" if c.heading else c.text for c in self.clauses)

    def clause(self, clause_id: str) -> Clause | None:
        return next((c for c in self.clauses if c.id == clause_id), None)

    @property
    def content(self) -> tuple[str, tuple[Clause, ...], tuple[Source, ...]]:
        """What a revision may change: the title, the clauses in order, the sources cited.
        A revision's summary describes the change, so it is not part of it."""
        return self.title, self.clauses, self.sources


def _sources(state_sources: Iterable[Source], fact: Fact) -> tuple[Source, ...]:
    if not fact.data.get("sources") and isinstance(state_sources, tuple):
        return state_sources  # the same tuple: successive states share it (and its text)
    known = list(state_sources)
    urls = {s.url for s in known}
    for data in fact.data.get("sources") or ():
        source = Source.from_dict(data)
        if source.url not in urls:
            known.append(source)
            urls.add(source.url)
    return tuple(known)


def check_expiry(field: str, expires_at: datetime | None, effective_at: datetime) -> None:
    """A clause must be in force for some time: one that expires before, or when, the change
    that sets it takes effect is refused (InvalidInput naming `field`), never stored empty."""
    if expires_at is not None and expires_at <= effective_at:
        raise InvalidInput(
            field,
            f"the clause expires at {expires_at.isoformat()}, not after the change takes "
            f"effect ({effective_at.isoformat()}); a clause must expire after its effectiveAt",
        )


class PolicyRules:
    """Fold rules: a revision applies to the policy as it stands at its effectiveAt."""

    kind = "policy"

    def fold_time(self, fact: Fact) -> datetime:
        assert fact.effective_at is not None
        return fact.effective_at

    def apply(self, state: PolicyState | None, fact: Fact) -> PolicyState:
        at = self.fold_time(fact)
        if fact.type == "PolicyAnnounced":
            if state is not None:
                raise UnfoldableHistory("effectiveAt", "the policy is already announced")
            return PolicyState(
                slug=fact.data["slug"],
                title=fact.data["title"],
                owner=fact.data["owner"],
                summary=fact.data.get("summary", ""),
                status=ACTIVE,
                clauses=tuple(Clause.from_dict(c) for c in fact.data["clauses"]),
                sources=_sources((), fact),
                revision=1,
                changed_by=fact.version,
                change_type=fact.type,
                corrected_by=fact.corrections,
            )
        if state is None:
            raise UnfoldableHistory(
                "effectiveAt",
                f"the policy is not in force at {at.isoformat()}: nothing can "
                "change it before its announcement takes effect",
            )
        if state.status == WITHDRAWN:
            raise InvalidRevision(
                "id", f"the policy was withdrawn before {at.isoformat()}; it cannot change any more"
            )
        clauses = {c.id: c for c in state.clauses if c.in_force(at)}
        if fact.type == "PolicyRevised":
            clauses = _revise_clauses(clauses, fact, at)
        status = WITHDRAWN if fact.type == "PolicyWithdrawn" else ACTIVE
        return replace(
            state,
            title=fact.data.get("title") or state.title,
            summary=fact.data.get("summary") or state.summary,
            status=status,
            clauses=tuple(clauses.values()),
            sources=_sources(state.sources, fact),
            revision=state.revision + 1,
            changed_by=fact.version,
            change_type=fact.type,
            corrected_by=state.corrected_by + fact.corrections,
        )

    def view(self, state: PolicyState, valid_at: datetime) -> PolicyState:
        in_force = tuple(c for c in state.clauses if c.in_force(valid_at))
        return state if len(in_force) == len(state.clauses) else replace(state, clauses=in_force)

    def breakpoints(self, state: PolicyState) -> Iterable[datetime]:
        return (c.expires_at for c in state.clauses if c.expires_at is not None)


def _revise_clauses(clauses: dict[str, Clause], fact: Fact, at: datetime) -> dict[str, Clause]:
    """Apply a revision's removals, amendments and additions, in that order."""
    clauses = dict(clauses)
    for index, clause_id in enumerate(fact.data.get("remove_clauses") or ()):
        if clause_id not in clauses:
            raise InvalidRevision(
                f"removeClauses[{index}]",
                f"no clause {clause_id!r} is in force at {at.isoformat()}",
            )
        del clauses[clause_id]
    for index, change in enumerate(fact.data.get("amend_clauses") or ()):
        if change["id"] not in clauses:
            raise InvalidRevision(
                f"amendClauses[{index}].id",
                f"no clause {change['id']!r} is in force at {at.isoformat()}",
            )
        clauses[change["id"]] = clauses[change["id"]].amended(change)
    for index, data in enumerate(fact.data.get("add_clauses") or ()):
        if data["id"] in clauses:
            raise InvalidRevision(
                f"addClauses[{index}].id",
                f"clause {data['id']!r} already exists at {at.isoformat()}",
            )
        clauses[data["id"]] = Clause.from_dict(data)
    return clauses


class Policy(TimelineAggregate):
    """A policy stream: PolicyAnnounced, then PolicyRevised / PolicyWithdrawn, corrections."""

    KIND = "policy"
    RULES = PolicyRules()

    class PolicyAnnounced(TimelineAggregate.Created):
        slug: str
        title: str
        owner: str
        summary: str
        clauses: list[dict[str, Any]]
        effective_at: datetime
        announced_at: datetime
        sources: list[dict[str, Any]]

    class PolicyRevised(TimelineAggregate.Event):
        title: str | None
        summary: str
        add_clauses: list[dict[str, Any]]
        amend_clauses: list[dict[str, Any]]
        remove_clauses: list[str]
        effective_at: datetime
        announced_at: datetime
        sources: list[dict[str, Any]]

    class PolicyWithdrawn(TimelineAggregate.Event):
        summary: str
        effective_at: datetime
        announced_at: datetime
        sources: list[dict[str, Any]]

    class EventCorrected(TimelineAggregate.EventCorrected):
        pass

    class EventRetracted(TimelineAggregate.EventRetracted):
        pass

    class EventRedacted(TimelineAggregate.EventRedacted):
        pass

    class AnnouncedAnew(TimelineAggregate.AnnouncedAnew):
        pass

    ANNOUNCEMENT = "PolicyAnnounced"

    @classmethod
    def announce(cls, slug: str, **payload: Any) -> Policy:
        return cls.start(cls.PolicyAnnounced, slug, **payload)

    def revise(self, **payload: Any) -> None:
        self.record(Policy.PolicyRevised, **payload)

    def withdraw(self, **payload: Any) -> None:
        self.record(Policy.PolicyWithdrawn, **payload)

    def refuse_no_op(self, folded: Fold[Any], candidate: Fact) -> None:
        """A revision (new, or as a correction leaves it) must change the policy as it stands
        at its effectiveAt: its title, a clause or the sources. Only the revision written or
        corrected is judged: a correction of an earlier event that makes a later revision
        redundant is a fact about the past, and stays allowed."""
        if candidate.type == RETRACTED:
            return
        version = candidate.data["target"] if candidate.is_meta else candidate.version
        index = next((i for i, f in enumerate(folded.ordered) if f.version == version), 0)
        revision = folded.ordered[index]
        if revision.type != "PolicyRevised" or index == 0:
            return
        at = self.RULES.fold_time(revision)
        before: PolicyState = self.RULES.view(folded.states[index - 1], at)
        after: PolicyState = self.RULES.view(folded.states[index], at)
        if before.content != after.content:
            return
        reason = (
            f"at {at.isoformat()} the policy already has this title, these clauses and these "
            "sources: a revision must change something"
        )
        if candidate.is_meta:
            raise NothingChanged(
                "changes", f"the corrected revision would change nothing: {reason}"
            )
        raise NothingChanged(_first_change(revision), f"the revision changes nothing: {reason}")


def _first_change(revision: Fact) -> str:
    """The first part of a revision that was given, to name in its refusal."""
    for key, field in (
        ("title", "title"),
        ("amend_clauses", "amendClauses"),
        ("remove_clauses", "removeClauses"),
        ("add_clauses", "addClauses"),
    ):
        if revision.data.get(key):
            return field
    return "input"  # an empty revision (the command's model refuses it first)
