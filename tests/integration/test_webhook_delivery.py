"""The webhook worker against a real database and a real HTTP receiver (in this process):
signed, ordered, retried, exactly once per event id per endpoint across restarts and workers."""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from standardwebhooks.webhooks import Webhook

from domain.errors import InvalidInput
from timeline.application import Timeline
from timeline.settings import Settings
from timeline.streams import webhooks
from timeline.streams.reader import EventFilter
from timeline.streams.webhooks import WebhookSettings, WebhookWorker

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
from stream_support import LOCAL_POLICY, Receiver, Writer

FAST = WebhookSettings(
    backoff_base=0.02, backoff_max=0.2, poll_interval=0.05, timeout=5, allowed_hosts=["127.0.0.1"]
)


class RunningWorker:
    """A WebhookWorker on its own event loop in a thread, as in a server process."""

    def __init__(self, database_url: str, settings: WebhookSettings = FAST) -> None:
        self.timeline = Timeline(Settings(database_url=database_url))
        self.loop = asyncio.new_event_loop()
        self.worker = WebhookWorker(self.timeline, settings)
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.worker.start(), self.loop).result(30)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.worker.stop(), self.loop).result(60)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(30)
        self.loop.close()
        self.timeline.close()


@pytest.fixture
def writer(database_url: str) -> Iterator[Writer]:
    w = Writer(database_url)  # positions 1, 2: two actors
    try:
        yield w
    finally:
        w.close()


def test_every_event_arrives_once_in_order_signed_although_the_first_attempts_fail(
    database_url: str, writer: Writer
) -> None:
    with Receiver(failures=2) as receiver:
        endpoint = webhooks.add_endpoint(
            writer.timeline, receiver.url, after=0, policy=LOCAL_POLICY
        )
        written = writer.statements(5)
        worker = RunningWorker(database_url)
        try:
            accepted = receiver.wait_for(7)
        finally:
            worker.stop()
        records = list(receiver.accepted)

    expected = ["actor:meta@1", "actor:roskomnadzor@1"] + [
        f"statement:meta/statement-{n}@1" for n in range(1, 6)
    ]
    assert accepted == expected
    assert all(receiver.attempts[i] == 3 for i in expected)
    for message_id, headers, body in records:
        payload = Webhook(endpoint.secret).verify(body, headers)  # raises if the signature fails
        assert payload["id"] == message_id
    assert [json.loads(body)["position"] for _, _, body in records] == [1, 2, *written]
    log = webhooks.list_deliveries(writer.timeline.engine, endpoint.id, limit=100)
    assert sum(d.succeeded for d in log) == 7
    assert sum(not d.succeeded for d in log) == 14
    assert {d.status_code for d in log if not d.succeeded} == {500}
    assert webhooks.get_endpoint(writer.timeline.engine, endpoint.id).cursor == written[-1]


def test_a_restart_resumes_after_the_last_acknowledged_event_and_sends_none_twice(
    database_url: str, writer: Writer
) -> None:
    with Receiver(failures=1) as receiver:
        endpoint = webhooks.add_endpoint(
            writer.timeline, receiver.url, policy=LOCAL_POLICY
        )  # now on
        written = writer.statements(10)
        worker = RunningWorker(database_url)
        receiver.wait_for(4)
        worker.stop()  # mid-way: an operator restarts the service
        delivered_before = len(receiver.accepted_ids())
        cursor = webhooks.get_endpoint(writer.timeline.engine, endpoint.id).cursor
        written += writer.statements(3)  # recorded while no worker runs
        worker = RunningWorker(database_url)
        try:
            accepted = receiver.wait_for(13)
        finally:
            worker.stop()

    assert delivered_before < 13
    assert cursor == written[delivered_before - 1]  # the durable cursor = last acknowledged
    assert accepted == [f"statement:meta/statement-{n}@1" for n in range(1, 14)]


def test_two_workers_on_one_database_deliver_each_event_once(
    database_url: str, writer: Writer
) -> None:
    with Receiver() as receiver:
        webhooks.add_endpoint(writer.timeline, receiver.url, policy=LOCAL_POLICY)
        first, second = RunningWorker(database_url), RunningWorker(database_url)
        try:
            writer.statements(20)
            accepted = receiver.wait_for(20)
        finally:
            first.stop()
            second.stop()
    assert accepted == [f"statement:meta/statement-{n}@1" for n in range(1, 21)]


def test_an_endpoint_receives_only_what_its_filter_selects(
    database_url: str, writer: Writer
) -> None:
    with Receiver() as receiver:
        webhooks.add_endpoint(
            writer.timeline,
            receiver.url,
            EventFilter.parse(["jurisdiction=RU"]),
            policy=LOCAL_POLICY,
        )
        writer.restriction("ofcom/instagram", "GB")
        writer.restriction("roskomnadzor/instagram", "RU")
        writer.statements(2)
        last = writer.restriction("roskomnadzor/facebook", "RU")
        worker = RunningWorker(database_url)
        try:
            accepted = receiver.wait_for(2)
            # The worker moves the cursor after the receiver's 2xx: wait for that commit too.
            deadline = time.monotonic() + 30
            while (cursor := webhooks.list_endpoints(writer.timeline.engine)[0].cursor) != last:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.05)
        finally:
            worker.stop()
    assert accepted == [
        "regulatory-action:roskomnadzor/instagram@1",
        "regulatory-action:roskomnadzor/facebook@1",
    ]
    assert cursor == last


def test_an_actor_filter_follows_the_aggregate_so_a_later_lift_of_an_action_matches(
    database_url: str, writer: Writer
) -> None:
    writer.restriction("roskomnadzor/instagram", "RU")  # targets meta; before the endpoint
    writer.restriction("roskomnadzor/vk", "RU", targets=("roskomnadzor",))
    with Receiver() as receiver:
        webhooks.add_endpoint(
            writer.timeline,
            receiver.url,
            EventFilter.parse(["actor=meta", "kind=regulatory-action"]),
            policy=LOCAL_POLICY,
        )
        writer.lift("roskomnadzor/vk")  # the authority is not meta, nor are its targets
        writer.statements(1)  # by meta, but not a regulatory action
        writer.lift("roskomnadzor/instagram")  # the lift names no actor; the action does
        writer.restriction("roskomnadzor/facebook", "RU")
        worker = RunningWorker(database_url)
        try:
            accepted = receiver.wait_for(2)
        finally:
            worker.stop()
    assert accepted == [
        "regulatory-action:roskomnadzor/instagram@2",
        "regulatory-action:roskomnadzor/facebook@1",
    ]


def test_backoff_doubles_from_the_base_up_to_the_cap() -> None:
    settings = WebhookSettings(backoff_base=1.0, backoff_max=30.0)
    assert [webhooks.backoff(settings, n) for n in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]


@pytest.mark.parametrize(
    ("url", "options", "field"),
    [
        ("ftp://example.org/hook", [], "url"),
        ("http://example.org/hook", ["colour=red"], "filter"),
        ("http://example.org/hook", ["jurisdiction=Russia"], "filter.jurisdiction[0]"),
    ],
)
def test_a_bad_endpoint_is_refused_naming_the_field_and_nothing_is_stored(
    sqlite_url: str, url: str, options: list[str], field: str
) -> None:
    timeline = Timeline(Settings(database_url=sqlite_url))
    try:
        with pytest.raises(InvalidInput) as refused:
            webhooks.add_endpoint(timeline, url, EventFilter.parse(options))
        assert refused.value.field == field
        assert webhooks.list_endpoints(timeline.engine) == []
    finally:
        timeline.close()
