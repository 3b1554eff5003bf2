"""The site build: generated pages parsed as HTML, nothing withheld leaks, failures keep the old site."""

from __future__ import annotations

import shutil

import pytest
from bs4 import BeautifulSoup

from generator.errors import BuildError
from generator.schema import datasets
from generator.site import ROOT, build, move_into

from .conftest import AS_OF, row


def page(out, path):
    return BeautifulSoup((out / path / "index.html").read_text(encoding="utf-8"), "html.parser")


@pytest.fixture
def built(folder, tmp_path):
    folder.write("penalties", "a.csv", [row("penalties"), row("penalties", decision_doc_no="2号",
                                                               violation_facts="<script>alert(1)</script>",
                                                               fine_amount_wan="-1")])
    out = tmp_path / "site"
    result = build(folder.root, out, AS_OF)
    return out, result


def test_dictionary_lists_every_field_of_every_schema(built):
    out, _ = built
    soup = page(out, "data/dictionary")
    for dataset in datasets():
        heading = soup.find("h2", id=dataset.name)
        assert heading is not None and dataset.title in heading.get_text()
        table = heading.find_next("table")
        rows = table.find("tbody").find_all("tr")
        assert [r["id"] for r in rows] == [f"{dataset.name}-{f.name}" for f in dataset.fields]
        for r, f in zip(rows, dataset.fields, strict=True):
            cells = [c.get_text(strip=True) for c in r.find_all("td")]
            assert cells[0] == f.title and cells[2] == f.name and cells[1] == (f.code or "")


def test_quality_page_counts_without_withheld_content(built):
    out, result = built
    soup = page(out, "data/quality")
    cells = [c.get_text(strip=True) for c in soup.find("h2", id="files").find_next("table").find("tbody").find_all("td")]
    assert cells == ["penalties/a.csv", "utf-8", "2", "1", "1", "0"]
    rules = [c.get_text(strip=True) for c in soup.find("h2", id="rules").find_next("table").find("tbody").find_all("td")]
    assert rules == ["amount.negative", "金额为负数", "错误（不发布）", "1"]
    for path in out.rglob("*"):
        if path.is_file() and path.suffix in (".html", ".json", ".xml"):
            assert "alert(1)" not in path.read_text(encoding="utf-8", errors="replace"), path
    assert result.intake.withheld == 1


def test_same_input_same_bytes(folder, tmp_path):
    folder.write("redlist", "a.csv", [row("redlist")])
    first, second = tmp_path / "one", tmp_path / "two"
    build(folder.root, first, AS_OF)
    build(folder.root, second, AS_OF)
    files = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(second) for p in second.rglob("*") if p.is_file())
    for f in files:
        assert (first / f).read_bytes() == (second / f).read_bytes(), f


def test_failed_build_leaves_the_last_good_site(folder, tmp_path):
    folder.write("redlist", "a.csv", [row("redlist")])
    out = tmp_path / "site"
    build(folder.root, out, AS_OF)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    project = tmp_path / "project"
    shutil.copytree(ROOT / "site_src", project / "site_src")
    shutil.copytree(ROOT / "templates", project / "templates")
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8").replace("index.md", "missing.md", 1)
    (project / "mkdocs.yml").write_text(config, encoding="utf-8")
    with pytest.raises(BuildError, match=r"missing\.md"):
        build(folder.root, out, AS_OF, project=project)
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".gongshi-")] == []


def test_disclosure_rules_page_is_generated_from_the_policy(built):
    from generator.disclosure import REGIMES

    out, _ = built
    soup = page(out, "guide/disclosure")
    table = soup.find("h2", id="penalty-periods").find_next("table")
    rows = [[td.get_text(" ", strip=True) for td in tr.find_all("td")] for tr in table.find("tbody").find_all("tr")]
    regime_rows = [r for r in rows if len(r) == 5]
    assert [r[1].split(" ")[0] for r in regime_rows] == [r.name for r in REGIMES]
    assert regime_rows[-1][2:] == ["不予公示", "最短 3 个月，最长 1 年", "最短 1 年，最长 3 年"]
    assert "10.0 万元" in soup.find("h2", id="severity").find_next("ul").get_text()


def test_quality_page_counts_publication_decisions(built):
    out, _ = built
    table = page(out, "data/quality").find("h2", id="decisions").find_next("table")
    cells = [[td.get_text(strip=True) for td in tr.find_all("td")] for tr in table.find("tbody").find_all("tr")]
    # the one valid penalty: decided 2024-03-05, 一般 under Order No. 58, shown until 2027-03-04
    assert cells == [["行政处罚", "在公示期内", "公示", "1"]]


def test_the_rendered_pages_are_moved_in_beside_what_the_build_wrote(tmp_path):
    """mkdocs renders into a folder of its own (it empties the folder it renders into) while the
    feeds are written; its files then join the site, folders merged, and a file both made is a
    fault, not overwritten."""
    rendered, site = tmp_path / "rendered", tmp_path / "site"
    (rendered / "feeds").mkdir(parents=True)
    (rendered / "index.html").write_text("home", encoding="utf-8")
    (rendered / "feeds" / "index.html").write_text("feeds page", encoding="utf-8")
    (site / "feeds").mkdir(parents=True)
    (site / "feeds" / "all.atom").write_text("feed", encoding="utf-8")
    move_into(rendered, site)
    assert sorted(p.relative_to(site).as_posix() for p in site.rglob("*") if p.is_file()) == [
        "feeds/all.atom", "feeds/index.html", "index.html"]
    assert not rendered.exists()
    (tmp_path / "again").mkdir()
    (tmp_path / "again" / "index.html").write_text("other", encoding="utf-8")
    with pytest.raises(BuildError, match="既由 mkdocs 生成又由生成器生成"):
        move_into(tmp_path / "again", site)
    assert (site / "index.html").read_text(encoding="utf-8") == "home"
