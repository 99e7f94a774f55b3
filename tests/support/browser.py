"""Headless Chromium for the browser tests: the system's chromium (Debian's package, which
.ci/run installs) driven by Playwright from PyPI; Playwright's own browser downloads are never
used. Each page runs offline: a route handler aborts every request to a host other than the
origins a test allows, and records it, so a test can assert that nothing left them.

Without chromium the tests skip on a laptop; in CI (TIMELINE_REQUIRE_POSTGRES set, as for the
PostgreSQL tests) they fail instead."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest
from conftest import REQUIRE_POSTGRES
from playwright.sync_api import Browser, Page, Route, WebSocket, sync_playwright

#: Where Debian's package puts it; TIMELINE_CHROMIUM names another.
CANDIDATES = ("chromium", "chromium-browser", "/usr/bin/chromium")


def require_chromium() -> str:
    """The chromium executable, or a skip (laptop) / failure (CI)."""
    configured = os.environ.get("TIMELINE_CHROMIUM")
    for candidate in ([configured] if configured else []) + list(CANDIDATES):
        found = shutil.which(candidate)
        if found:
            return found
    if REQUIRE_POSTGRES:
        pytest.fail("chromium is required in CI (TIMELINE_REQUIRE_POSTGRES=1): apt-get install")
    pytest.skip("chromium not installed (Debian: apt-get install chromium)")


#: A websocket's URL counts as the origin of its HTTP spelling (ws://host -> http://host).
HTTP_SCHEME = {"http": "http", "https": "https", "ws": "http", "wss": "https"}


def origin_of(url: str) -> str:
    """http(s)://host:port of a URL (data: and blob: URLs have none: '')."""
    parts = urlsplit(url)
    if parts.scheme not in HTTP_SCHEME:
        return ""
    return f"{HTTP_SCHEME[parts.scheme]}://{parts.netloc}"


@dataclass
class Offline:
    """The requests a page made, split by whether their origin was allowed."""

    allowed: set[str]
    made: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)

    def permits(self, url: str) -> bool:
        origin = origin_of(url)
        return origin == "" or origin in self.allowed


@contextmanager
def browser() -> Iterator[Browser]:
    """A headless Chromium (Playwright's Browser), closed after."""
    executable = require_chromium()
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


@contextmanager
def offline_page(*origins: str) -> Iterator[tuple[Page, Offline]]:
    """A page whose requests reach only `origins` (http://127.0.0.1:PORT ...); every other
    request is aborted and recorded, as on a network with no internet. Websockets, which
    routes do not see, are recorded too."""
    record = Offline(allowed={origin_of(o) for o in origins})

    def route(route: Route) -> None:
        url = route.request.url
        record.made.append(url)
        if record.permits(url):
            route.continue_()
        else:
            record.blocked.append(url)
            route.abort("internetdisconnected")

    def websocket(socket: WebSocket) -> None:
        record.made.append(socket.url)
        if not record.permits(socket.url):
            record.blocked.append(socket.url)

    with browser() as chromium:
        context = chromium.new_context(viewport={"width": 1280, "height": 900})
        try:
            context.route("**/*", route)
            page = context.new_page()
            page.on("websocket", websocket)
            yield page, record
        finally:
            context.close()


@contextmanager
def page_server(page: str) -> Iterator[int]:
    """A second origin for cross-origin tests: a tiny HTTP server on another port answering
    every GET with `page` (HTML); its port."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = page.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            """Quiet: the test output is for failures."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
