"""The service's pages in headless Chromium with no internet: GraphiQL (development), /docs
(Swagger UI) and `/` load every script and style from the server itself and render. Every
request to another host is aborted and recorded; a screenshot of each page goes to the test's
tmp dir (printed, so `pytest -s` or a failure shows where)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page
from support.browser import Offline, offline_page, origin_of
from test_api_server import ApiServer, serve

from timeline.settings import Settings

pytestmark = pytest.mark.e2e

#: Long enough for a slow CI machine to parse GraphiQL's 1 MB bundle; only a guard.
GUARD_MS = 60_000


@pytest.fixture(name="development")
def development_fixture(sqlite_url: str) -> Iterator[ApiServer]:
    with serve(Settings(database_url=sqlite_url, development=True)) as server:
        yield server


@pytest.fixture(name="api")
def api_fixture(sqlite_url: str) -> Iterator[ApiServer]:
    with serve(Settings(database_url=sqlite_url)) as server:
        yield server


def screenshot(page: Page, tmp_path: Path, name: str) -> Path:
    """The page as a PNG in the test's tmp dir."""
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")
    return path


def assert_only_the_server(record: Offline, server: ApiServer) -> None:
    """Nothing was blocked, and every request the page made went to the server."""
    assert record.blocked == []
    assert record.made, "the page made no request at all"
    assert {origin_of(url) for url in record.made} <= {server.url}


def test_graphiql_renders_offline_and_runs_a_query(development: ApiServer, tmp_path: Path) -> None:
    development.execute(
        'mutation { registerActor(input: {id: "meta", name: "Meta", kind: "organisation", '
        'effectiveAt: "2021-10-28T00:00:00Z"}) { position } }',
        token=development.write_token,
    )
    with offline_page(development.url) as (page, record):
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(development.url + "/graphql")
        page.wait_for_selector(".graphiql-container .graphiql-query-editor", timeout=GUARD_MS)
        assert "events(first: 5)" in page.inner_text(".graphiql-query-editor")
        page.click(".graphiql-execute-button")
        page.wait_for_selector(".result-window:has-text('ActorRegistered')", timeout=GUARD_MS)
        page.click("button[aria-label='Show Documentation Explorer']")
        page.wait_for_selector(".graphiql-doc-explorer-title:has-text('Docs')")
        # the schema came over introspection: the root types are listed
        page.wait_for_selector(".graphiql-doc-explorer a:has-text('Query')", timeout=GUARD_MS)
        screenshot(page, tmp_path, "graphiql")
    assert errors == []
    assert_only_the_server(record, development)
    assert development.url + "/static/graphiql/graphiql.min.js" in record.made


def test_graphiql_assets_are_not_served_outside_development(api: ApiServer) -> None:
    assert httpx.get(api.url + "/static/graphiql/graphiql.min.js").status_code == 404


def test_docs_render_offline(api: ApiServer, tmp_path: Path) -> None:
    with offline_page(api.url) as (page, record):
        page.goto(api.url + "/docs")
        title = ".swagger-ui .info .title:has-text('Policy Timeline')"
        page.wait_for_selector(title, timeout=GUARD_MS)
        page.wait_for_selector(".opblock-summary-path:has-text('/healthz')")
        page.click(".opblock-summary-path:has-text('/healthz')")
        page.click("button.try-out__btn")
        page.click("button.execute")
        page.wait_for_selector(".responses-wrapper .live-responses-table .response-col_status")
        assert '"status": "ok"' in page.inner_text(".live-responses-table")
        screenshot(page, tmp_path, "docs")
    assert_only_the_server(record, api)
    assert api.url + "/static/swagger-ui/swagger-ui-bundle.js" in record.made


def test_home_page_links_graphiql_and_docs_in_development(
    development: ApiServer, tmp_path: Path
) -> None:
    """`/` is the reading room (tests/e2e/test_reading_room.py); it links the API pages."""
    with offline_page(development.url) as (page, record):
        page.goto(development.url + "/")
        links = page.eval_on_selector_all("a", "links => links.map(a => a.getAttribute('href'))")
        assert "/graphql" in links and "/docs" in links
        screenshot(page, tmp_path, "home")
        page.click("nav >> text=GraphiQL")
        page.wait_for_selector(".graphiql-container", timeout=GUARD_MS)
    assert_only_the_server(record, development)


def test_home_page_without_graphiql_says_which_setting_serves_it(api: ApiServer) -> None:
    response = httpx.get(api.url + "/", follow_redirects=True)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert 'href="/graphql"' not in response.text
    assert 'href="/docs"' in response.text
    assert "TIMELINE_DEVELOPMENT=1" in response.text
    assert "http://" not in response.text and "https://" not in response.text


def test_graphiql_subscribes_offline_with_the_token_from_its_headers_editor(
    sqlite_url: str, tmp_path: Path
) -> None:
    """Reads closed: GraphiQL sends the Headers editor's token over HTTP, and in
    connection_init for a subscription, whose events then appear in the result pane."""
    settings = Settings(database_url=sqlite_url, development=True, read_requires_token=True)
    with serve(settings) as server:
        server.execute(
            'mutation { registerActor(input: {id: "meta", name: "Meta", kind: "organisation", '
            'effectiveAt: "2021-10-28T00:00:00Z"}) { position } }',
            token=server.write_token,
        )
        headers = json.dumps({"Authorization": f"Bearer {server.read_token}"})
        with offline_page(server.url) as (page, record):
            page.add_init_script(f"localStorage.setItem('graphiql:headers', {json.dumps(headers)})")
            page.goto(server.url + "/graphql")
            page.wait_for_selector(".graphiql-query-editor .CodeMirror", timeout=GUARD_MS)
            page.evaluate(
                "document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror"
                ".setValue('subscription { events { position type aggregateId } }')"
            )
            # GraphiQL takes the edit (and sees a subscription) once it has stored it
            page.wait_for_function(
                "(localStorage.getItem('graphiql:query') || '').startsWith('subscription')"
            )
            page.click(".graphiql-execute-button")
            page.wait_for_selector(".result-window:has-text('ActorRegistered')", timeout=GUARD_MS)
            result = page.inner_text(".result-window")
            screenshot(page, tmp_path, "graphiql-subscription")
            sockets = [url for url in record.made if url.startswith("ws://")]
    assert "UNAUTHENTICATED" not in result
    assert '"aggregateId": "meta"' in result
    assert sockets == [server.url.replace("http", "ws") + "/graphql"]
    assert_only_the_server(record, server)
