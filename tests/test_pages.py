"""Subject pages, listings, the JSON API and sitemaps, parsed: each subject page lists exactly its
published records, nothing withheld appears, every internal link resolves, pages share the theme."""

from __future__ import annotations

import json
import re
import shutil
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

import pytest
from bs4 import BeautifulSoup

from generator.checks import run_checks
from generator.outputs import sitemaps
from generator.outputs.opendata import read_release_records
from generator.schema import datasets
from generator.site import ROOT, build
from generator.subjects import page_ids, record_id

from .conftest import AS_OF, PERSON, Folder, row

DEMO_AS_OF = AS_OF
SHOWN = {"displayed", "in_force", "licence_history", "listed"}


def soup(path: Path) -> BeautifulSoup:
    return BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("pages") / "site"
    result = build(ROOT / "datasets", out, DEMO_AS_OF)
    return out, result


@pytest.fixture(scope="module")
def published(demo):
    """Per subject page id, the published record ids, from the data packages."""
    out, _ = demo
    by_subject: dict[str, set[str]] = defaultdict(set)
    for d in datasets():
        table = read_release_records(out / "data" / "latest", d.name)
        for page_id, rid, status in zip(page_ids(table).to_pylist(), table["record_id"].to_pylist(),
                                        table["disclosure_status"].to_pylist(), strict=True):
            assert status in SHOWN
            by_subject[page_id].add(rid)
    return by_subject


def test_pages_and_feeds_written_by_worker_processes_are_the_same(demo, tmp_path, monkeypatch):
    """A few thousand pages are written in the build's own process (forking it costs more); made
    to fork for the demo's few hundred, the workers write the same bytes, and they did fork
    (feeds fork for larger families: tests/test_feeds.py makes them fork too)."""
    import multiprocessing

    from generator.outputs import feeds, listings, subject_pages

    monkeypatch.setenv("GONGSHI_WORKERS", "2")
    monkeypatch.setattr(subject_pages, "ALONE", 0)
    monkeypatch.setattr(listings, "ALONE", 0)
    monkeypatch.setattr(listings, "CHUNK", 20)
    monkeypatch.setattr(feeds, "ALONE", dict.fromkeys(feeds.ALONE, 0))
    pools = []
    fork = multiprocessing.get_context("fork")
    real = type(fork).Pool
    monkeypatch.setattr(type(fork), "Pool", lambda self, *a, **k: pools.append(a) or real(self, *a, **k))
    out = tmp_path / "forked"
    build(ROOT / "datasets", out, DEMO_AS_OF)
    assert len(pools) >= 2  # subject pages and listings
    first, _ = demo
    files = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file())
    assert [f for f in files if (first / f).read_bytes() != (out / f).read_bytes()] == []


def test_every_subject_page_lists_exactly_its_published_records(demo, published):
    out, _ = demo
    pages = {p.name for p in (out / "subjects").iterdir()}
    assert pages == set(published) - {""}
    for page_id in pages:
        page = soup(out / "subjects" / page_id / "index.html")
        anchors = {a["id"][2:] for a in page.select("article.gs-record")}
        assert anchors == published[page_id], page_id
        api = json.loads((out / "api" / "subjects" / f"{page_id}.json").read_text(encoding="utf-8"))
        assert {r["record_id"] for records in api["records"].values() for r in records} == published[page_id]
        assert api["id"] == page_id and api["page"] == f"subjects/{page_id}/"


def test_batch_renderer_matches_the_one_subject_reference(demo):
    """Pages are rendered in batches with Arrow string functions; every subject's JSON equals
    what the plain one-subject functions make of the same records."""
    from generator.outputs.disclosures import gather
    from generator.outputs.subject_pages import api_document, subject_index, subject_view
    from generator.site import region_name

    out, result = demo
    disclosures = gather(result.decisions)
    index = subject_index(disclosures)
    rows = {name: disclosures.by_dataset[name].table.to_pylist() for name in index.names}
    assert len(index) > 500
    for s, page_id in enumerate(index.ids.tolist()):
        lo, hi = int(index.bounds[s]), int(index.bounds[s + 1])
        records = [(index.names[d], rows[index.names[d]][r]) for d, r in zip(index.ds[lo:hi].tolist(), index.rows[lo:hi].tolist(),
                                                                              strict=True)]
        expected = api_document(subject_view(records, region_name), records)
        assert (out / "api" / "subjects" / f"{page_id}.json").read_text(encoding="utf-8") == expected, page_id


