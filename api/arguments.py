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
First = Annotated[
    int | None,
    strawberry.argument(description="Page size; default 50, at most the server's maxPageSize."),
]
After = Annotated[
    str | None,
    strawberry.argument(description="Start after this cursor (an endCursor); default the start."),
]
Id = Annotated[strawberry.ID, strawberry.argument(description="The slug, e.g. meta/hate-speech.")]
