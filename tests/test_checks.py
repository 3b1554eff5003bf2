"""`gongshi check`: the demo site passes every check, and a deliberately broken copy fails each
check with a message that names the file and what is wrong."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from generator.checks import KEPT, run_checks
from generator.cli import main
from generator.site import ROOT, build

from .conftest import AS_OF

GENERATED = ("subjects", "datasets", "authorities", "regions", "months")


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("checks") / "site"
    build(ROOT / "datasets", out, AS_OF)
    return out


@pytest.fixture
def copy(site, tmp_path) -> Path:
    """A copy of the demo site to break."""
    return Path(shutil.copytree(site, tmp_path / "site"))


def mini(site: Path, tmp_path: Path, *paths: str) -> Path:
    """A small site: the home page and some of the demo's files, for the slower checks."""
    out = tmp_path / "mini"
    for rel in ("index.html", *paths):
        target = out / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if (site / rel).is_dir() else shutil.copy)(site / rel, target)
    return out


def problems(report, name: str) -> list[str]:
    result = report.results[name]
    assert result.count == len(result.problems) or len(result.problems) == KEPT
    return result.problems


def test_the_demo_site_passes_every_check(site):
    result = CliRunner().invoke(main, ["check", str(site)])
    pages = [p.relative_to(site).as_posix() for p in site.rglob("*.html") if not p.relative_to(site).parts[0].startswith(".")]
    generated = [p for p in pages if p.split("/")[0] in GENERATED]
    feeds = [p.relative_to(site).as_posix() for p in (site / "feeds").rglob("*") if p.suffix in (".atom", ".rss")]
    parsed = sum(1 for p in feeds if not p.startswith("feeds/subjects/") or hashlib.sha1(p.encode()).digest()[0] % 32 == 0)
    assert len(feeds) > 2 * parsed  # the subject feeds sampled, the others all
    resources = len(json.loads((site / "data" / "latest" / "datapackage.json").read_text(encoding="utf-8"))["resources"])
    assert resources > 100  # a dataset, month and format each
    lines = result.output.splitlines()
    assert lines[0] == f"检查网站 {site}："
    assert re.fullmatch(rf"内部链接：检查 {len(pages):,} 个网页中的 [\d,]+ 个站内链接和锚点，发现 0 处问题。", lines[1]), lines[1]
    assert int(lines[1].split("中的 ")[1].split(" ")[0].replace(",", "")) > 20_000
    assert lines[2:] == [
        f"网页结构：抽查 {len(pages) - len(generated) + 200:,} 个网页（手写页面 {len(pages) - len(generated):,} 个全部检查，"
        f"生成页面 {len(generated):,} 个中按路径哈希抽取 200 个）的 HTML，发现 0 处问题。",
        f"订阅源：解析 {len(feeds):,} 个订阅源（全部检查 XML 结构，其中 {parsed:,} 个另用 feedparser 按阅读器的方式解析），发现 0 处问题。",
        f"开放数据：检查 2 个数据包的描述文件，完整校验其中 1 个（{resources:,} 个资源），发现 0 处问题。",
        "全部检查通过。",
    ]
    assert result.exit_code == 0


def test_a_dangling_link_fails(copy):
    about = copy / "about" / "index.html"
    about.write_text(about.read_text(encoding="utf-8").replace("</article>", '<a href="../nowhere/">x</a><img src="../x.png"></article>'),
                     encoding="utf-8")
    report = run_checks(copy, ["links"], workers=1)
    assert [p for p in problems(report, "links") if p.startswith("about/")] == ["about/index.html：链接 ../nowhere/ 指向的 nowhere/ 不存在",
                                         "about/index.html：链接 ../x.png 指向的 x.png 不存在"]
    assert report.failed


