"""Domain exceptions, raised where the rule lives and mapped to API codes in one place."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


class TimelineError(Exception):
    """Base of every error a client can act on; `code` is the stable API code."""

    code = "BAD_INPUT"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def extensions(self) -> dict[str, Any]:
        """What a client needs beside `code` and the message (GraphQL `extensions`)."""
        return {}


class InvalidInput(TimelineError):
    """A command or query argument is malformed or breaks a rule; names the field."""

    code = "BAD_INPUT"

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class UnfoldableHistory(InvalidInput):
    """The change would leave the believed history impossible to fold (see DESIGN section 2)."""

    #: The fact that did not apply (a `domain.facts.Fact`), set by the fold.
    fact: object = None


class InvalidRevision(UnfoldableHistory):
    """A policy revision that does not apply to the policy as it stands at its effectiveAt."""


class NothingChanged(InvalidInput):
    """A revision or correction that would leave what it changes exactly as it already is:
    refused with the reason, so the log never holds a fact that says nothing."""


class NotFound(TimelineError):
    """The aggregate or event named does not exist (as known now)."""

    code = "NOT_FOUND"

    def __init__(self, kind: str, ident: str) -> None:
        super().__init__(f"{kind} {ident!r} not found")
        self.kind = kind
        self.ident = ident


def _at(instant: datetime) -> str:
    return instant.astimezone(UTC).isoformat()


#: A read's record-time basis as the client asked it: an instant, a log position, or None (now).
Known = datetime | int | None


def _basis(known_at: Known) -> str:
    """How a message names the record-time basis."""
    if known_at is None:
        return "now"
    if isinstance(known_at, int):
        return f"knownAtPosition {known_at}"
    return f"knownAt {_at(known_at)}"


def _basis_extensions(known_at: Known) -> dict[str, Any]:
    if known_at is None:
        return {}
    if isinstance(known_at, int):
        return {"knownAtPosition": known_at}
    return {"knownAt": _at(known_at)}


class NotKnownAt(NotFound):
    """An aggregate whose every fact recorded by `known_at` was retracted: it does not exist
    as known then (DESIGN section 2), though its events stay in the log."""

    def __init__(self, kind: str, ident: str, known_at: Known) -> None:
        super().__init__(kind, ident)
        self.message = (
            f"{kind} {ident!r} is not known at {_basis(known_at)}: "
            "every fact recorded of it by then was retracted"
        )
        self.args = (self.message,)


class NotYetKnown(TimelineError):
    """The aggregate exists in the log, but its first fact was recorded after `known_at`: the
    service knew nothing of it then. `first_known_at` says from when on it answers."""

    code = "NOT_YET_KNOWN"

    def __init__(self, kind: str, ident: str, known_at: Known, first_known_at: datetime):
        super().__init__(
            f"{kind} {ident!r} was not yet recorded at {_basis(known_at)}; "
            f"it is known from {_at(first_known_at)} on"
        )
        self.known_at, self.first_known_at = known_at, first_known_at

    @property
    def extensions(self) -> dict[str, Any]:
        return {**_basis_extensions(self.known_at), "firstKnownAt": _at(self.first_known_at)}


#: A valid-time version named by its interval: (validFrom, validTo or None for open).
Interval = tuple[datetime, datetime | None]


class NotInForce(TimelineError):
    """The aggregate is known at `known_at` but no version of it holds at `valid_at`: it is
    not yet announced, or was withdrawn. `before` and `after` are the nearest versions (their
    validity intervals), so a client can ask again at a moment that answers."""

    code = "NOT_IN_FORCE"

    def __init__(
        self,
        kind: str,
        ident: str,
        valid_at: datetime,
        known_at: Known,
        before: Interval | None,
        after: Interval | None,
    ) -> None:
        nearest = [
            f"{side} in force from {_at(found[0])}" + (f" to {_at(found[1])}" if found[1] else "")
            for side, found in (("the version before was", before), ("the next is", after))
            if found is not None
        ]
        super().__init__(
            f"{kind} {ident!r} had no version in force at validAt {_at(valid_at)} (as known at "
            f"{_basis(known_at)})" + ("; " + "; ".join(nearest) if nearest else "")
        )
        self.valid_at, self.known_at, self.before, self.after = valid_at, known_at, before, after

    @property
    def extensions(self) -> dict[str, Any]:
        def interval(found: Interval | None) -> dict[str, str | None] | None:
            if found is None:
                return None
            return {"validFrom": _at(found[0]), "validTo": _at(found[1]) if found[1] else None}

        return {
            "validAt": _at(self.valid_at),
            **_basis_extensions(self.known_at),
            "before": interval(self.before),
            "after": interval(self.after),
        }


class VersionConflict(TimelineError):
    """A write raced another one, or carried a stale expectedVersion; never merged silently.
    `field` names the command field at fault when there is one (`expected_version`, `id`)."""

    code = "CONFLICT"

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class AlreadyExists(VersionConflict):
    """A create command for a slug that is already taken."""
