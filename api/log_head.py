"""`logHead`: the head of the log's hash chain, so that a legal export can cite exactly which
log it was answered from (check it later with `timeline verify --expect-head POSITION:HASH`)."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from api.context import Context, run
from timeline import integrity


@strawberry.type(description="The latest sealed event: its log position and chain hash.")
class LogHead:
    position: int = strawberry.field(
        description="Global log position of the latest event (0 for an empty log)."
    )
    hash: str = strawberry.field(
        description="sha256 (hex) of that event chained to every "
        "event before it; see docs/reliability.md."
    )


async def log_head(info: Info[Context, None]) -> LogHead:
    """The chain head as committed now."""
    await info.context.authorize_read()
    head = await run(integrity.head, info.context.engine)
    return LogHead(position=head.position, hash=head.hash)
