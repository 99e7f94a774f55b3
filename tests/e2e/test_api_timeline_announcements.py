"""The timeline reads in the order the world saw it (issue 15 item 6): on the demo story,
through the real server and the gql client, on SQLite and PostgreSQL, Roskomnadzor's Instagram
restriction stands on 11 March as announced and on 14 March as in effect, each entry marked."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from test_api_server import ApiServer, serve

from timeline.demo import INSTAGRAM_RESTRICTION, POLICY, load_demo
from timeline.settings import Settings

pytestmark = pytest.mark.e2e

FEED = (
    "query($from: DateTime, $to: DateTime, $after: String, $first: Int) { "
    "timeline(from: $from, to: $to, after: $after, first: $first, "
    'filter: {jurisdiction: "RU"}) { totalCount '
    "nodes { id type entryKind at effectiveAt announcedAt } "
    "pageInfo { hasNextPage endCursor } } }"
)


@pytest.fixture(name="api", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def api_fixture(request: pytest.FixtureRequest) -> Iterator[ApiServer]:
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url")
    with serve(Settings(database_url=url)) as api:
        load_demo(api.services.timeline)
        api.services.projections.catch_up()
        yield api


def entries(api: ApiServer, **variables: Any) -> list[dict[str, Any]]:
    return list(api.execute(FEED, {"first": 200, **variables})["timeline"]["nodes"])


def test_the_restriction_is_on_the_timeline_when_announced_and_when_in_effect(
    api: ApiServer,
) -> None:
    feed = entries(api)
    restriction = [e for e in feed if e["id"] == f"regulatory-action:{INSTAGRAM_RESTRICTION}@1"]

    assert [(e["entryKind"], e["at"]) for e in restriction] == [
        ("ANNOUNCEMENT", "2022-03-11T16:00:00+00:00"),
        ("ENTRY_INTO_FORCE", "2022-03-13T21:00:00+00:00"),
    ]
    ats = [e["at"] for e in feed]
    assert ats == sorted(ats)
    order = [(e["id"], e["entryKind"]) for e in feed]
    narrowing = next(i for i, e in enumerate(feed) if e["id"] == f"policy:{POLICY}@3")
    announced = order.index((f"regulatory-action:{INSTAGRAM_RESTRICTION}@1", "ANNOUNCEMENT"))
    in_effect = order.index((f"regulatory-action:{INSTAGRAM_RESTRICTION}@1", "ENTRY_INTO_FORCE"))
    assert announced < narrowing < in_effect  # announced before the narrowing it cites


def test_a_window_holds_the_entries_standing_in_it(api: ApiServer) -> None:
    eleventh = entries(
        api, **{"from": "2022-03-11T00:00:00+03:00", "to": "2022-03-12T00:00:00+03:00"}
    )
    fourteenth = entries(
        api, **{"from": "2022-03-14T00:00:00+03:00", "to": "2022-03-15T00:00:00+03:00"}
    )

    restriction = f"regulatory-action:{INSTAGRAM_RESTRICTION}@1"
    assert (restriction, "ANNOUNCEMENT") in [(e["id"], e["entryKind"]) for e in eleventh]
    assert restriction not in [e["id"] for e in eleventh if e["entryKind"] != "ANNOUNCEMENT"]
    assert [(e["id"], e["entryKind"]) for e in fourteenth if e["id"] == restriction] == [
        (restriction, "ENTRY_INTO_FORCE")
    ]


def test_pages_of_the_feed_hold_every_entry_once(api: ApiServer) -> None:
    whole = entries(api)
    seen: list[tuple[str, str]] = []
    after = None
    while True:
        page = api.execute(FEED, {"first": 2, "after": after})["timeline"]
        seen += [(e["id"], e["entryKind"]) for e in page["nodes"]]
        assert page["totalCount"] == len(whole)
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == [(e["id"], e["entryKind"]) for e in whole]
    assert len(set(seen)) == len(seen)


def test_the_reading_rooms_timeline_marks_the_announcement_and_the_entry_into_force(
    api: ApiServer,
) -> None:
    page = httpx.get(
        f"{api.url}/timeline",
        params={"knownAt": "2030-01-01T00:00:00Z", "jurisdiction": "RU"},
        timeout=30,
        follow_redirects=True,  # to its permalink by position
    )
    assert page.status_code == 200, page.text
    rows = re.findall(
        r'<tr class="entry-[a-z_]+" data-entry-kind="([A-Z_]+)">(.*?)</tr>', page.text, re.S
    )
    restriction = [(kind, html) for kind, html in rows if INSTAGRAM_RESTRICTION in html]
    assert [kind for kind, _ in restriction] == ["ANNOUNCEMENT", "ENTRY_INTO_FORCE"]
    assert "announced" in restriction[0][1] and "2022-03-11T16:00:00" in restriction[0][1]
    assert "in effect" in restriction[1][1] and "2022-03-13T21:00:00" in restriction[1][1]
