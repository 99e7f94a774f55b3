"""Turn pydantic's validation errors into the domain's InvalidInput, naming the field."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from domain.errors import InvalidInput

M = TypeVar("M", bound=BaseModel)


def field_path(location: tuple[int | str, ...]) -> str:
    """`('clauses', 0, 'scope', 1)` -> `clauses[0].scope[1]`."""
    path = ""
    for part in location:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path or "input"


def invalid_input(error: ValidationError) -> InvalidInput:
    """The first problem as an InvalidInput; the others follow in its reason."""
    problems = error.errors(include_url=False)
    messages = []
    for problem in problems:
        message = str(problem["msg"]).removeprefix("Value error, ")
        if problem["type"] == "missing":
            message = "is required"
        elif problem["type"] == "extra_forbidden":
            message = "is not a known field"
        elif problem["type"] == "timezone_aware":
            message = "must be an ISO 8601 instant with an offset, e.g. 2022-03-11T00:00:00+03:00"
        messages.append((field_path(tuple(problem["loc"])), message))
    field, reason = messages[0]
    if len(messages) > 1:
        reason += "; also " + "; ".join(f"{f}: {m}" for f, m in messages[1:])
    return InvalidInput(field, reason)


def validate(model: type[M], data: Any) -> M:
    """Validate `data` as `model`, raising InvalidInput (never a pydantic error) when bad."""
    if isinstance(data, model):
        return data
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise invalid_input(error) from None
