"""The one place where errors become what a client sees: a stable `extensions.code`.

Domain errors carry their code (NOT_FOUND, NOT_YET_KNOWN, NOT_IN_FORCE, BAD_INPUT, CONFLICT) and
what else a client needs (`TimelineError.extensions`); the API adds UNAUTHENTICATED
and FORBIDDEN. Errors before execution (syntax, validation, limits, bad scalars) are BAD_INPUT.
Anything unexpected is logged here and reaches the client as INTERNAL_SERVER_ERROR without a
message from the code or a stack trace.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from typing import Any

from graphql import (
    ArgumentNode,
    DocumentNode,
    GraphQLError,
    ListValueNode,
    Node,
    ObjectFieldNode,
    ObjectValueNode,
    VariableNode,
)
from strawberry.extensions import SchemaExtension

from api import unavailable
from domain.errors import InvalidInput, TimelineError, VersionConflict

log = logging.getLogger("api.errors")

INTERNAL = "INTERNAL_SERVER_ERROR"
_VARIABLE = re.compile(
    r"^Variable '\$(?P<name>\w+)' has invalid value"
    r"(?: at (?P<at>[^:]+))?: (?P<rest>.*)$",
    re.S,
)
_LITERAL = re.compile(r"^Expected value of type '[^']+', .*$", re.S)
_REASON = re.compile(r"but encountered error '(?P<reason>.*)'; found: ", re.S)
#: graphql-core's words for an input object that lacks a required field: named as its path.
_MISSING = re.compile(r"to include required field '(?P<name>\w+)'")
#: graphql-core's words when Strawberry's MaxTokensLimiter stops the parser.
_TOKENS = re.compile(r"^Syntax Error: Document contains more than (?P<limit>\d+) tokens\.")


class ApiError(Exception):
    """An error of the API itself (authentication, limits) with its stable code."""

    code = "BAD_INPUT"

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class Unauthenticated(ApiError):
    code = "UNAUTHENTICATED"


class Forbidden(ApiError):
    code = "FORBIDDEN"


class NotProjectedYet(ApiError):
    """A read at a log position the read models have not applied yet: retry shortly."""

    code = "UNAVAILABLE"


class BadInput(ApiError):
    """An argument the API itself refuses (a page too large, a bad cursor); names it."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}", field)


def describe(error: GraphQLError, document: DocumentNode | None) -> GraphQLError:
    """The error as the client sees it: a clear message and `extensions.code` (idempotent)."""
    if error.extensions and "code" in error.extensions and error.original_error is None:
        return error
    original = error.original_error
    while isinstance(original, GraphQLError) and original.original_error is not None:
        original = original.original_error
    if isinstance(original, TimelineError):
        field = original.field if isinstance(original, InvalidInput | VersionConflict) else None
        return _with(error, original.message, original.code, field, original.extensions)
    if isinstance(original, ApiError):
        return _with(error, original.message, original.code, original.field)
    if unavailable.is_unavailable(original):
        return _with(error, unavailable.MESSAGE, unavailable.UNAVAILABLE, None)
    if error.path is None:
        return _bad_input(error, document)
    log.error("unexpected error in %s", ".".join(map(str, error.path)), exc_info=original or error)
    return _with(error, "internal error; it has been logged", INTERNAL, None)


def _with(
    error: GraphQLError,
    message: str,
    code: str,
    field: str | None,
    more: dict[str, Any] | None = None,
) -> GraphQLError:
    extensions: dict[str, Any] = {"code": code}
    if field:
        extensions["field"] = field
    extensions.update(more or {})
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        extensions=extensions,
    )


def _bad_input(error: GraphQLError, document: DocumentNode | None) -> GraphQLError:
    """Errors before execution; a bad argument value is restated as `argument: reason`, and
    the token limit is named like the other document limits (`extensions.limit`)."""
    message = error.message
    if match := _TOKENS.match(message):
        return GraphQLError(
            f"query: the document holds more than {match['limit']} tokens (maxTokens)",
            extensions={"code": "BAD_INPUT", "field": "query", "limit": "maxTokens"},
        )
    if match := _VARIABLE.match(message):
        field = _argument_of_variable(document, match["name"]) or match["name"]
        field = _with_missing(field + (match["at"] or "").strip(), message)
        return _with(error, f"{field}: {_reason(match['rest'])}", "BAD_INPUT", field)
    if error.nodes and document is not None:  # a literal (or variable) of an argument
        field = _argument_path(document, error.nodes[0])
        if field:
            reason = _reason(message) if _LITERAL.match(message) else message
            field = _with_missing(field, message)
            return _with(error, f"{field}: {reason}", "BAD_INPUT", field)
    return _with(error, message, "BAD_INPUT", None)


def _with_missing(field: str, message: str) -> str:
    """`input` -> `input.reason` when what is wrong is that `reason` is missing."""
    match = _MISSING.search(message)
    return f"{field}.{match['name']}" if match else field


def _reason(message: str) -> str:
    """The scalar's own reason inside graphql-core's wording, when there is one."""
    match = _REASON.search(message)
    return match["reason"] if match else message


def _argument_of_variable(document: DocumentNode | None, name: str) -> str | None:
    """The argument that a variable feeds, so `$at` used as `validAt` reads `validAt`."""
    for argument in _walk(document, ArgumentNode):
        if isinstance(argument.value, VariableNode) and argument.value.name.value == name:
            return str(argument.name.value)
    return None


def _argument_path(document: DocumentNode, target: Node) -> str | None:
    """`input.clauses[0].expiresAt` for a literal value node inside an argument."""
    for argument in _walk(document, ArgumentNode):
        path = _find(argument.value, target, argument.name.value)
        if path:
            return path
    return None


def _find(node: Node, target: Node, path: str) -> str | None:
    if node is target or (node.loc is not None and node.loc == target.loc):
        return path
    if isinstance(node, ObjectValueNode):
        for field in node.fields:
            if found := _find(field.value, target, f"{path}.{field.name.value}"):
                return found
    if isinstance(node, ListValueNode):
        for index, value in enumerate(node.values):
            if found := _find(value, target, f"{path}[{index}]"):
                return found
    if isinstance(node, ObjectFieldNode):
        return _find(node.value, target, path)
    return None


def _walk(node: Any, kind: type) -> Iterator[Any]:
    """Every node of type `kind` under `node` (documents are small: limited by tokens)."""
    if node is None:
        return
    if isinstance(node, kind):
        yield node
    for key in getattr(node, "keys", ()):
        if key == "loc":
            continue
        value = getattr(node, key, None)
        if isinstance(value, Node):
            yield from _walk(value, kind)
        elif isinstance(value, (list, tuple)):
            for item in value:
                if isinstance(item, Node):
                    yield from _walk(item, kind)


def describe_all(errors: list[GraphQLError], document: DocumentNode | None) -> None:
    """Rewrite a result's errors in place (subscriptions reach only Schema.process_errors)."""
    errors[:] = [describe(error, document) for error in errors]


class ErrorCodes(SchemaExtension):
    """Rewrites every error of a query or mutation through `describe`."""

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        errors = getattr(result, "errors", None)
        if result is not None and errors:
            document = self.execution_context.graphql_document
            result.errors = [describe(error, document) for error in errors]
