"""The reading room (issue 18) in headless Chromium on the demo data set, over the real
server: the point-in-time answers legal teams read, permalinks that survive a later
correction, and axe-core finding no serious or critical accessibility violation. Screenshots
of each page go to the test's tmp dir; plain httpx checks the 404, 400 and closed-read pages."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from playwright.sync_api import Page
from support.browser import offline_page
from support.node import packages
from test_api_server import ApiServer, serve
from test_browser_pages import assert_only_the_server, screenshot

from timeline import tokens
from timeline.demo import (
    ALLOWANCE_CLAUSE,
    ALLOWANCE_SCOPE,
    INSTAGRAM_RESTRICTION,
    POLICY,
    load_demo,
)
from timeline.settings import Settings

pytestmark = pytest.mark.e2e

AXE = "axe-core@4.10.2"
#: A directory to save small viewport PNGs for docs/reading-room.md (docs/img/reading-room).
DOCS_SHOTS = os.environ.get("TIMELINE_DOCS_SCREENSHOTS")
SLUG_PATH = f"/policies/{POLICY}"


def demo_server(url: str, **settings: Any) -> Iterator[ApiServer]:
    """The server on `url` with the demo loaded and projected."""
    with serve(Settings(database_url=url, **settings)) as api:
        load_demo(api.services.timeline)
        api.services.projections.catch_up()
        yield api


@pytest.fixture(name="api", scope="module")
def api_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    yield from demo_server(f"sqlite:///{tmp_path_factory.mktemp('reading') / 'timeline.db'}")


def permalink(api: ApiServer, path: str) -> str:
    """The permalink a page asked for "now" redirects to (the resolved log position in it)."""
    response = httpx.get(api.url + path, follow_redirects=False)
    assert response.status_code == 303, response.text[:500]
    location = response.headers["location"]
    assert "position=" in location and "=now" not in location and "knownAt" not in location
    return api.url + location


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core (from the npm registry) run in the page: serious and critical violations.

    The pages' Content-Security-Policy refuses every script, `add_script_tag` included, so
    axe is evaluated through the DevTools protocol, which CSP does not govern; the policy
    stays on for the page itself."""
    script = packages(AXE) / "axe-core" / "axe.min.js"
    page.evaluate(script.read_text(encoding="utf-8") + "\n;undefined")
    result = page.evaluate("async () => await axe.run(document)")
    return [v for v in result["violations"] if v["impact"] in ("serious", "critical")]


def open_page(page: Page, url: str, tmp_path: Path, name: str) -> str:
    """Go to `url`, screenshot it, check accessibility; the main text."""
    response = page.goto(url)
    assert response is not None and response.status == 200, url
    screenshot(page, tmp_path, name)
    if DOCS_SHOTS:
        page.set_viewport_size({"width": 900, "height": 640})
        changed = page.locator("section.change-CHANGED")  # a diff: its changed clause
        target = changed.first if changed.count() else page
        target.screenshot(path=str(Path(DOCS_SHOTS) / f"{name}.png"))
        page.set_viewport_size({"width": 1280, "height": 900})
    violations = axe_violations(page)
    assert violations == [], [(v["id"], v["help"], v["nodes"][:2]) for v in violations]
    return page.inner_text("main")


def test_hate_speech_policy_before_and_after_the_narrowing(api: ApiServer, tmp_path: Path) -> None:
    march_11 = permalink(api, f"{SLUG_PATH}?validAt=2022-03-11T00:00:00Z")
    march_14 = march_11.replace("2022-03-11T00", "2022-03-14T00")
    with offline_page(api.url) as (page, record):
        before = open_page(page, march_11, tmp_path, "policy-11-march")
        scope = page.inner_text(f"#clause-{ALLOWANCE_CLAUSE} .scope-list")
        assert scope.split(", ") == ALLOWANCE_SCOPE and "(12 countries)" in before
        assert "None at this instant" in page.inner_text("#responses + ul")
        assert page.inner_text(".versions li.current").startswith("2022-03-10T00:00:00Z")
        assert "Cite as: Policy Timeline, meta/hate-speech, as in force 2022-03-11T00:00:00Z" in (
            page.inner_text("footer")
        )
        head = page.get_attribute(".evidence a", "href")
        assert head is not None and head.startswith("/log/head?knownAtPosition=")
        signed = httpx.get(api.url + head)  # the signed tree head the page was answered at
        assert signed.status_code == 200, signed.text
        after = open_page(page, march_14, tmp_path, "policy-14-march")
        assert page.inner_text(f"#clause-{ALLOWANCE_CLAUSE} .scope-list") == "UA"
        assert "(1 country)" in after and "AM, AZ" not in after
        assert page.inner_text(".versions li.current").startswith("2022-03-13T00:00:00Z")
        assert f"{INSTAGRAM_RESTRICTION}: IN_EFFECT" in page.inner_text("#responses + ul")
    assert_only_the_server(record, api)


