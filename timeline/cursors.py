"""The one parser of log cursors (a global position) for every way in: GraphQL `events(after:)`
(query and subscription), REST `/events?after=`, SSE `Last-Event-ID`, webhooks `after`, the CLI.

A position is ASCII digits only, within the 64-bit signed range the stores keep: no sign,
no `_`, no spaces, no digits of other scripts (Arabic-Indic, fullwidth, superscripts): none
of what Python's `int()` also takes. A refusal is the domain's InvalidInput naming the field,
so each transport maps it to its BAD_INPUT / 400 in its own one place.
"""

from __future__ import annotations

import re

from domain.errors import InvalidInput

#: Largest position: the stores keep positions as 64-bit signed integers.
MAX_POSITION = 2**63 - 1
_DIGITS = re.compile(r"[0-9]{1,64}")  # leading zeros allowed; the range is checked after


def _decimals_up_to(limit: int) -> str:
    """A regular expression matching exactly the decimal numerals of 0..limit, leading zeros
    allowed, as `parse_position` reads them: what the OpenAPI document says a cursor is."""
    digits = str(limit)
    options = [f"[0-9]{{1,{len(digits) - 1}}}"] if len(digits) > 1 else []
    for index, digit in enumerate(digits):  # the same length: smaller at `index`, free after
        if digit != "0":
            rest = len(digits) - index - 1
            options.append(
                digits[:index] + f"[0-{int(digit) - 1}]" + f"[0-9]{{{rest}}}" * bool(rest)
            )
    options.append(digits)
    return "^0*(?:" + "|".join(options) + ")$"


#: The cursor's spelling as one JSON-schema pattern (with at most 64 characters in all).
POSITION_PATTERN = _decimals_up_to(MAX_POSITION)
MAX_CURSOR_LENGTH = 64


#: The fields that resume a stream: their refusal also says where the number comes from.
_CURSOR_FIELDS = frozenset({"after", "--after", "Last-Event-ID"})


def _reason(value: object, field: str) -> str:
    """Why `value` is refused, as a log cursor (resuming a stream) or as a plain position."""
    shown = repr(value) if not isinstance(value, str) or len(value) <= 40 else "this value"
    wanted = f"ASCII digits 0-9 only, at most {MAX_POSITION}"
    if field in _CURSOR_FIELDS:
        return (
            f"{shown} is not a log cursor: give the `position` of the last event received, {wanted}"
        )
    return f"{shown} is not a log position: {wanted}"


def check_position(value: int, field: str = "after") -> int:
    """A position given as an integer (CLI options, Python callers): 0..MAX_POSITION."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_POSITION:
        raise InvalidInput(field, _reason(value, field))
    return value


def parse_position(value: str, field: str = "after") -> int:
    """A position given as text: ASCII digits in the 64-bit signed range, nothing else."""
    if not isinstance(value, str) or _DIGITS.fullmatch(value) is None:
        raise InvalidInput(field, _reason(value, field))
    return check_position(int(value), field)


def optional_position(value: str | None, field: str = "after") -> int | None:
    """A cursor argument that may be left out: None or '' mean "not given"."""
    if value is None or value == "":
        return None
    return parse_position(value, field)


def start_position(value: str | None, field: str = "after") -> int:
    """A cursor argument whose absence means the start of the log (position 0)."""
    position = optional_position(value, field)
    return 0 if position is None else position
