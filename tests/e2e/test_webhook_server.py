"""Webhooks end to end: endpoints added with the real `timeline` CLI or the GraphQL mutation,
delivered by the real server's worker to a real HTTP receiver, across a server restart."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from standardwebhooks.webhooks import Webhook
from stream_support import (
    FAST_RETRIES,
    LOCAL_RECEIVERS,
    Receiver,
    Server,
    Writer,
    running_server,
)

from timeline import tokens

pytestmark = pytest.mark.e2e

TIMELINE = str(Path(sys.executable).with_name("timeline"))
FAST_LOCAL = {**FAST_RETRIES, **LOCAL_RECEIVERS}


@pytest.fixture
def writer(database_url: str) -> Iterator[Writer]:
    w = Writer(database_url)  # 1, 2: actors
    try:
        yield w
    finally:
        w.close()


def cli(database_url: str, *args: str) -> str:
    env = {**os.environ, "TIMELINE_DATABASE_URL": database_url, **LOCAL_RECEIVERS}
    done = subprocess.run(
        [TIMELINE, "webhook", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_cli_webhook_gets_every_event_once_in_order_signed_across_a_server_restart(
    database_url: str, writer: Writer, tmp_path: Path
) -> None:
    with Receiver(failures=2) as receiver:
        added = cli(database_url, "add", receiver.url, "--after", "0", "--filter", "kind=statement")
        secret = added.split("secret: ")[1].strip()
        written = writer.statements(8)
        server = Server(database_url, tmp_path / "server.log", **FAST_LOCAL).start()
        try:
            receiver.wait_for(3)
        finally:
            server.stop()  # restarted mid-way
        delivered_before_restart = len(receiver.accepted_ids())
        written += writer.statements(4)  # recorded while the server is down
        with running_server(database_url, tmp_path / "server.log", **FAST_LOCAL):
            accepted = receiver.wait_for(12)
        records = list(receiver.accepted)
    listed = cli(database_url, "list")

    assert delivered_before_restart < 12
    assert accepted == [f"statement:meta/statement-{n}@1" for n in range(1, 13)]
    for message_id, headers, body in records:
        envelope = Webhook(secret).verify(body, headers)
        assert envelope["id"] == message_id
    assert [json.loads(body)["position"] for _, _, body in records] == written
    assert f"cursor {written[-1]}" in listed


def graphql(
    url: str, query: str, variables: dict[str, Any] | None = None, token: str | None = None
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = httpx.post(
        url + "/graphql",
        json={"query": query, "variables": variables or {}},
        headers=headers,
        timeout=30,
    )
    result: dict[str, Any] = response.json()
    return result


ADD = """mutation($input: AddWebhookInput!) {
  addWebhook(input: $input) { secret endpoint { id url cursor filter } } }"""
DELIVERIES = """query($endpoint: ID) {
  webhookDeliveries(endpointId: $endpoint, first: 10) {
    eventId position attempt statusCode succeeded error } }"""


def test_add_webhook_mutation_and_the_delivery_log_over_graphql(
    sqlite_url: str, tmp_path: Path
) -> None:
    writer = Writer(sqlite_url)
    token, _ = tokens.create_token(writer.timeline.engine, ["write"], "tests")
    with (
        Receiver(failures=1) as receiver,
        running_server(sqlite_url, tmp_path / "server.log", **FAST_LOCAL) as server,
    ):
        refused = graphql(server.url, ADD, {"input": {"url": receiver.url}})
        added = graphql(
            server.url, ADD, {"input": {"url": receiver.url, "types": ["StatementRecorded"]}}, token
        )["data"]["addWebhook"]
        written = writer.statements(2)
        accepted = receiver.wait_for(2)
        log = graphql(server.url, DELIVERIES, {"endpoint": added["endpoint"]["id"]}, token)["data"][
            "webhookDeliveries"
        ]
    writer.close()

    assert refused["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert added["secret"].startswith("whsec_")
    assert added["endpoint"]["filter"]["types"] == ["StatementRecorded"]
    assert accepted == ["statement:meta/statement-1@1", "statement:meta/statement-2@1"]
    assert [(d["position"], d["attempt"], d["succeeded"]) for d in log] == [
        (written[1], 2, True),
        (written[1], 1, False),
        (written[0], 2, True),
        (written[0], 1, False),
    ]
    assert log[1]["statusCode"] == 500
    assert log[1]["error"] == "HTTP 500"


def test_a_bad_webhook_url_is_refused_naming_the_field(sqlite_url: str, tmp_path: Path) -> None:
    writer = Writer(sqlite_url)
    token, _ = tokens.create_token(writer.timeline.engine, ["write"], "tests")
    writer.close()
    with running_server(sqlite_url, tmp_path / "server.log") as server:
        result = graphql(server.url, ADD, {"input": {"url": "file:///etc/passwd"}}, token)
        listed = graphql(server.url, "{ webhooks { id } }", token=token)
    error = result["errors"][0]
    assert error["extensions"]["code"] == "BAD_INPUT"
    assert error["extensions"]["field"] == "input.url"  # the wire path, as sent
    assert error["message"].startswith("input.url: ")
    assert listed["data"]["webhooks"] == []