def test_the_policy_page_on_a_phone_in_print_and_by_keyboard(
    api: ApiServer, tmp_path: Path
) -> None:
    url = permalink(api, f"{SLUG_PATH}?validAt=2022-03-11T00:00:00Z")
    with offline_page(api.url) as (page, record):
        page.set_viewport_size({"width": 375, "height": 800})
        open_page(page, url, tmp_path, "policy-phone")
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        page.fill("#validAtLocal", "2022-03-14T00:00")  # the picker, read in its zone
        page.select_option("#timeZone", "Europe/Moscow")
        page.click("form.basis button")
        page.wait_for_url("**validAt=2022-03-13T21:00:00Z**")
        assert (
            parse_qs(urlsplit(page.url).query)["position"]
            == parse_qs(urlsplit(url).query)["position"]
        )  # the record's position is kept
        assert page.inner_text(f"#clause-{ALLOWANCE_CLAUSE} .scope-list") == "UA"
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.textContent") == "Skip to content"
        page.emulate_media(media="print")
        assert not page.is_visible("header") and not page.is_visible("form.basis")
        assert page.is_visible(f"#clause-{ALLOWANCE_CLAUSE}") and page.is_visible(".citation")
        page.pdf(path=str(tmp_path / "policy.pdf"))  # what a printout holds, for a look
    assert_only_the_server(record, api)


def test_the_moscow_day_of_13_march_shows_both_versions(api: ApiServer, tmp_path: Path) -> None:
    url = permalink(api, f"{SLUG_PATH}/day?date=2022-03-13&timeZone=Europe/Moscow")
    assert parse_qs(urlsplit(url).query)["timeZone"] == ["Europe/Moscow"]
    with offline_page(api.url) as (page, record):
        text = open_page(page, url, tmp_path, "policy-day-moscow")
        assert page.locator("section.version").count() == 2
        assert "2 version(s) that day" in text
        assert "AM, AZ, EE, GE" in text  # the twelve countries until 03:00 MSK
        assert "Scope: UA" in text
    assert_only_the_server(record, api)


def test_the_diff_from_11_to_14_march_marks_the_scope_change(
    api: ApiServer, tmp_path: Path
) -> None:
    url = permalink(
        api, f"{SLUG_PATH}/diff?mode=validAt&from=2022-03-11T00:00:00Z&to=2022-03-14T00:00:00Z"
    )
    with offline_page(api.url) as (page, record):
        open_page(page, url, tmp_path, "policy-diff")
        clause = page.locator(f"section[aria-labelledby='c-{ALLOWANCE_CLAUSE}']")
        assert "CHANGED" in clause.inner_text()
        removed = clause.locator("del.scope-removed").all_inner_texts()
        assert sorted(removed) == sorted(set(ALLOWANCE_SCOPE) - {"UA"})
        assert clause.locator("ins.scope-added").count() == 0
        assert "11 removed" in clause.inner_text()
        assert clause.locator(".words del").count() > 0  # the text changed word by word
        assert clause.locator(".words ins").count() > 0
    assert_only_the_server(record, api)


def test_the_instagram_restriction_announced_then_in_effect(api: ApiServer, tmp_path: Path) -> None:
    march_12 = permalink(api, f"/actions/{INSTAGRAM_RESTRICTION}?validAt=2022-03-12T00:00:00Z")
    march_14 = march_12.replace("2022-03-12T00", "2022-03-14T00")
    with offline_page(api.url) as (page, record):
        open_page(page, march_12, tmp_path, "action-12-march")
        assert page.inner_text("#status") == "ANNOUNCED"
        assert page.locator(f"a[href^='{SLUG_PATH}?']").count() == 1  # what it responded to
        open_page(page, march_14, tmp_path, "action-14-march")
        assert page.inner_text("#status") == "IN_EFFECT"
    assert_only_the_server(record, api)


