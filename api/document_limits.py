"""Document limits computed in one pass, linear in the document: depth, aliases, cost, repeats.

A fragment is measured once and its figures reused wherever it is spread, so a chain of
fragments that each spread the previous one twice costs as many steps as it has fragments,
not 2^n (Strawberry's depth and alias limiters follow every spread). The limits run before
graphql-core's validation, whose overlapping-fields rule is quadratic in repeated fields, and
for every transport: HTTP and graphql-transport-ws go through the same extension hooks.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    VariableNode,
    get_named_type,
)
from graphql.type.definition import GraphQLInterfaceType, GraphQLObjectType, GraphQLUnionType
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import validate_document


@dataclass(frozen=True)
class Limits:
    """The limits a document must keep (from `timeline.settings.Settings`)."""

    max_depth: int
    max_aliases: int
    max_cost: int
    max_repeated_fields: int
    default_page_size: int
    max_page_size: int


@dataclass(frozen=True)
class Figures:
    """What a selection set costs once expanded: nesting depth, aliases, cost."""

    depth: int
    aliases: int
    cost: int


ZERO = Figures(0, 0, 0)


class DocumentTooLarge(Exception):
    """A limit the document breaks, named with its measured value."""

    def __init__(self, limit: str, message: str) -> None:
        super().__init__(message)
        self.limit = limit
        self.message = message


class Measure:
    """Measures a document's operations against `Limits`, each fragment once."""

    def __init__(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        limits: Limits,
        variables: dict[str, object] | None,
    ) -> None:
        self.schema = schema
        self.limits = limits
        self.variables = variables or {}
        self.fragments = {
            node.name.value: node
            for node in document.definitions
            if isinstance(node, FragmentDefinitionNode)
        }
        self.memo: dict[str, Figures] = {}
        self.visiting: set[str] = set()

    def operation(self, node: OperationDefinitionNode) -> Figures:
        """The operation's figures; `DocumentTooLarge` as soon as a limit is broken."""
        root = {
            OperationType.QUERY: self.schema.query_type,
            OperationType.MUTATION: self.schema.mutation_type,
            OperationType.SUBSCRIPTION: self.schema.subscription_type,
        }[node.operation]
        figures = self.selection(node.selection_set, root)
        self.check(figures)
        return figures

    def check(self, figures: Figures) -> None:
        """Refuse figures over a limit, naming the limit and the value."""
        limits = self.limits
        if figures.depth > limits.max_depth:
            raise DocumentTooLarge(
                "maxQueryDepth",
                f"the document exceeds maximum operation depth of {limits.max_depth}"
                f" (it reaches {figures.depth})",
            )
        if figures.aliases > limits.max_aliases:
            raise DocumentTooLarge(
                "maxAliases",
                f"{figures.aliases} aliases found. Allowed: {limits.max_aliases}",
            )
        if figures.cost > limits.max_cost:
            raise DocumentTooLarge(
                "maxCost",
                f"the document's cost is {figures.cost}, over the limit of {limits.max_cost}"
                " (each field counts 1, times the `first` of the lists around it)",
            )

    def selection(self, selection_set: SelectionSetNode | None, parent: object) -> Figures:
        """Figures of one selection set under the type `parent` (None when unknown)."""
        if selection_set is None:
            return ZERO
        depth = aliases = cost = 0
        seen: dict[str, int] = {}
        for node in selection_set.selections:
            if isinstance(node, FieldNode):
                key = (node.alias or node.name).value
                seen[key] = seen.get(key, 0) + 1
                if seen[key] > self.limits.max_repeated_fields:
                    raise DocumentTooLarge(
                        "maxRepeatedFields",
                        f"the field `{key}` appears more than"
                        f" {self.limits.max_repeated_fields} times in one selection",
                    )
                figures = self.field(node, parent)
            elif isinstance(node, FragmentSpreadNode):
                figures = self.fragment(node.name.value)
            elif isinstance(node, InlineFragmentNode):
                condition = node.type_condition
                inner = self.schema.get_type(condition.name.value) if condition else parent
                figures = self.selection(node.selection_set, inner)
            else:  # pragma: no cover - the three kinds of selection are all there are
                continue
            depth = max(depth, figures.depth)
            aliases += figures.aliases
            cost += figures.cost
        return Figures(depth, aliases, cost)

    def field(self, node: FieldNode, parent: object) -> Figures:
        """A field counts 1, plus its sub-selection times the page size it asks for."""
        alias = 1 if node.alias else 0
        if node.name.value.startswith("__"):  # introspection: not counted, as Strawberry does
            return Figures(0, alias, 0)
        definition = None
        if isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
            definition = parent.fields.get(node.name.value)
        child_type = get_named_type(definition.type) if definition else None
        if isinstance(child_type, GraphQLUnionType):
            child_type = None
        inner = self.selection(node.selection_set, child_type)
        multiplier = self.page_size(node) if definition and "first" in definition.args else 1
        depth = inner.depth + 1 if node.selection_set else 0
        return Figures(depth, alias + inner.aliases, 1 + multiplier * inner.cost)

    def page_size(self, node: FieldNode) -> int:
        """The `first` a list field asks for: its literal or variable, else the default."""
        limits = self.limits
        for argument in node.arguments or ():
            if argument.name.value != "first":
                continue
            value: object = None
            if isinstance(argument.value, IntValueNode):
                value = int(argument.value.value)
            elif isinstance(argument.value, VariableNode):
                value = self.variables.get(argument.value.name.value)
            if isinstance(value, int) and not isinstance(value, bool):
                return min(max(value, 1), limits.max_page_size)
            return limits.default_page_size
        return limits.default_page_size

    def fragment(self, name: str) -> Figures:
        """A fragment's figures, measured once; unknown or cyclic spreads count nothing
        (validation names them)."""
        if name in self.memo:
            return self.memo[name]
        node = self.fragments.get(name)
        if node is None or name in self.visiting:
            return ZERO
        self.visiting.add(name)
        try:
            figures = self.selection(
                node.selection_set, self.schema.get_type(node.type_condition.name.value)
            )
        finally:
            self.visiting.discard(name)
        self.memo[name] = figures
        return figures


