"""Clients nobody here wrote, against the real server (issue 17): the npm `graphql-ws` client
subscribes over graphql-transport-ws; the CloudEvents SDKs (Python `cloudevents`, npm
`cloudevents`) accept every NDJSON line and SSE event as a valid CloudEvent; the npm
`eventsource` client reads the SSE stream. npm packages come from tests/support/node.py."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cloudevents.core.formats.json import JSONFormat
from httpx_sse import connect_sse
from stream_support import (
    FAST_RETRIES,
    LOCAL_POLICY,
    LOCAL_RECEIVERS,
    Receiver,
    Server,
    Writer,
    running_server,
    sse_events,
)
from support import node

from timeline.streams.cloudevents import TYPE_PREFIX

pytestmark = pytest.mark.e2e

PACKAGES = (
    "graphql-ws@6.4.2",
    "graphql@16.9.0",
    "ws@8.18.0",
    "cloudevents@10.0.0",
    "eventsource@4.0.0",
    "standardwebhooks@1.0.0",
)


@pytest.fixture(name="modules", scope="module")
def modules_fixture() -> Path:
    return node.packages(*PACKAGES)


@pytest.fixture(name="server")
def server_fixture(sqlite_url: str, tmp_path: Path) -> Iterator[tuple[Server, Writer]]:
    writer = Writer(sqlite_url)  # 1, 2: actors
    writer.statements(3)  # 3..5
    try:
        with running_server(sqlite_url, tmp_path / "server.log") as server:
            yield server, writer
    finally:
        writer.close()


SUBSCRIBE = """
const { createClient } = require('graphql-ws');
const WebSocket = require('ws');
const [url, count] = process.argv.slice(-2);
const client = createClient({ url, webSocketImpl: WebSocket, retryAttempts: 0, lazy: false });
const seen = [];
const iterator = client.iterate({
  query: 'subscription($after: String) { events(after: $after) { id position type } }',
  variables: { after: '0' },
});
(async () => {
  for await (const result of iterator) {
    if (result.errors) { console.log(JSON.stringify({ errors: result.errors })); break; }
    seen.push(result.data.events);
    if (seen.length === 1) console.error('first');
    if (seen.length >= Number(count)) break;
  }
  console.log(JSON.stringify(seen));
  await client.dispose();
})().catch((error) => { console.error(String(error)); process.exit(2); });
"""


def test_the_npm_graphql_ws_client_gets_the_backlog_then_live_events(
    server: tuple[Server, Writer], modules: Path
) -> None:
    api, writer = server
    run = node.start_script(SUBSCRIBE, api.ws_url, "8", modules=modules)
    try:
        assert run.stderr is not None
        assert run.stderr.readline().strip() == "first"  # subscribed and catching up
        live = writer.statements(3)  # 6..8, written while the client listens
        out, err = run.communicate(timeout=120)
    finally:
        run.kill()
    assert run.returncode == 0, err
    events = json.loads(out)
    assert [e["position"] for e in events] == list(range(1, 9))
    assert [e["position"] for e in events[-3:]] == live
    assert events[-1]["id"] == "statement:meta/statement-6@1"


VALIDATE = """
const { CloudEvent } = require('cloudevents');
const lines = require('fs').readFileSync(0, 'utf8').split('\\n').filter(Boolean);
const ids = lines.map((line) => {
  const event = new CloudEvent(JSON.parse(line), true);  // strict: throws when invalid
  event.validate();
  return event.id;
});
console.log(JSON.stringify(ids));
"""


def sse_data(api: Server, count: int) -> list[str]:
    """The `data` of the first `count` SSE events from the start of the log."""
    with (
        httpx.Client(base_url=api.url, timeout=30) as client,
        connect_sse(client, "GET", "/events/stream", params={"after": "0"}) as source,
    ):
        found = []
        for event in sse_events(source):
            found.append(event.data)
            if len(found) == count:
                return found
    return found


def test_every_ndjson_line_and_sse_event_is_a_valid_cloudevent_for_both_sdks(
    server: tuple[Server, Writer], modules: Path, tmp_path: Path
) -> None:
    api, _ = server
    ndjson = httpx.get(api.url + "/events", timeout=30).text.splitlines()
    sse = sse_data(api, 5)
    assert len(ndjson) == len(sse) == 5
    for text in ndjson + sse:
        event = JSONFormat().read(None, text)  # the Python SDK: refuses a bad attribute
        assert event.get_specversion() == "1.0" and event.get_id() and event.get_source()
        assert event.get_type().startswith(TYPE_PREFIX)
        data = event.get_data()
        assert isinstance(data, dict) and data["aggregateId"] and data["position"]
    lines = tmp_path / "events.ndjson"
    lines.write_text("\n".join(ndjson + sse) + "\n")
    with lines.open() as stdin:
        run = node.run_script(VALIDATE, modules=modules, stdin=stdin)
    assert run.returncode == 0, run.stderr
    ids = json.loads(run.stdout)
    assert ids[:5] == ids[5:] == [json.loads(line)["id"] for line in ndjson]


READ_SSE = """
const { EventSource } = require('eventsource');
const [url, count] = process.argv.slice(-2);
const source = new EventSource(url);
const ids = [];
source.onmessage = (message) => {
  ids.push(Number(message.lastEventId));
  if (ids.length >= Number(count)) { source.close(); console.log(JSON.stringify(ids)); }
};
source.onerror = (error) => { console.error('error ' + (error.message || error.code)); };
"""


def test_the_npm_eventsource_client_reads_the_stream_with_event_ids(
    server: tuple[Server, Writer], modules: Path
) -> None:
    api, _ = server
    run = node.run_script(READ_SSE, api.url + "/events/stream?after=2", "3", modules=modules)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == [3, 4, 5]


RECEIVE = """
const { HTTP } = require('cloudevents');
const { Webhook } = require('standardwebhooks');
const [secret] = process.argv.slice(-1);
const deliveries = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const ids = deliveries.map(({ headers, body }) => {
  new Webhook(secret).verify(body, headers);  // throws on a bad signature
  const event = HTTP.toEvent({ headers, body });  // the CloudEvents HTTP binding
  if (Array.isArray(event)) throw new Error('a batch, not one event');
  event.validate();
  return event.id;
});
console.log(JSON.stringify(ids));
"""


def test_webhook_deliveries_are_cloudevents_and_standard_webhooks_for_the_npm_sdks(
    sqlite_url: str, modules: Path, tmp_path: Path
) -> None:
    from timeline.streams import webhooks

    writer = Writer(sqlite_url)
    try:
        with Receiver() as receiver:
            endpoint = webhooks.add_endpoint(
                writer.timeline, receiver.url, after=0, policy=LOCAL_POLICY
            )
            written = writer.statements(2)
            env = {**LOCAL_RECEIVERS, **FAST_RETRIES}
            with running_server(sqlite_url, tmp_path / "server.log", **env):
                accepted = receiver.wait_for(4)
            records = list(receiver.accepted)
    finally:
        writer.close()
    assert len(accepted) == 4 and written == [3, 4]
    deliveries = [
        {"headers": {k.lower(): v for k, v in headers.items()}, "body": body.decode()}
        for _, headers, body in records
    ]
    for delivery in deliveries:
        assert delivery["headers"]["content-type"].startswith("application/cloudevents+json")
    sent = tmp_path / "deliveries.json"
    sent.write_text(json.dumps(deliveries))
    with sent.open() as stdin:
        run = node.run_script(RECEIVE, endpoint.secret, modules=modules, stdin=stdin)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == accepted