def test_home_and_timeline_pages(api: ApiServer, tmp_path: Path) -> None:
    with offline_page(api.url) as (page, record):
        page.goto(api.url + "/")  # redirected to the permalink of now
        assert "validAt=" in page.url and "position=" in page.url
        home = open_page(page, permalink(api, "/?validAt=2022-03-12T00:00:00Z"), tmp_path, "home")
        assert "Hate Speech" in home and INSTAGRAM_RESTRICTION in home
        page.fill("#jurisdiction", "UA")
        page.click("form.filters button")
        assert "Hate Speech" in page.inner_text("main")
        page.fill("#jurisdiction", "FR")
        page.click("form.filters button")
        assert "No policy matches" in page.inner_text("main")
        timeline = open_page(page, permalink(api, "/timeline"), tmp_path, "timeline")
        assert timeline.index("PolicyAnnounced") < timeline.index("RegulatoryActionAnnounced")
        rows = page.locator("main table tbody tr").filter(has_text=INSTAGRAM_RESTRICTION)
        assert [rows.nth(i).get_attribute("data-entry-kind") for i in range(rows.count())] == [
            "ANNOUNCEMENT",
            "ENTRY_INTO_FORCE",
        ]
        assert "announced" in rows.nth(0).inner_text() and "2022-03-11" in rows.nth(0).inner_text()
        assert "in effect" in rows.nth(1).inner_text()
        open_page(page, permalink(api, "/timeline?kind=regulatory-action"), tmp_path, "timeline-f")
        assert "PolicyRevised" not in page.inner_text("main table")
    assert_only_the_server(record, api)


def test_a_permalink_opened_after_a_correction_shows_the_old_answer(
    database_url: str, tmp_path: Path
) -> None:
    """On SQLite and PostgreSQL: the permalink names the log position it was answered at."""
    for api in demo_server(database_url):
        link = permalink(api, f"{SLUG_PATH}?validAt=2022-03-09T00:00:00Z")
        with offline_page(api.url) as (page, record):
            open_page(page, link, tmp_path, "permalink-before")
            assert page.locator(f"#clause-{ALLOWANCE_CLAUSE}").count() == 0
            api.execute(
                "mutation($input: CorrectEventInput!) { correctEvent(input: $input) { eventId } }",
                {
                    "input": {
                        "event": f"policy:{POLICY}@2",
                        "reason": "in force earlier",
                        "changes": {"effectiveAt": "2022-03-08T00:00:00+00:00"},
                    }
                },
                token=api.write_token,
            )
            open_page(page, link, tmp_path, "permalink-after")
            assert page.locator(f"#clause-{ALLOWANCE_CLAUSE}").count() == 0  # as it was
            now = permalink(api, f"{SLUG_PATH}?validAt=2022-03-09T00:00:00Z")
            text = open_page(page, now, tmp_path, "permalink-now")
            assert page.locator(f"#clause-{ALLOWANCE_CLAUSE}").count() == 1  # as corrected
            assert "Event 2 (PolicyRevised)" in text and "corrected" in text
        assert_only_the_server(record, api)


# -- plain HTTP: errors and closed reads -----------------------------------------------------


def test_the_pages_run_no_script_and_name_only_this_server(api: ApiServer) -> None:
    for path in ("/", f"{SLUG_PATH}?validAt=now", "/timeline", f"/actions/{INSTAGRAM_RESTRICTION}"):
        response = httpx.get(api.url + path, follow_redirects=True)
        assert response.status_code == 200
        assert "<script" not in response.text
        assert "default-src 'none'" in response.headers["content-security-policy"]
        assert response.headers["x-content-type-options"] == "nosniff"


def test_an_unknown_slug_is_a_404_page(api: ApiServer) -> None:
    for path in ("/policies/meta/nothing", "/actions/nobody/nothing"):
        response = httpx.get(
            api.url + path + "?validAt=2022-03-11T00:00:00Z&knownAt=2030-01-01T00:00:00Z",
            follow_redirects=True,
        )
        assert response.status_code == 404
        assert "text/html" in response.headers["content-type"] and "Not found" in response.text


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("validAt=yesterday&knownAt=now", "validAt"),
        ("validAt=2022-03-11T00:00:00Z&knownAt=1647000000", "knownAt"),
        ("validAt=2022-03-11T00:00:00&knownAt=now", "validAt"),  # naive: no offset
        ("validAtLocal=not-a-time", "validAtLocal"),
        ("timeZone=Mars/Olympus", "timeZone"),
    ],
)
def test_a_bad_instant_is_a_400_page_naming_the_field(
    api: ApiServer, query: str, field: str
) -> None:
    response = httpx.get(f"{api.url}{SLUG_PATH}?{query}")
    assert response.status_code == 400
    assert f'<code class="field-name">{field}</code>' in response.text


def test_a_bad_day_is_a_400_naming_date(api: ApiServer) -> None:
    response = httpx.get(f"{api.url}{SLUG_PATH}/day?date=13.03.2022&knownAt=now")
    assert response.status_code == 400 and '<code class="field-name">date</code>' in response.text