def test_a_broken_anchor_fails(copy):
    listing = copy / "datasets" / "penalties" / "index.html"
    text = listing.read_text(encoding="utf-8")
    href = re.search(r'href="(\.\./\.\./subjects/[^"#]+/)#(r-[0-9a-f]{20})"', text)
    listing.write_text(text.replace(href.group(0), f'href="{href.group(1)}#r-00000000000000000000"', 1), encoding="utf-8")
    own = copy / "guide" / "rules" / "index.html"
    own.write_text(own.read_text(encoding="utf-8").replace("</article>", '<a href="#nothing-here">x</a></article>'), encoding="utf-8")
    report = run_checks(copy, ["links"], workers=1)
    target = href.group(1).removeprefix("../../") + "index.html"
    assert [p for p in problems(report, "links") if p.startswith(("datasets/penalties/index.html", "guide/rules/"))] == [
        f'datasets/penalties/index.html：链接 {href.group(1)}#r-00000000000000000000 的锚点在 {target} 中找不到（没有 id="r-00000000000000000000" 的元素）',
        'guide/rules/index.html：链接 #nothing-here 的锚点在本页中找不到（没有 id="nothing-here" 的元素）',
    ]


def test_invalid_html_fails(copy):
    page = copy / "about" / "index.html"
    text = page.read_text(encoding="utf-8").replace('<html lang="zh"', "<html", 1)
    text = text.replace("</article>", '<h1 id="dup">又一个</h1><p id="dup">x</span></p></article>', 1)
    page.write_text(text, encoding="utf-8")
    report = run_checks(copy, ["html"], sample=0, workers=1)
    found = problems(report, "html")
    assert [re.sub(r"第 \d+ 行第 \d+ 列", "第 L 行第 C 列", p) for p in found] == [
        "about/index.html：<html> 没有 lang 属性",
        "about/index.html：id=\"dup\" 重复 2 次",
        "about/index.html：有 2 个 <h1>，应为 1 个",
        "about/index.html：第 L 行第 C 列：HTML 解析错误 unexpected-end-tag（name=span）",
    ]
    assert report.results["html"].files == len([p for p in copy.rglob("*.html") if p.relative_to(copy).parts[0] not in GENERATED])


def test_an_unparsable_feed_fails(site, tmp_path):
    out = mini(site, tmp_path, "feeds/all.atom", "feeds/all.rss", "feeds/datasets")
    (out / "feeds" / "all.atom").write_bytes((site / "feeds" / "all.atom").read_bytes()[:-200])
    (out / "feeds" / "all.rss").write_text('<?xml version="1.0"?><html/>', encoding="utf-8")
    report = run_checks(out, ["feeds"], workers=1)
    assert report.results["feeds"].files == 2 + len(list((site / "feeds" / "datasets").iterdir()))
    assert [p.split("（")[0] for p in problems(report, "feeds")] == ["feeds/all.atom：不是格式正确的 XML", "feeds/all.rss：不是 Atom 或 RSS 2.0 订阅源"]
    assert "XMLSyntaxError" in problems(report, "feeds")[0]


@pytest.mark.parametrize(("name", "edit", "problem"), [
    ("all.atom", lambda t: re.sub(r"<updated>[^<]*</updated>", "", t, count=1), "缺少 <updated>"),
    ("all.atom", lambda t: t.replace("<entry>\n    <id>", "<entry>\n    <x>", 1).replace("</id>\n    <title>", "</x>\n    <title>", 1),
     "1 个条目缺少必需的元素"),
    ("all.rss", lambda t: re.sub(r"<description>[^<]*</description>", "", t, count=1), "缺少 <description>"),
    ("all.rss", lambda t: t.replace("<rss", "<feed", 1).replace("</rss>", "</feed>"), "不是 Atom 或 RSS 2.0 订阅源"),
])
def test_a_feed_missing_required_elements_fails(site, tmp_path, name, edit, problem):
    out = mini(site, tmp_path, f"feeds/{name}")
    path = out / "feeds" / name
    path.write_text(edit(path.read_text(encoding="utf-8")), encoding="utf-8")
    report = run_checks(out, ["feeds"], workers=1)
    assert problems(report, "feeds") == [f"feeds/{name}：{problem}"]


