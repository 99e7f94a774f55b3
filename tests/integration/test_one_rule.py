"""Rules written once (issue 13), exercised through the callers that used to have copies.

Payload keys: the GraphQL `Event.payload` (queries and the subscription) and the CloudEvents
envelope (NDJSON export, `/events`, SSE, webhooks) give the same camelCase payload, keyed as
the command fields are named on the wire, and the same aggregateKind and aggregateId.
Actor fields: one list (`domain.values`) for the stream tags and for the checks of
corrections."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from pydantic.alias_generators import to_camel

from api.events import event_from
from domain.values import ACTOR_FIELDS
from timeline.application import Timeline
from timeline.commands import COMMANDS
from timeline.demo import load_demo
from timeline.streams.cloudevents import camel_json
from timeline.streams.reader import EventReader


def test_graphql_and_cloudevents_payloads_are_the_same_for_every_demo_event(
    timeline: Timeline,
) -> None:
    load_demo(timeline)
    events = EventReader(timeline).read(0, limit=1000)
    assert len(events) > 10
    for event in events:
        graphql = event_from(event.logged, event.slug)
        data = event.cloudevent["data"]
        assert graphql.payload == data["payload"], event.reference
        assert (graphql.aggregate_kind, graphql.aggregate_id) == (
            data["aggregateKind"],
            data["aggregateId"],
        ), event.reference
        assert event.cloudevent["subject"] == f"{graphql.aggregate_kind}:{graphql.aggregate_id}"


def test_payload_keys_are_named_as_the_command_fields_are_on_the_wire() -> None:
    for model in COMMANDS.values():
        for name, field in model.model_fields.items():
            assert field.alias in (None, to_camel(name)), (model.__name__, name)
            assert list(camel_json({name: 1})) == [to_camel(name)]


@given(st.from_regex(r"[a-z][a-z0-9]{0,5}(_[a-z0-9]{1,5}){0,3}", fullmatch=True))
def test_a_snake_case_key_is_camel_cased_by_the_one_rule(key: str) -> None:
    assert list(camel_json({key: {key: [1]}})) == [to_camel(key)]
    assert list(camel_json({key: {key: [1]}})[to_camel(key)]) == [to_camel(key)]


def test_every_actor_field_makes_an_event_concern_that_actor(timeline: Timeline) -> None:
    load_demo(timeline)
    seen = set()
    for event in EventReader(timeline).read(0, limit=1000):
        for name in ACTOR_FIELDS:
            if isinstance(actor := event.fact.data.get(name), str):
                assert actor in event.tags.actors, (event.reference, name)
                seen.add(name)
    assert seen == set(ACTOR_FIELDS)