def test_a_local_picker_time_redirects_to_the_instant_in_its_zone(api: ApiServer) -> None:
    response = httpx.get(
        f"{api.url}{SLUG_PATH}?validAtLocal=2022-03-14T00:00&timeZone=Europe/Moscow&knownAt=now"
    )
    assert response.status_code == 303
    query = parse_qs(urlsplit(response.headers["location"]).query)
    assert query["validAt"] == ["2022-03-13T21:00:00Z"]
    assert query["timeZone"] == ["Europe/Moscow"]


def test_closed_reads_need_the_login_cookie(sqlite_url: str) -> None:
    for api in demo_server(sqlite_url, read_requires_token=True):
        page = f"{api.url}{SLUG_PATH}?validAt=2022-03-11T00:00:00Z&knownAt=2030-01-01T00:00:00Z"
        refused = httpx.get(page)
        assert refused.status_code == 401
        assert 'action="/login"' in refused.text and "Hate Speech" not in refused.text
        wrong = httpx.post(api.url + "/login", data={"token": "pt_x_y", "next": "/"})
        assert wrong.status_code == 401 and "not valid" in wrong.text
        target = urlsplit(page)
        ok = httpx.post(
            api.url + "/login",
            data={"token": api.read_token, "next": f"{target.path}?{target.query}"},
        )
        assert ok.status_code == 303
        assert ok.headers["location"] == f"{target.path}?{target.query}"
        cookie = ok.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie
        with httpx.Client(cookies=ok.cookies, follow_redirects=True) as browser:
            shown = browser.get(page)
            assert shown.status_code == 200 and "Hate Speech" in shown.text
            tokens.revoke_token(api.services.timeline.engine, api.read_token.split("_")[1])
            assert browser.get(page).status_code == 401  # a revoked token stops at once
        elsewhere = httpx.post(
            api.url + "/login", data={"token": api.write_token, "next": "//evil.example/"}
        )
        assert elsewhere.headers["location"] == "/"  # never an open redirect


def test_search_from_the_home_page_finds_the_allowance_at_its_date(
    api: ApiServer, tmp_path: Path
) -> None:
    home = permalink(api, "/?validAt=2022-03-12T12:00:00%2B03:00")
    with offline_page(api.url) as (page, record):
        open_page(page, home, tmp_path, "home")
        page.fill("#search-q", '"Russian soldiers"')
        page.click("form[role=search] button")
        page.wait_for_url("**/search?**")
        text = open_page(page, page.url, tmp_path, "search-12-march")
        assert "Results (1)" in text
        assert "russian soldiers" in page.inner_text(".hit mark").lower()
        query = parse_qs(urlsplit(page.url).query)
        assert query["validAt"] == ["2022-03-12T09:00:00Z"]
        assert query["position"] == parse_qs(urlsplit(home).query)["position"]
        assert "knownAt" not in query
        page.click(".hit a")  # to the policy page at the same basis
        page.wait_for_url(f"**{SLUG_PATH}?**")
        linked = parse_qs(urlsplit(page.url).query)
        assert linked["validAt"] == query["validAt"] and linked["position"] == query["position"]
        assert page.is_visible(f"#clause-{ALLOWANCE_CLAUSE}")
        before = page.url.replace("/policies/meta/hate-speech?", "/search?q=Russian+soldiers&")
        before = before.replace("2022-03-12T09:00:00Z", "2022-03-01T00:00:00Z")
        assert "Nothing said that" in open_page(page, before, tmp_path, "search-1-march")
    assert_only_the_server(record, api)


def test_a_known_at_instant_redirects_to_the_position_it_resolves_to(api: ApiServer) -> None:
    head = httpx.get(api.url + "/log/head", params={"knownAtPosition": 12}).json()
    response = httpx.get(
        f"{api.url}{SLUG_PATH}",
        params={"validAt": "2022-03-14T12:00:00Z", "knownAt": head["recordedAt"]},
    )
    assert response.status_code == 303
    query = parse_qs(urlsplit(response.headers["location"]).query)
    assert query["position"] == ["12"] and "knownAt" not in query
    page = httpx.get(api.url + response.headers["location"])
    assert "as known right after log position <strong>12</strong>" in page.text
    assert "knownAtPosition=12" in page.text  # the signed head it was answered at
    beyond = httpx.get(f"{api.url}{SLUG_PATH}?validAt=2022-03-14T12:00:00Z&position=999999")
    assert beyond.status_code == 400 and '<code class="field-name">position</code>' in beyond.text
    spelled = httpx.get(f"{api.url}{SLUG_PATH}?validAt=2022-03-14T12:00:00Z&position=%D9%A3")
    assert spelled.status_code == 400 and '<code class="field-name">position</code>' in spelled.text