def measure(
    schema: GraphQLSchema,
    document: DocumentNode,
    limits: Limits,
    variables: dict[str, object] | None = None,
    operation_name: str | None = None,
) -> list[Figures]:
    """Every operation's figures; `DocumentTooLarge` names the first limit broken."""
    operations = [
        node for node in document.definitions if isinstance(node, OperationDefinitionNode)
    ]
    if len(operations) > 1 and operation_name is None:
        raise DocumentTooLarge(
            "operationName",
            "operationName: the document holds several operations; name the one to run",
        )
    walker = Measure(schema, document, limits, variables)
    results = []
    for node in operations:
        figures = walker.operation(node)
        if (
            node.operation is OperationType.MUTATION
            and sum(
                1 for selection in node.selection_set.selections if isinstance(selection, FieldNode)
            )
            > 1
        ):
            raise DocumentTooLarge(
                "maxMutations",
                "a document may hold one mutation field: each write is sent on its own, so a"
                " refusal never hides a write that happened",
            )
        results.append(figures)
    return results


class DocumentCache:
    """Parsed and validated documents by query text, bounded by bytes rather than entries.

    The cost of an entry is its text's length times `AST_FACTOR` (a parsed document holds
    about that many bytes per character); texts over `entry_bytes` are never kept, so many
    distinct large documents cannot pin memory.
    """

    AST_FACTOR = 16

    def __init__(self, total_bytes: int, entry_bytes: int) -> None:
        self.total_bytes = total_bytes
        self.entry_bytes = entry_bytes
        self.used = 0
        self.entries: OrderedDict[str, tuple[DocumentNode, list[GraphQLError]]] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, query: str) -> tuple[DocumentNode, list[GraphQLError]] | None:
        """The cached document and its validation errors, most recent first."""
        with self.lock:
            entry = self.entries.get(query)
            if entry is not None:
                self.entries.move_to_end(query)
            return entry

    def put(self, query: str, document: DocumentNode, errors: list[GraphQLError]) -> None:
        """Keep a document if it fits, dropping the least recently used to make room."""
        cost = len(query) * self.AST_FACTOR
        if cost > self.entry_bytes or cost > self.total_bytes:
            return
        with self.lock:
            if query in self.entries:
                return
            while self.entries and self.used + cost > self.total_bytes:
                dropped, _ = self.entries.popitem(last=False)
                self.used -= len(dropped) * self.AST_FACTOR
            self.entries[query] = (document, errors)
            self.used += cost


def limits_extension(limits: Limits, cache: DocumentCache) -> type[SchemaExtension]:
    """A schema extension that parses through `cache`, refuses documents breaking `limits`
    before validation, and validates (once per cached text) only what passes."""

    class DocumentLimits(SchemaExtension):
        def on_parse(self) -> Iterator[None]:
            context = self.execution_context
            if context.query and context.graphql_document is None:
                cached = cache.get(context.query)
                if cached is not None:
                    context.graphql_document = cached[0]
            yield

        def on_validate(self) -> Iterator[None]:
            context = self.execution_context
            document = context.graphql_document
            if document is not None and context.pre_execution_errors is None:
                context.pre_execution_errors = self.check(document)
            yield

        def check(self, document: DocumentNode) -> list[GraphQLError]:
            context = self.execution_context
            try:
                measure(
                    context.schema._schema,
                    document,
                    limits,
                    context.variables,
                    context._provided_operation_name,
                )
            except DocumentTooLarge as refusal:
                field = "operationName" if refusal.limit == "operationName" else "query"
                return [
                    GraphQLError(
                        refusal.message,
                        extensions={"code": "BAD_INPUT", "field": field, "limit": refusal.limit},
                    )
                ]
            query = context.query or ""
            cached = cache.get(query) if query else None
            if cached is not None and cached[0] is document:
                return list(cached[1])
            errors = validate_document(
                context.schema._schema, document, tuple(context.validation_rules)
            )
            if query:
                cache.put(query, document, errors)
            return list(errors)

    return DocumentLimits
