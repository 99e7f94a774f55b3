"""schema.graphql is the exported contract: it must match the code, and hold DESIGN's names."""

from __future__ import annotations

import json
from pathlib import Path

from graphql import GraphQLObjectType, build_schema
from support import node

from api.schema import SCHEMA_FILE, schema_sdl

QUERIES = {
    "policy": {"id", "validAt", "knownAt", "knownAtPosition"},
    "policyOn": {"id", "date", "timeZone", "knownAt", "knownAtPosition"},
    "policies": {"validAt", "knownAt", "knownAtPosition", "filter", "first", "after"},
    "policyHistory": {"id", "knownAt", "knownAtPosition"},
    "policyDiff": {"id", "fromValidAt", "toValidAt", "knownAt", "knownAtPosition"},
    "regulatoryAction": {"id", "validAt", "knownAt", "knownAtPosition"},
    "regulatoryActions": {"validAt", "knownAt", "knownAtPosition", "filter", "first", "after"},
    "timeline": {"from", "to", "knownAt", "knownAtPosition", "filter", "first", "after"},
    "events": {"after", "first", "filter"},
    "statement": {"id", "knownAt", "knownAtPosition"},
    "statements": {"knownAt", "knownAtPosition", "actor", "first", "after"},
    "actor": {"id", "validAt", "knownAt", "knownAtPosition"},
    "actors": {"validAt", "knownAt", "knownAtPosition", "first", "after"},
    "regulatoryActionHistory": {"id", "knownAt", "knownAtPosition"},
    "logHead": {"knownAt", "knownAtPosition"},
    "evidence": {"kind", "id", "validAt", "knownAt", "knownAtPosition"},
    "search": {"query", "validAt", "knownAt", "knownAtPosition", "kinds", "first", "after"},
}
MUTATIONS = {
    "announcePolicy",
    "revisePolicy",
    "withdrawPolicy",
    "announceRegulatoryAction",
    "amendRegulatoryAction",
    "liftRegulatoryAction",
    "recordStatement",
    "registerActor",
    "renameActor",
    "correctEvent",
    "retractEvent",
}
POLICY_FIELDS = {
    "id",
    "title",
    "owner",
    "status",
    "version",
    "validFrom",
    "validTo",
    "clauses",
    "text",
    "sources",
    "changes",
    "responses",
}
EVENT_FIELDS = {
    "id",
    "position",
    "type",
    "aggregateId",
    "aggregateVersion",
    "effectiveAt",
    "announcedAt",
    "recordedAt",
    "payload",
}


def test_exported_schema_matches_the_code() -> None:
    exported = Path(SCHEMA_FILE).read_text()
    assert exported == schema_sdl(), (
        "schema.graphql drifted from the code: run `python -m api.schema` and commit it"
    )


def test_exported_schema_holds_the_names_of_the_contract() -> None:
    schema = build_schema(Path(SCHEMA_FILE).read_text())
    assert schema.query_type is not None and schema.mutation_type is not None
    for name, arguments in QUERIES.items():
        assert set(schema.query_type.fields[name].args) == arguments, name
    assert set(schema.mutation_type.fields) >= MUTATIONS

    def fields(type_name: str) -> set[str]:
        type_ = schema.get_type(type_name)
        assert isinstance(type_, GraphQLObjectType)
        return set(type_.fields)

    assert fields("Policy") >= POLICY_FIELDS
    assert fields("PolicyVersion") >= POLICY_FIELDS
    assert fields("Clause") >= {"id", "heading", "text", "scope", "expiresAt"}
    assert fields("Event") >= EVENT_FIELDS
    assert {"DateTime", "Date", "EventData", "EventFilter"} <= set(schema.type_map)


#: graphql-schema-linter rules the exported schema must pass; docs/decisions.md says why these
#: and not the sorting rules or `descriptions-are-capitalized`.
LINT_RULES = (
    "types-have-descriptions",
    "fields-have-descriptions",
    "arguments-have-descriptions",
    "enum-values-have-descriptions",
    "input-object-values-have-descriptions",
    "types-are-capitalized",
    "fields-are-camel-cased",
    "input-object-values-are-camel-cased",
    "enum-values-all-caps",
    "defined-types-are-used",
    "deprecations-have-a-reason",
    "relay-connection-types-spec",
    "relay-connection-arguments-spec",
    "relay-page-info-spec",
)

LINT = """
const { run } = require('graphql-schema-linter/lib/runner');
const args = ['node', 'graphql-schema-linter', '--format', 'json', '--rules',
  process.argv[process.argv.length - 2], process.argv[process.argv.length - 1]];
run(process.stdout, process.stdin, process.stderr, args).then((code) => process.exit(code));
"""


def test_exported_schema_passes_graphql_schema_linter() -> None:
    """Every type, field, argument, enum value and input field is described for the clients
    (GraphiQL, codegen), and names follow GraphQL's conventions: npm graphql-schema-linter."""
    modules = node.packages("graphql-schema-linter@3.0.1", "graphql@16.9.0")
    run = node.run_script(LINT, ",".join(LINT_RULES), str(SCHEMA_FILE), modules=modules)
    assert run.stdout, run.stderr
    errors = json.loads(run.stdout)["errors"]
    assert [f"{e['location']['line']}: {e['message']}" for e in errors] == []
    assert run.returncode == 0, run.stderr
