"""Secrets out of the server's logs: a token sent in a query string (`?token=`, as clients that
cannot set headers do, such as EventSource) is printed as `[redacted]`, never as sent.

uvicorn logs the path with its query string in two places: the access log (`uvicorn.access`)
and the websocket handshake lines (`uvicorn.error`). The filter sits on both loggers, so it
holds whatever handlers or log configuration a deployment uses.
"""

from __future__ import annotations

import logging
import re

REDACTED = "[redacted]"

#: Query parameters that carry a credential; the name is matched without regard to case.
_SECRET_PARAMETER = re.compile(
    r"(?P<name>[?&](?:access_|api_|bearer_)?token=)[^&#\s\"']*", re.IGNORECASE
)

#: The loggers that print request paths with their query strings.
LOGGERS = ("uvicorn.access", "uvicorn.error")


def redact(text: str) -> str:
    """`/events/stream?token=pt_1_x&after=3` -> `/events/stream?token=[redacted]&after=3`."""
    return _SECRET_PARAMETER.sub(lambda match: match["name"] + REDACTED, text)


class RedactQueryTokens(logging.Filter):
    """Rewrites a record's message and string arguments before any handler formats it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {
                k: redact(v) if isinstance(v, str) else v for k, v in record.args.items()
            }
        return True


def install() -> None:
    """Put the filter on uvicorn's loggers once (idempotent: every app built calls it)."""
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(existing, RedactQueryTokens) for existing in logger.filters):
            logger.addFilter(RedactQueryTokens())
