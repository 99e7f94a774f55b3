"""Domain exceptions, raised where the rule lives and mapped to API codes in one place."""

from __future__ import annotations


class TimelineError(Exception):
    """Base of every error a client can act on; `code` is the stable API code."""

    code = "BAD_INPUT"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


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


class VersionConflict(TimelineError):
    """A write raced another one, or carried a stale expectedVersion; never merged silently.
    `field` names the command field at fault when there is one (`expected_version`, `id`)."""

    code = "CONFLICT"

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class AlreadyExists(VersionConflict):
    """A create command for a slug that is already taken."""
