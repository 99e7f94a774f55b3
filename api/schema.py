"""The GraphQL schema, assembled in one place with its safety limits from the settings."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import strawberry
from graphql import GraphQLError
from graphql.execution.executor import Executor
from strawberry.extensions import DisableIntrospection, MaxTokensLimiter, SchemaExtension
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.schema import (
    DEFAULT_ALLOWED_OPERATION_TYPES,
    StrawberryGraphQLCoreExecutionContext,
)
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext, ExecutionResult
from strawberry.types.graphql import OperationType

from api import subscriptions
from api.document_limits import DocumentCache, Limits, limits_extension
from api.errors import ErrorCodes, describe_all
from api.mutations import Mutation
from api.query import Query
from api.scalars import SCALARS
from api.webhooks_graphql import WebhookMutation, WebhookQuery
from timeline.settings import Settings

#: The exported schema, checked by a test so that it never drifts from the code.
SCHEMA_FILE = Path(__file__).resolve().parent.parent / "schema.graphql"


class SubscriptionExecutionContext(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's executor, with a fresh sub-field memo for each subscription event.

    graphql-core copies the subscription's executor per event but shares its memo of collected
    sub-fields, keyed by the identity of per-event lists that never recur: each live
    subscription would keep a few dozen objects per event it delivered, for as long as it
    lives. A memo per event keeps what it is for (lists within one result) and frees the rest.
    """

    def build_per_event_executor(self, payload: Any) -> Executor[Any]:
        executor = super().build_per_event_executor(payload)
        executor._relevant_sub_fields = {}
        return executor


class TimelineSchema(strawberry.Schema):
    """The schema; errors get their codes (and unexpected ones are logged) in `api.errors`."""

    async def execute(
        self,
        query: str | None,
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        root_value: Any | None = None,
        operation_name: str | None = None,
        allowed_operation_types: Iterable[OperationType] | None = None,
        operation_extensions: dict[str, Any] | None = None,
    ) -> ExecutionResult:
        """One result for one operation: a subscription is refused here, since it needs a
        stream (graphql-transport-ws); over HTTP it would run as a query and return null."""
        allowed = set(allowed_operation_types or DEFAULT_ALLOWED_OPERATION_TYPES)
        return await super().execute(
            query,
            variable_values=variable_values,
            context_value=context_value,
            root_value=root_value,
            operation_name=operation_name,
            allowed_operation_types=allowed - {OperationType.SUBSCRIPTION},
            operation_extensions=operation_extensions,
        )

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        document = execution_context.graphql_document if execution_context else None
        describe_all(errors, document)


def _merged(name: str, types: tuple[type, ...], description: str) -> type:
    """`merge_types` with a description for the schema's clients (it keeps none)."""
    merged = merge_types(name, types)
    merged.__strawberry_definition__.description = description  # type: ignore[attr-defined]
    return merged


def build_schema(settings: Settings | None = None) -> strawberry.Schema:
    """The schema with its document limits, token limit and introspection from `settings`."""
    settings = settings or Settings()
    limits = Limits(
        max_depth=settings.max_query_depth,
        max_aliases=settings.max_aliases,
        max_cost=settings.max_cost,
        max_repeated_fields=settings.max_repeated_fields,
        default_page_size=settings.default_page_size,
        max_page_size=settings.max_page_size,
    )
    # One cache per schema: clients send a handful of fixed documents, each parsed and
    # validated once; its budget is in bytes so distinct large documents cannot pin memory.
    cache = DocumentCache(settings.document_cache_bytes, settings.document_cache_entry_bytes)
    extensions: list[Callable[[], SchemaExtension] | type[SchemaExtension]] = [
        ErrorCodes,
        lambda: MaxTokensLimiter(max_token_count=settings.max_tokens),
        limits_extension(limits, cache),
    ]
    if not settings.introspection:
        extensions.append(DisableIntrospection)
    return TimelineSchema(
        query=_merged(
            "Query", (Query, WebhookQuery), "Point-in-time reads, the event log, webhooks."
        ),
        mutation=_merged(
            "Mutation", (Mutation, WebhookMutation), "Writes; each needs the write scope."
        ),
        subscription=subscriptions.Subscription,
        extensions=extensions,
        config=StrawberryConfig(scalar_map=SCALARS),
        execution_context_class=SubscriptionExecutionContext,
    )


def schema_sdl() -> str:
    """The schema in SDL, as exported to schema.graphql."""
    return build_schema().as_str() + "\n"


def export(path: Path = SCHEMA_FILE) -> Path:
    """Write schema.graphql (run `python -m api.schema` after changing the API)."""
    path.write_text(schema_sdl())
    return path


if __name__ == "__main__":
    print(f"wrote {export()}")