def test_withheld_records_appear_on_no_page(demo):
    out, result = demo
    withheld = set()
    for decisions in result.decisions.values():
        table = decisions.table.filter(decisions.table["_published"].to_numpy(zero_copy_only=False) == False)  # noqa: E712
        if table.num_rows:
            withheld.update(record_id(decisions.dataset, {n: table[n].combine_chunks() for n in decisions.dataset.field_names}))
    assert len(withheld) > 100
    pattern = re.compile(r"[0-9a-f]{20}")
    for folder in ("subjects", "datasets", "authorities", "regions", "months", "api"):
        for path in (out / folder).rglob("*"):
            if path.is_file():
                assert not set(pattern.findall(path.read_text(encoding="utf-8"))) & withheld, path


def test_natural_persons_get_no_page_and_are_listed_masked(folder, tmp_path):
    folder.write("penalties", "a.csv", [row("penalties"), row("penalties", decision_doc_no="南市监罚〔2024〕9号", **PERSON)])
    out = tmp_path / "site"
    build(folder.root, out, AS_OF)
    assert [p.name for p in (out / "subjects").iterdir()] == [row("penalties")["subject_uscc"]]
    listing = soup(out / "datasets" / "penalties" / "index.html")
    cells = [td.get_text() for td in listing.select("td[data-label=主体]")]
    assert "李某某（自然人）" in cells
    assert not [a for a in listing.select("a[href]") if "李某某" in a.get_text()]
    assert PERSON["subject_id_no"] not in "".join(p.read_text(encoding="utf-8") for p in out.rglob("*.html"))


def test_subject_page_shows_status_region_and_display_end(folder, tmp_path):
    name = '鑫源<script>alert(1)</script>"><img src=x onerror=alert(2)>'
    folder.write("penalties", "a.csv", [row("penalties", subject_name=name, violation_facts=name, remarks="a & b < c")])
    folder.write("blacklist", "b.csv", [row("blacklist", subject_name=name, objection_status="异议处理中")])
    out = tmp_path / "site"
    build(folder.root, out, AS_OF)
    uscc = row("penalties")["subject_uscc"]
    page = soup(out / "subjects" / uscc / "index.html")
    assert page.h1.get_text() == name
    assert not page.select("article script, article img")
    assert [li.get_text() for li in page.select(".gs-badges li")] == ["严重失信主体名单：在列", "有正在公示的行政处罚", "有记录异议处理中"]
    facts = dict(zip((dt.get_text() for dt in page.select(".gs-facts dt")), (dd.get_text() for dd in page.select(".gs-facts dd")),
                     strict=True))
    assert facts["统一社会信用代码"] == uscc
    assert facts["登记地"] == "广西壮族自治区南宁市"
    penalty = page.select_one("#penalties").find_parent("section")
    fields = {dt.get_text(): dd.get_text() for dt, dd in zip(penalty.select("dt"), penalty.select("dd"), strict=True)}
    assert fields["决定书文号"] == "南市监罚〔2024〕1号"
    assert fields["违法事实"] == name and fields["备注"] == "a & b < c"  # markup in a record field is text
    assert fields["公示截止"] == "2027-03-04"  # decided 2024-03-05 under Order 58: at most 3 years, the last day shown
    authority = penalty.select_one("dd a")
    assert authority["href"] == f"../../authorities/{row('penalties')['authority_uscc']}/"
    for listing in ("datasets/penalties/index.html", "datasets/penalties/2024-03/index.html", "months/2024-03/index.html"):
        table = soup(out / listing).select_one("table.gs-table")
        assert not table.select("script, img")
        rows = [tr for tr in table.select("tbody tr") if tr.select_one("td[data-label=类别]").get_text() == "行政处罚"]
        assert len(rows) == 1, listing
        cells = [td.get_text() for td in rows[0].select("td")]
        assert cells[:3] == ["2024-03-05", "行政处罚", name] and cells[3].startswith("南市监罚〔2024〕1号"), listing
        assert cells[4] == rows[0].select_one("td[data-label=机关] a").get_text() != "", listing
        link = rows[0].select_one("td[data-label=主体] a")["href"]
        assert link == "../" * listing.count("/") + f"subjects/{uscc}/#r-{link.split('#r-')[1]}"


