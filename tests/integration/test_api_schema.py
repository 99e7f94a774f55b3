"""schema.graphql is the exported contract: it must match the code, and hold DESIGN's names."""

from __future__ import annotations

from pathlib import Path

from graphql import GraphQLObjectType, build_schema

from api.schema import SCHEMA_FILE, schema_sdl

QUERIES = {
    "policy": {"id", "validAt", "knownAt"},
    "policyOn": {"id", "date", "timeZone", "knownAt"},
    "policies": {"validAt", "knownAt", "filter", "first", "after"},
    "policyHistory": {"id", "knownAt"},
    "policyDiff": {"id", "fromValidAt", "toValidAt", "knownAt"},
    "regulatoryAction": {"id", "validAt", "knownAt"},
    "regulatoryActions": {"validAt", "knownAt", "filter", "first", "after"},
    "timeline": {"from", "to", "knownAt", "filter", "first", "after"},
    "events": {"after", "first", "filter"},
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
