"""The built demo site in a real browser (Debian's chromium driven by Playwright): every page
loads without script or console errors at desktop and phone sizes, and internal links resolve.

CI installs chromium (.ci/run); elsewhere the test is skipped with the reason when it is absent.
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import threading
import urllib.request
from html.parser import HTMLParser
from urllib.parse import urljoin, urlparse

import pytest

from generator.site import ROOT, build

from .conftest import AS_OF

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
REQUIRED = os.environ.get("CI") == "true"
pytestmark = pytest.mark.skipif(CHROMIUM is None and not REQUIRED, reason="chromium is not installed (CI installs it)")
PAGES = ["", "guide/disclosure/", "data/downloads/", "data/dictionary/", "data/quality/", "guide/submit/", "guide/rules/",
         "about/", "about/performance/"]
VIEWPORTS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}


class Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        for name, value in attrs:
            if name in ("href", "src") and value and not value.startswith(("#", "mailto:", "data:")):
                self.hrefs.append(value)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    out = tmp_path_factory.mktemp("browser") / "site"
    build(ROOT / "datasets", out, AS_OF)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(out))
    handler.log_message = lambda *args: None
    server = QuietServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


class QuietServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:  # a browser cancelling a request is fine
        pass


@pytest.fixture(scope="module")
def browser():
    assert CHROMIUM, "chromium is required in CI: .ci/run installs it"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run", "--disable-quic"])
        yield instance
        instance.close()


@pytest.mark.parametrize("viewport", sorted(VIEWPORTS))
def test_pages_load_without_errors(served, browser, viewport, tmp_path):
    context = browser.new_context(viewport=VIEWPORTS[viewport])
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
    page.on("console", lambda m: errors.append(f"console: {m.text}") if m.type == "error" else None)
    page.on("dialog", lambda d: (errors.append(f"dialog: {d.message}"), d.dismiss()))
    for path in PAGES:
        response = page.goto(served + path)
        assert response is not None and response.status == 200, path
        page.wait_for_load_state("load")
        assert page.locator("h1").first.is_visible(), path
        page.screenshot(path=str(tmp_path / f"{viewport}-{path.strip('/').replace('/', '-') or 'home'}.png"))
    context.close()
    assert errors == []


def test_internal_links_resolve(served):
    checked: set[str] = set()
    for path in PAGES:
        parser = Links()
        with urllib.request.urlopen(served + path) as response:
            parser.feed(response.read().decode("utf-8"))
        for href in parser.hrefs:
            url = urljoin(served + path, href)
            if urlparse(url).netloc != urlparse(served).netloc or url in checked:
                continue
            checked.add(url)
            with urllib.request.urlopen(url.split("#")[0]) as response:
                assert response.status == 200, (path, href)
    assert len(checked) > 30
