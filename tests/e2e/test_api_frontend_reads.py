"""What a frontend can ask besides policies (issue 17 item 9): actors and their names at a
moment, lists of actors and statements with Relay pages, a regulatory action's history,
and removing a webhook; over the real server, on the demo data set."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from test_api_server import ApiServer, serve

from timeline.demo import load_demo
from timeline.settings import Settings

pytestmark = pytest.mark.e2e


@pytest.fixture(name="api", scope="module")
def api_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    path = tmp_path_factory.mktemp("frontend") / "timeline.db"
    with serve(Settings(database_url=f"sqlite:///{path}")) as api:
        load_demo(api.services.timeline)
        api.services.projections.catch_up()
        yield api


def test_an_actor_is_named_as_at_the_moment_asked_about(api: ApiServer) -> None:
    query = 'query($at: DateTime) { actor(id: "meta", validAt: $at) { id name formerNames } }'
    before = api.execute(query, {"at": "2021-01-01T00:00:00Z"})["actor"]
    after = api.execute(query, {"at": "2022-03-11T00:00:00Z"})["actor"]
    assert before["name"] == "Facebook, Inc."
    assert after["name"] != before["name"] and before["name"] in after["formerNames"]
    (unknown,) = api.errors('{ actor(id: "nobody") { id } }')
    assert unknown["extensions"] == {"code": "NOT_FOUND"}
    (early,) = api.errors('{ actor(id: "meta", validAt: "1990-01-01T00:00:00Z") { id } }')
    assert early["extensions"]["code"] == "NOT_IN_FORCE" and early["path"] == ["actor"]


def page_through(api: ApiServer, field: str, args: str = "") -> tuple[list[str], int]:
    """Every id of a connection, two at a time, following endCursor."""
    query = (
        f"query($after: String) {{ {field}(first: 2, after: $after{args}) "
        "{ nodes { id } totalCount "
        "pageInfo { hasNextPage hasPreviousPage endCursor startCursor } edges { cursor } } }"
    )
    ids: list[str] = []
    after: Any = None
    total = -1
    while True:
        page = api.execute(query, {"after": after})[field]
        info = page["pageInfo"]
        assert info["hasPreviousPage"] is (after is not None)
        assert info["startCursor"] == page["edges"][0]["cursor"]
        assert info["endCursor"] == page["edges"][-1]["cursor"]
        ids += [n["id"] for n in page["nodes"]]
        total = page["totalCount"]
        if not page["pageInfo"]["hasNextPage"]:
            return ids, total
        after = page["pageInfo"]["endCursor"]


def test_actors_are_listed_in_pages_ordered_by_id(api: ApiServer) -> None:
    ids, total = page_through(api, "actors")
    assert ids == sorted(ids) and len(ids) == len(set(ids)) == total
    assert {"meta", "instagram", "roskomnadzor"} <= set(ids)


def test_statements_are_listed_and_filtered_by_actor(api: ApiServer) -> None:
    ids, total = page_through(api, "statements")
    assert ids == sorted(ids) and len(ids) == total >= 2
    clegg, clegg_total = page_through(api, "statements", ', actor: "nick-clegg"')
    assert clegg == [i for i in ids if i.startswith("nick-clegg/")] and clegg_total == len(clegg)


def test_a_regulatory_action_history_lists_its_statuses_in_valid_time_order(
    api: ApiServer,
) -> None:
    history = api.execute(
        '{ regulatoryActionHistory(id: "roskomnadzor/instagram-restriction") '
        "{ status validFrom validTo } }"
    )["regulatoryActionHistory"]
    assert [v["status"] for v in history] == ["ANNOUNCED", "IN_EFFECT"]
    assert history[0]["validTo"] == history[1]["validFrom"]
    (unknown,) = api.errors('{ regulatoryActionHistory(id: "nobody/nothing") { status } }')
    assert unknown["extensions"] == {"code": "NOT_FOUND"}


ADD = 'mutation { addWebhook(input: {url: "https://example.org/hook"}) { endpoint { id } } }'


def test_a_webhook_is_removed_and_an_unknown_one_is_not_found(api: ApiServer) -> None:
    token = api.write_token
    added = api.execute(ADD, token=token)["addWebhook"]["endpoint"]["id"]
    remove = "mutation($id: ID!) { removeWebhook(id: $id) }"
    assert api.execute(remove, {"id": added}, token=token) == {"removeWebhook": added}
    listed = api.execute("{ webhooks { id } }", token=token)["webhooks"]
    assert added not in [w["id"] for w in listed]
    again = api.errors(remove, {"id": added}, token=token)
    assert [e["extensions"]["code"] for e in again] == ["NOT_FOUND"]
    assert api.errors(remove, {"id": added})[0]["extensions"]["code"] == "UNAUTHENTICATED"


def test_the_event_log_pages_with_the_same_page_info(api: ApiServer) -> None:
    query = (
        "query($after: String) { events(first: 3, after: $after) { edges { cursor } "
        "pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }"
    )
    first = api.execute(query, {"after": None})["events"]
    second = api.execute(query, {"after": first["pageInfo"]["endCursor"]})["events"]
    assert first["pageInfo"]["hasPreviousPage"] is False
    assert second["pageInfo"]["hasPreviousPage"] is True
    assert first["pageInfo"]["startCursor"] == first["edges"][0]["cursor"] == "1"
    assert int(second["pageInfo"]["startCursor"]) > int(first["pageInfo"]["endCursor"])


def test_the_timeline_counts_every_match_over_all_pages(api: ApiServer) -> None:
    query = (
        "query($after: String) { timeline(first: 4, after: $after, "
        'filter: {actor: "meta"}) { totalCount nodes { position } '
        "pageInfo { hasNextPage endCursor } } }"
    )
    seen: list[int] = []
    after: Any = None
    totals = set()
    while True:
        page = api.execute(query, {"after": after})["timeline"]
        seen += [n["position"] for n in page["nodes"]]
        totals.add(page["totalCount"])
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert totals == {len(seen)} and len(seen) > 4