def test_a_data_file_with_a_wrong_hash_fails(site, tmp_path):
    out = mini(site, tmp_path, "data")
    latest = out / "data" / "latest"
    csv = next(p for p in sorted((latest / "penalties").glob("*.csv")) if "罚款".encode() in p.read_bytes())
    csv.write_bytes(csv.read_bytes().replace("罚款".encode(), "警告".encode(), 1))  # same size, other bytes
    parquet = sorted((latest / "redlist").glob("*.parquet"))[0]
    parquet.write_bytes(parquet.read_bytes() + b"\0")
    report = run_checks(out, ["data"], workers=2)
    assert [re.sub(r'"[0-9a-f]{64}"', '"…"', p).split("（Could not open")[0] for p in problems(report, "data")] == [
        f'data/latest/datapackage.json 资源 penalties-{csv.stem}-csv：hash-count：expected is "…" and actual is "…"',
        f"data/latest/datapackage.json 资源 redlist-{parquet.stem}-parquet：文件的大小或 SHA-256 与描述文件中的 checksum 不符",
        f"data/latest/datapackage.json 资源 redlist-{parquet.stem}-parquet：无法读取 Parquet 文件",
        f"data/latest/penalties/{csv.name}：SHA-256 与 SHA256SUMS 不符",
        f"data/latest/redlist/{parquet.name}：SHA-256 与 SHA256SUMS 不符",
    ]
    resources = json.loads((latest / "datapackage.json").read_text(encoding="utf-8"))["resources"]
    assert report.results["data"].files == 2 and report.results["data"].items == len(resources)


def test_a_data_package_with_a_bad_row_fails(site, tmp_path):
    """A duplicated record, with the descriptor's size and hash updated: only the row is wrong."""
    out = mini(site, tmp_path, "data")
    latest = out / "data" / "latest"
    csv = max((latest / "blacklist").glob("*.csv"), key=lambda p: p.stat().st_size)
    lines = csv.read_bytes().splitlines(keepends=True)
    data = b"".join([*lines, lines[1]])
    csv.write_bytes(data)
    package = json.loads((latest / "datapackage.json").read_text(encoding="utf-8"))
    resource = next(r for r in package["resources"] if r["name"] == f"blacklist-{csv.stem}-csv")
    resource.update(bytes=len(data), hash="sha256:" + hashlib.sha256(data).hexdigest())
    (latest / "datapackage.json").write_text(json.dumps(package, ensure_ascii=False), encoding="utf-8")
    report = run_checks(out, ["data"], sample=0, workers=2)
    found = problems(report, "data")
    assert [p.split("：")[0] + "：" + p.split("：")[1] + "：" + p.split("：")[2] for p in found if "资源" in p] == [
        f"data/latest/datapackage.json 资源 blacklist-{csv.stem}-csv：第 {len(lines) + 1} 行 字段 record_id：unique-error",
        f"data/latest/datapackage.json 资源 blacklist-{csv.stem}-csv：第 {len(lines) + 1} 行：primary-key",
    ]
    assert f"data/latest/blacklist/{csv.name}：SHA-256 与 SHA256SUMS 不符" in found


def test_the_command_exits_1_on_failure_and_2_without_a_site(tmp_path):
    out = tmp_path / "mini"
    out.mkdir()
    (out / "index.html").write_text('<!DOCTYPE html><html lang="zh"><head><title>公示</title></head><body><h1>公示</h1>'
                                    '<a href="gone/">x</a><a href="#top" id="top">y</a></body></html>', encoding="utf-8")
    result = CliRunner().invoke(main, ["check", str(out)])
    assert result.output.splitlines() == [
        f"检查网站 {out}：",
        "内部链接：检查 1 个网页中的 2 个站内链接和锚点，发现 1 处问题。",
        "  index.html：链接 gone/ 指向的 gone/ 不存在",
        "网页结构：抽查 1 个网页（手写页面 1 个全部检查，生成页面 0 个中按路径哈希抽取 0 个）的 HTML，发现 0 处问题。",
        "订阅源：解析 0 个订阅源（全部检查 XML 结构，其中 0 个另用 feedparser 按阅读器的方式解析），发现 0 处问题。",
        "开放数据：检查 0 个数据包的描述文件，完整校验其中 0 个（0 个资源），发现 0 处问题。",
        "检查未通过：共 1 处问题。请修正后重新生成网站；修正前不会发布。",
    ]
    assert result.exit_code == 1
    empty = tmp_path / "empty"
    empty.mkdir()
    result = CliRunner().invoke(main, ["check", str(empty)])
    assert result.exit_code == 2
    assert result.output == f"错误：{empty} 中没有 index.html，不是生成的网站。请先运行 gongshi build。\n"
