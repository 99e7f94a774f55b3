"""The arguments many fields share, each with its one description for the schema's clients."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

ValidAt = Annotated[
    datetime | None,
    strawberry.argument(description="The moment in the world asked about; default now."),
]
KnownAt = Annotated[
    datetime | None,
    strawberry.argument(description="Answer as the service would have answered then; default now."),
]
KnownAtPosition = Annotated[
    int | None,
    strawberry.argument(
        description="Answer exactly as the service would have right after this log position "
        "(the basis a citation names); not with knownAt. Default: the position knownAt "
        "resolves to."
    ),
]
First = Annotated[
    int | None,
    strawberry.argument(
        description="How many: default 50 (DEFAULT_PAGE_SIZE); over MAX_PAGE_SIZE (200) is refused."
    ),
]
After = Annotated[
    str | None,
    strawberry.argument(description="Start after this cursor (an endCursor); default the start."),
]
PolicyId = Annotated[
    strawberry.ID, strawberry.argument(description="The policy's slug, e.g. meta/hate-speech.")
]
ActionId = Annotated[
    strawberry.ID,
    strawberry.argument(description="The action's slug, e.g. roskomnadzor/instagram-restriction."),
]
ActorId = Annotated[strawberry.ID, strawberry.argument(description="The actor's slug, e.g. meta.")]
StatementId = Annotated[strawberry.ID, strawberry.argument(description="The statement's slug.")]
