"""The built demo site in a real browser (Debian's chromium driven by Playwright): every page
loads without script or console errors at desktop and phone sizes, and internal links resolve.

CI installs chromium (.ci/run); elsewhere the test is skipped with the reason when it is absent.
"""

from __future__ import annotations

import os
import urllib.request
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlparse

import pytest

from generator.site import ROOT, build

from .browsing import CHROMIUM, REQUIRED, VIEWPORTS, chromium, serving
from .conftest import AS_OF

pytestmark = pytest.mark.skipif(CHROMIUM is None and not REQUIRED, reason="chromium is not installed (CI installs it)")
PAGES = ["", "guide/disclosure/", "data/downloads/", "data/dictionary/", "data/quality/", "guide/submit/", "guide/rules/",
         "about/", "about/performance/", "guide/repair/", "statistics/", "datasets/penalties/", "datasets/licensing/2026-03/",
         "authorities/", "regions/", "months/", "search/"]
ARTIFACTS = Path(os.environ.get("GONGSHI_ARTIFACTS", Path(__file__).resolve().parent.parent / "test-artifacts")) / "screenshots"


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
    with serving(out) as url:
        served_dirs[url] = str(out)
        yield url


@pytest.fixture(scope="module")
def browser():
    with chromium() as instance:
        yield instance


def subject_with_penalty(served: str, most_records: int = 1000) -> tuple[str, dict]:
    """A company with a displayed penalty (and at most ``most_records`` records in all), from the
    site's own data packages."""
    from collections import Counter

    from generator.outputs.opendata import read_release_records

    site = Path(served_dirs[served])
    tables = {name: read_release_records(site / "data" / "latest", name).select(["subject_uscc"])
              for name in ("licensing", "penalties", "redlist", "blacklist")}
    counts = Counter(code for t in tables.values() for code in t["subject_uscc"].to_pylist())
    table = read_release_records(site / "data" / "latest", "penalties").to_pylist()
    for record in table:
        code = record["subject_uscc"]
        if code and not code.startswith("0") and record["subject_category"] != "自然人" and counts[code] <= most_records:
            return code, record
    raise AssertionError("no company penalty in the demo")


served_dirs: dict[str, str] = {}


@pytest.mark.parametrize("viewport", sorted(VIEWPORTS))
def test_pages_load_without_errors(served, browser, viewport, tmp_path):
    uscc, _ = subject_with_penalty(served)
    context = browser.new_context(viewport=VIEWPORTS[viewport])
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
    page.on("console", lambda m: errors.append(f"console: {m.text}") if m.type == "error" else None)
    page.on("dialog", lambda d: (errors.append(f"dialog: {d.message}"), d.dismiss()))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for path in [*PAGES, f"subjects/{uscc}/"]:
        response = page.goto(served + path)
        assert response is not None and response.status == 200, path
        page.wait_for_load_state("load")
        assert page.locator("h1").first.is_visible(), path
        name = "subject" if path.startswith("subjects/") else path.strip("/").replace("/", "-") or "home"
        page.screenshot(path=str(ARTIFACTS / f"{viewport}-{name}.png"))
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


@pytest.mark.parametrize("viewport", sorted(VIEWPORTS))
def test_search_opens_the_right_subject_page(served, browser, viewport):
    """From the home page: a name fragment, the USCC and the document number each find the
    company; clicking the result opens its page (at the record, for a document number)."""
    uscc, record = subject_with_penalty(served)
    name, doc = record["subject_name"], record["decision_doc_no"]
    context = browser.new_context(viewport=VIEWPORTS[viewport])
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
    page.on("console", lambda m: errors.append(f"console: {m.text}") if m.type == "error" else None)
    trade = name[3:7] if len(name) > 8 else name[:4]  # a fragment from inside the name
    for query, link in ((trade, f"subjects/{uscc}/"), (uscc, f"subjects/{uscc}/"), (uscc[:12].lower(), f"subjects/{uscc}/"),
                        (doc, f"subjects/{uscc}/#r-{record['record_id']}")):
        page.goto(served)
        page.fill("#home-q", query)
        page.press("#home-q", "Enter")
        page.wait_for_url(served + "search/?q=*")
        result = page.locator(f"#gongshi-search ol a[href='{served}{link}']").first
        result.wait_for()
        result.click()
        page.wait_for_url(served + link)
        assert page.locator("h1").first.inner_text() == name, query
        if "#r-" in link:
            assert page.locator(f"#r-{record['record_id']}").is_visible()
    page.screenshot(path=str(ARTIFACTS / f"{viewport}-search-result-record.png"))
    context.close()
    assert errors == []


def test_subject_page_prints_as_a_one_page_report(served, browser):
    """Printed, a subject page is the report alone: no header, navigation or footer, with the
    data date and version, on one A4 page for a subject with a few records."""
    import re

    uscc, _ = subject_with_penalty(served, most_records=3)
    page = browser.new_page()
    page.goto(served + f"subjects/{uscc}/")
    page.emulate_media(media="print")
    assert not page.locator("header.md-header").is_visible()
    assert not page.locator("nav.md-nav--primary").is_visible()
    assert not page.locator("footer.md-footer").is_visible()
    line = page.locator(".gs-asof").inner_text()
    assert line.startswith("公共信用信息公示报告 · ") and "JSON" not in line
    # the date and version come from one shared stylesheet (a new build date rewrites no page)
    stamp = page.evaluate("getComputedStyle(document.querySelector('.gs-stamp'), '::before').content")
    assert stamp.startswith('"数据日期 ') and "数据版本" in stamp
    pdf = page.pdf(format="A4")
    assert len(re.findall(rb"/Type\s*/Page[^s]", pdf)) == 1
    page.close()


MARKUP = '<script>window.__pwned=1</script>"><img src=x onerror="window.__pwned=2">javascript:alert(1)'


def test_markup_in_every_field_runs_nowhere(browser, tmp_path):
    """A submission with markup in every text field: its subject page, the listings, the home
    page, the statistics and the feeds page open without a dialog or any of that script running."""
    from .conftest import Folder, row

    folder = Folder(tmp_path / "datasets")
    text_fields = ["violation_type", "violation_facts", "legal_basis", "penalty_content", "remarks", "authority"]
    folder.write("penalties", "a.csv", [row("penalties", subject_name="鑫源" + MARKUP, **{f: MARKUP for f in text_fields})])
    out = tmp_path / "site"
    build(folder.root, out, AS_OF)
    dialogs: list[str] = []
    with serving(out) as base:
        page = browser.new_page()
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        uscc = row("penalties")["subject_uscc"]
        for path in (f"subjects/{uscc}/", "datasets/penalties/", "", "statistics/", "data/feeds/", "authorities/",
                     f"search/?q={uscc}"):
            page.goto(base + path)
            page.wait_for_load_state("networkidle")
            assert page.evaluate("window.__pwned") is None, path
        page.goto(base + f"subjects/{uscc}/")
        assert MARKUP in page.locator("h1").inner_text()
        assert page.locator("article img").count() == 0
        page.close()
    assert dialogs == []
