"""The browser tests' Chromium, and their live portal (tests/live_portal.py) with the demo data."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require_or_skip
from tests.live_portal import Portal, running_portal

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]
ARTIFACTS = ROOT / "test-artifacts"


@pytest.fixture(scope="session")
def portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Portal]:
    if not CHROMIUM.exists():
        require_or_skip("BROWSER", f"{CHROMIUM} is not installed (apt-get install chromium)")
    with running_portal(tmp_path_factory.mktemp("portal")) as portal:
        yield portal


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():
        require_or_skip("BROWSER", f"{CHROMIUM} is not installed (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        require_or_skip("BROWSER", "playwright is not installed")
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


class FollowRecorder:
    """The page's follow socket (``/ws/jobs/``) through a route that records every follow the
    page sends (``follows``, job ids) and every socket it opens (``sockets``, URLs); once
    ``drop_next`` is set, the connection that carries the next follow dies instead of sending
    it, as on a flaky network or a server restart."""

    def __init__(self, page: Any) -> None:
        self.follows: list[int] = []
        self.sockets: list[str] = []
        self.dropped: list[int] = []
        self.drop_next = False
        page.route_web_socket("**/ws/jobs/", self._handle)

    def _handle(self, ws: Any) -> None:
        self.sockets.append(ws.url)
        server = ws.connect_to_server()

        def from_page(message: str | bytes) -> None:
            job_id = json.loads(message)["follow"] if isinstance(message, str) else None
            if job_id is not None:
                self.follows.append(job_id)
            if self.drop_next and job_id is not None:
                self.drop_next = False
                self.dropped.append(job_id)
                server.close()
                ws.close(code=1011, reason="simulated network failure")
                return
            server.send(message)

        ws.on_message(from_page)


JS_ORIGIN = "http://js.test"


@pytest.fixture(scope="module")
def js(browser: Any) -> Iterator[Any]:
    """A page on a made-up origin where ``/static/js/*.js`` are the repository's files: the
    page's pure ES modules run without a portal."""
    page = browser.new_page()

    def serve(route: Any) -> None:
        path = route.request.url.removeprefix(JS_ORIGIN)
        if path.startswith("/static/js/"):
            body = (ROOT / path.lstrip("/")).read_text()
            route.fulfill(body=body, content_type="text/javascript")
        else:
            route.fulfill(body="<!doctype html><title>js</title>", content_type="text/html")

    page.route(f"{JS_ORIGIN}/**", serve)
    page.goto(f"{JS_ORIGIN}/")
    yield page
    page.close()


@pytest.fixture
def page(browser: Any, portal: Portal) -> Iterator[Any]:
    """alice signed in on a 1400 x 1000 page that accepts downloads; ``page.errors`` collects
    the page's errors and console errors (a module may define its own ``page``)."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.on("console", lambda m: m.type == "error" and page.errors.append(m.text))
    portal.login(page, "alice")
    yield page
    context.close()