def test_generated_pages_share_the_theme_and_forbid_inline_scripts(demo):
    out, _ = demo
    about = soup(out / "about" / "index.html")
    subject = soup(next((out / "subjects").iterdir()) / "index.html")
    listing = soup(out / "datasets" / "penalties" / "index.html")
    def site_nav(page: BeautifulSoup) -> list[str]:  # without the about page's own table of contents
        return [a.get_text(strip=True) for a in page.select("nav.md-nav--primary a.md-nav__link")
                if not a.find_parent("nav", class_="md-nav--secondary")]

    nav = site_nav(about)
    assert "数据下载" in nav
    for page in (subject, listing):
        assert site_nav(page) == nav
        assert page.select_one("header.md-header") and page.select_one("footer.md-footer")
        assert page.select_one('link[rel=stylesheet][href$="gongshi.css"]')
        csp = page.select_one('meta[http-equiv="Content-Security-Policy"]')["content"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
        for script in page.find_all("script"):
            assert script.get("src") or script.get("type") == "application/json", script
        assert page.select_one("link[rel=canonical]")["href"].startswith("http")
        assert "GONGSHI" not in str(page)


def test_subject_pages_are_small(demo):
    out, _ = demo
    sizes = sorted(p.stat().st_size for p in (out / "subjects").glob("*/index.html"))
    assert sizes[len(sizes) // 2] < 15 * 1024


def test_listings_show_the_newest_then_every_month_newest_first(demo, published):
    """A dataset's landing page: its newest 50 records and its months, newest first; each month
    paginated by 50: together every published record once, newest first."""
    out, _ = demo
    total = read_release_records(out / "data" / "latest", "penalties").num_rows
    assert total > 50
    landing_path = out / "datasets" / "penalties" / "index.html"
    landing = soup(landing_path)
    newest = [r.select_one("td").get_text() for r in landing.select("table.gs-table tbody tr")]
    assert len(newest) == 50 and newest == sorted(newest, reverse=True)
    assert landing.select_one("table.gs-table caption").get_text() == f"行政处罚：最新 50 条（共 {total} 条），按日期从新到旧"
    months = [a["href"] for a in landing.select("ul.gs-months a")]
    assert months and all(re.fullmatch(r"\.\./\.\./datasets/penalties/\d{4}-\d{2}/", m) for m in months)
    dates: list[str] = []
    for href in months:
        path = (landing_path.parent / href / "index.html").resolve()
        while True:
            page = soup(path)
            rows = page.select("table.gs-table tbody tr")
            assert 0 < len(rows) <= 50
            dates += [r.select_one("td").get_text() for r in rows]
            assert {d[:7] for d in dates[-len(rows):]} == {href.split("/")[-2]}  # the month's own records
            nxt = page.select_one("nav.gs-pages a[rel=next]")
            if nxt is None:
                break
            path = (path.parent / nxt["href"] / "index.html").resolve()
    assert dates == sorted(dates, reverse=True) and len(dates) == total
    assert dates[:50] == newest
    for index in ("authorities", "regions", "months"):
        table = soup(out / index / "index.html").select_one("table.gs-table")
        assert table.caption and table.select("th[scope=col]")


def test_every_internal_link_and_anchor_resolves(demo):
    out, _ = demo
    links = run_checks(out, ["links"], workers=1).results["links"]  # the same check gongshi check runs before a deploy
    assert links.problems == []
    assert links.files == len(list(out.rglob("*.html"))) and links.items > 10_000


def test_sitemap_index_and_robots(demo):
    out, _ = demo
    ns = {"s": "http://www.sitemaps.org/schemas/sitemap/0.9"}
    index = ET.parse(out / "sitemap.xml").getroot()
    assert index.tag == "{http://www.sitemaps.org/schemas/sitemap/0.9}sitemapindex"
    urls = []
    for loc in index.findall("s:sitemap/s:loc", ns):
        sitemap = ET.parse(out / loc.text.split("/", 3)[3]).getroot()
        entries = sitemap.findall("s:url", ns)
        assert 0 < len(entries) <= 50_000
        assert all(re.fullmatch(r"\d{4}-\d{2}-\d{2}", e.findtext("s:lastmod", namespaces=ns)) for e in entries)
        urls += [e.findtext("s:loc", namespaces=ns) for e in entries]
    subjects = [u for u in urls if "/subjects/" in u]
    assert len(subjects) == len(list((out / "subjects").iterdir()))
    assert len(urls) == len(set(urls))
    for url in urls[:: max(1, len(urls) // 200)]:
        path = out / url.split("/", 3)[3]
        assert (path / "index.html").is_file(), url
    assert "Sitemap: http" in (out / "robots.txt").read_text(encoding="utf-8")


def test_sitemaps_split_at_the_protocol_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(sitemaps, "MAX_URLS", 3)
    assert sitemaps.write_sitemaps(tmp_path, "https://example.org", [([f"p{i}/" for i in range(1, 8)], [f"2026-01-0{i}" for i in range(1, 8)])]) == 3
    index = (tmp_path / "sitemap.xml").read_text(encoding="utf-8")
    assert index.count("<sitemap>") == 3 and "<lastmod>2026-01-07</lastmod>" in index
    assert (tmp_path / "sitemaps" / "3.xml").read_text(encoding="utf-8").count("<url>") == 1


def test_home_and_statistics(demo):
    out, _ = demo
    home = soup(out / "index.html")
    assert len(home.select("table.gs-table tbody tr")) == 10
    assert home.select_one('form[role=search] input[name=q]')
    stats = soup(out / "statistics" / "index.html")
    charts = stats.select("figure.gs-chart svg")
    assert len(charts) == 3 and all(svg.title for svg in charts)
    assert len(charts[0].select("rect")) > 20


def test_listing_order_equals_the_three_key_sort():
    """``newest_first`` (a stable sort by date ranks over the datasets in name order) gives the
    order of Arrow's sort by date (newest first), dataset and record id, ties and empty dates
    included; ``string_ranks`` orders strings as Arrow does (UTF-8 bytes)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from generator.normalize import string_ranks
    from generator.outputs.disclosures import newest_first

    rng = np.random.default_rng(7)
    days = ["", "2024-01-31", "2024-02-01", "2025-12-31", "2026-11-20"]
    parts, sizes = [], {}
    for name in ("licensing", "penalties", "redlist", "blacklist"):  # not in name order, as gathered
        n = int(rng.integers(0, 40))
        ids = sorted(f"{rng.integers(0, 16**5):05x}" for _ in range(n))
        parts.append(pa.table({"dataset": pa.array([name] * n, pa.string()), "record_id": pa.array(ids, pa.string()),
                               "date": pa.array([days[i] for i in rng.integers(0, len(days), n)], pa.string())}))
        sizes[name] = n
    listing = pa.concat_tables(parts)
    expected = pc.sort_indices(listing, [("date", "descending"), ("dataset", "ascending"), ("record_id", "ascending")])
    assert newest_first(listing, sizes).tolist() == expected.to_pylist()
    words = pa.array(["b", "", "a", "é", "ab", "b", "Z", "中", "a"])
    ranks = string_ranks(words)
    assert [words[int(i)].as_py() for i in np.argsort(ranks, kind="stable")] == \
        [words[int(i)].as_py() for i in pc.sort_indices(words).to_numpy()]
    assert ranks[0] == ranks[5] and ranks[2] == ranks[8]


def test_the_listing_puts_a_column_in_order_only_when_asked(demo):
    """``Disclosures.listing`` keeps the rows as gathered and their newest-first order: each
    column asked for, each row taken and the counts are those of the whole listing sorted at
    once, and a column nobody asks for is never put in order."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from generator.outputs.disclosures import LISTING_COLUMNS, gather

    _, result = demo
    listing = gather(result.decisions).listing
    rows = listing._rows
    whole = rows.take(pa.array(listing.order))  # what the listing was before: every column sorted
    assert listing.num_rows == whole.num_rows == rows.num_rows > 500
    for column in ("date", "record_id", "region"):
        assert listing[column].to_pylist() == whole[column].to_pylist()
    assert set(listing._columns) == {"date", "record_id", "region"}  # the rest stay as gathered
    picked = np.array([5, 0, listing.num_rows - 1, 5])
    assert listing.take(picked).to_pylist() == whole.take(pa.array(picked)).to_pylist()
    assert listing.take(picked).column_names == list(LISTING_COLUMNS)
    assert listing.slice(0, 10).to_pylist() == whole.slice(0, 10).to_pylist()
    assert listing.slice(listing.num_rows - 3, 10).num_rows == 3
    def counts(column):
        return sorted((c["values"], c["counts"]) for c in pc.value_counts(column).to_pylist())

    assert counts(listing.unordered("authority")) == counts(whole["authority"])
    with pytest.raises(ValueError, match="rows"):
        listing.add("month", pa.array(["2026-11"]))


@pytest.fixture
def small_pages(monkeypatch):
    """Month pages of a few records each, so that the demo's months have many."""
    from generator.outputs import listings

    monkeypatch.setattr(listings, "PAGE_MIN", 3)
    monkeypatch.setattr(listings, "PAGE_CUT", 2)
    monkeypatch.setattr(listings, "PAGE_MAX", 8)


def month_pages(first: Path) -> list[Path]:
    """A month's pages in order, following the pager's 较早 links from its first page."""
    pages = [first / "index.html"]
    while (older := soup(pages[-1]).select_one("nav.gs-pages a[rel=next]")) is not None:
        pages.append((pages[-1].parent / older["href"] / "index.html").resolve())
    return pages


def test_a_months_pages_are_cut_by_record_and_named_by_their_first(small_pages, tmp_path):
    """A month's later pages begin at a record whose id's hash says so (at least PAGE_MIN
    records after the page before, at most PAGE_MAX), are named by it, link the newer and older
    page and the month's first, and say nothing of the month's totals."""
    out = tmp_path / "site"
    build(ROOT / "datasets", out, DEMO_AS_OF)
    month = out / "datasets" / "penalties" / "2025-12"
    pages = month_pages(month)
    assert len(pages) > 2
    first = soup(pages[0])
    total = int(re.search(r"共 (\d+) 条", first.select_one("table.gs-table caption").get_text()).group(1))
    rows = []
    for number, path in enumerate(pages):
        page = soup(path)
        ids = [a["href"].split("#r-")[1] for a in page.select("td[data-label=主体] a")]
        dates = [r.select_one("td").get_text() for r in page.select("table.gs-table tbody tr")]
        rows += dates
        assert len(dates) <= 8
        if number:
            assert path.parent.parent == month and path.parent.name == f"p-{ids[0]}"
            assert page.select_one("table.gs-table caption").get_text() == \
                f"行政处罚：2025 年 12 月：{dates[0]} 及以前的 {len(dates)} 条，按日期从新到旧"
            assert page.select_one("ul.gs-counts") is None
            newer = page.select_one("nav.gs-pages a[rel=prev]")["href"]
            assert (path.parent / newer / "index.html").resolve() == pages[number - 1]
            latest = [a for a in page.select("nav.gs-pages a") if a.get_text() == "« 本月最新"]
            assert bool(latest) == (number > 1)
    assert rows == sorted(rows, reverse=True) and len(rows) == total


def test_a_new_record_rewrites_the_page_it_lands_on_not_the_pages_after(small_pages, tmp_path):
    """A record decided late in a month lands on the month's first page: the month's later
    pages stay as they were, byte for byte, and the incremental build equals a full one."""
    datasets = tmp_path / "datasets"
    shutil.copytree(ROOT / "datasets", datasets)
    out = tmp_path / "site"
    build(datasets, out, DEMO_AS_OF)
    month = out / "datasets" / "penalties" / "2025-12"
    before = {p.relative_to(month).as_posix(): p.read_bytes() for p in month.rglob("index.html")}
    Folder(datasets).write("penalties", "late.csv", [row("penalties", decision_doc_no="南市监罚〔2025〕999号",
                                                         decision_date="2025-12-31")])
    result = build(datasets, out, DEMO_AS_OF)
    assert result.work.incremental
    after = {p.relative_to(month).as_posix(): p.read_bytes() for p in month.rglob("index.html")}
    changed = sorted(path for path in after if before.get(path) != after[path])
    assert "index.html" in changed and len(changed) <= 3  # the first page, and where a cut moved
    assert len(after) > 4 and sum(before.get(path) == data for path, data in after.items()) >= len(after) - 3
    full = tmp_path / "full"
    build(datasets, full, DEMO_AS_OF, previous=out, full=True)
    for path in ("datasets/penalties/2025-12", "months/2025-12", "datasets/penalties"):
        assert {p.relative_to(out).as_posix(): p.read_bytes() for p in (out / path).rglob("*.html")} == \
            {p.relative_to(full).as_posix(): p.read_bytes() for p in (full / path).rglob("*.html")}


def test_a_listing_page_digest_names_its_own_neighbours(demo):
    """A listing page's digest covers where it is and its newer and older page: taken from the
    task list (a group's pages are consecutive tasks), they are the group's own pages."""
    from generator.outputs.disclosures import gather
    from generator.outputs.listings import page_path, plan_listings
    from generator.site import region_name

    _, result = demo
    plan = plan_listings(gather(result.decisions), region_name)
    paths = plan.page_paths
    assert paths == [page_path(group, page) for _, group, page in plan.tasks]
    assert len(set(paths)) == len(paths) and any(group.pages > 1 for _, group, _ in plan.tasks)
    for i, (_, group, page) in enumerate(plan.tasks):
        if page > 1:
            assert paths[i - 1] == page_path(group, page - 1)
        if page < group.pages:
            assert paths[i + 1] == page_path(group, page + 1)
