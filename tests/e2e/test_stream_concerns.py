"""One meaning of "concerns a jurisdiction" (issue 15 item 3): the same filter through every
way out (the timeline feed and the GraphQL events page, SSE, NDJSON, a webhook) selects the
same events, on SQLite and PostgreSQL, against the real server in its own process.

The story of the issue: a policy announced with an RU clause (@1), the clause removed (@2),
a UA clause added (@3). @1 and @2 touch the RU clause; @3 touches only UA, so it does not
concern RU although the policy once named it (`domain.concerns`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from httpx_sse import connect_sse
from stream_support import (
    LOCAL_POLICY,
    LOCAL_RECEIVERS,
    Receiver,
    Writer,
    running_server,
    sse_events,
)

from timeline.streams.reader import EventFilter
from timeline.streams.webhooks.registry import add_endpoint

pytestmark = pytest.mark.e2e

POLICY = "meta/ru-then-ua"


@pytest.fixture
def writer(database_url: str) -> Iterator[Writer]:
    w = Writer(database_url)
    try:
        yield w
    finally:
        w.close()


def ru_then_ua(writer: Writer) -> tuple[int, int, int]:
    """The issue's three facts; their log positions."""
    timeline = writer.timeline
    clause = {"heading": "Russia", "text": "Applies in Russia.", "scope": ["RU"]}
    announced = timeline.announce_policy(
        {
            "id": POLICY,
            "title": "RU then UA",
            "owner": "meta",
            "clauses": [{"id": "ru", **clause}],
            "effectiveAt": "2022-03-01T00:00:00Z",
        }
    )
    removed = timeline.revise_policy(
        {"id": POLICY, "effectiveAt": "2022-03-02T00:00:00Z", "removeClauses": ["ru"]}
    )
    added = timeline.revise_policy(
        {
            "id": POLICY,
            "effectiveAt": "2022-03-03T00:00:00Z",
            "addClauses": [
                {"id": "ua", "heading": "Ukraine", "text": "Applies in Ukraine.", "scope": ["UA"]}
            ],
        }
    )
    return announced.position, removed.position, added.position


def graphql(client: httpx.Client, query: str) -> Any:
    body = client.post("/graphql", json={"query": query}).json()
    assert "errors" not in body, body
    return body["data"]


def policy_positions(found: list[dict[str, Any]]) -> set[int]:
    return {int(e["position"]) for e in found if e["aggregateId"] == POLICY}


def through_every_way_out(server_url: str, code: str, marker: int) -> dict[str, set[int]]:
    """The policy's positions that `jurisdiction: code` selects, per way out; `marker` is
    the last event of the log and concerns `code` (the SSE stream is read up to it)."""
    answers: dict[str, set[int]] = {}
    with httpx.Client(base_url=server_url, timeout=30) as client:
        feed = graphql(
            client,
            f'{{ timeline(filter: {{jurisdiction: "{code}"}}) '
            "{ nodes { position aggregateId } } }",
        )
        answers["timeline"] = policy_positions(feed["timeline"]["nodes"])
        events = graphql(
            client,
            f'{{ events(filter: {{jurisdictions: ["{code}"]}}) '
            "{ nodes { position aggregateId } } }",
        )
        answers["events"] = policy_positions(events["events"]["nodes"])
        page = client.get("/events", params={"jurisdiction": code})
        lines = [json.loads(line)["data"] for line in page.text.splitlines() if line]
        answers["ndjson"] = policy_positions(lines)
        seen: list[dict[str, Any]] = []
        with connect_sse(client, "GET", "/events/stream", params={"jurisdiction": code}) as sse:
            for message in sse_events(sse):
                seen.append(json.loads(message.data)["data"])
                if int(message.id) == marker:
                    break
        answers["sse"] = policy_positions(seen)
    return answers


def test_the_same_jurisdiction_filter_selects_the_same_events_everywhere(
    database_url: str, writer: Writer, tmp_path: Path
) -> None:
    announced, removed, added = ru_then_ua(writer)
    with Receiver() as receiver:
        add_endpoint(
            writer.timeline,
            receiver.url,
            EventFilter.build(jurisdictions=["RU"]),
            after=0,
            policy=LOCAL_POLICY,
        )
        marker = writer.restriction("roskomnadzor/marker", "RU")  # also concerns UA below
        writer.timeline.revise_policy(
            {
                "id": POLICY,
                "effectiveAt": "2022-03-04T00:00:00Z",
                "title": "RU then UA, renamed",
            }
        )  # touches no clause: concerns no jurisdiction
        ua_marker = writer.restriction("roskomnadzor/ua-marker", "UA")
        with running_server(database_url, tmp_path / "server.log", **LOCAL_RECEIVERS) as server:
            ru = through_every_way_out(server.url, "RU", marker)
            ua = through_every_way_out(server.url, "UA", ua_marker)
            accepted = receiver.wait_for(3)  # @1, @2 and the marker
            bodies = [json.loads(body)["data"] for _, _, body in receiver.accepted]
    assert ru == {key: {announced, removed} for key in ("timeline", "events", "ndjson", "sse")}
    assert ua == {key: {added} for key in ("timeline", "events", "ndjson", "sse")}
    assert len(accepted) == 3
    assert policy_positions(bodies) == {announced, removed}
