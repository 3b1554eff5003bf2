"""Checks of a built site before it is deployed (``gongshi check``).

Four checks, each reading the site as it will be served:

- **links**: every ``href``/``src`` of every HTML page that points into the site resolves to a
  file (``folder/`` means ``folder/index.html``), and every ``#fragment`` names an ``id`` of the
  page it points to. Links are relative (the site may be served under a sub-path); absolute paths
  (the 404 page) and absolute URLs under the site's own address (canonical links) are resolved
  against the address the build wrote into ``robots.txt``.
- **html**: a sample of pages parses as HTML without a single parse error (html5lib, the WHATWG
  parsing algorithm), has ``<html lang>``, a ``<title>``, exactly one ``<h1>`` and no duplicate
  ``id``. The sample is every hand-written page plus ``sample`` generated pages (subject pages and
  listings) chosen by a hash of their path: the same site gives the same sample.
- **feeds**: every ``feeds/**/*.atom`` and ``*.rss`` is well-formed XML (lxml) with the elements
  Atom (feed ``id``/``title``/``updated``, the same in every entry) or RSS 2.0 (``channel`` with
  ``title``/``link``/``description``, every item a ``title`` or ``description``) requires; every
  site-wide feed and a hash-chosen 1 in ``FEEDPARSER_SHARE`` subject feeds are also parsed with
  feedparser, as feed readers parse them, without ``bozo``. (feedparser takes ~1 ms a feed: on
  every one of a million-subject site's 700,000 feeds it would hold a deploy for minutes.)
- **data**: every ``datapackage.json`` under ``data/`` is a valid Data Package descriptor; the
  latest release is validated in full with frictionless (bytes, hashes, every row against its
  Table Schema) and its ``SHA256SUMS``; ``all_data`` validates every release in full.

A site of a million records has about 1.4 million files: the folder is walked once, lazily, and
the files are checked in batches by one process per core; no check holds the whole site in memory.
"""

from __future__ import annotations

import hashlib
import heapq
import html
import json
import multiprocessing
import os
import posixpath
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from urllib.parse import unquote, urlsplit

CHECKS = ("links", "html", "feeds", "data")
TITLES = {"links": "内部链接", "html": "网页结构", "feeds": "订阅源", "data": "开放数据"}
# generated pages: subject pages, listings and their index pages; everything else is rendered by
# MkDocs from site_src/ (and pages generated into it) and is always in the HTML sample
GENERATED = frozenset({"subjects", "datasets", "authorities", "regions", "months"})
BATCH = 400  # files per task: large enough to amortise a task, small enough to spread the work
KEPT = 50  # problems kept per task and per check (the count is always complete)

_LINK = re.compile(r'\s(?:href|src)="([^"]*)"')
_ID = re.compile(r'\sid="([^"]*)"')
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")


@dataclass
class CheckResult:
    """One check's counts and its first problems (``count`` counts them all)."""

    name: str
    files: int = 0
    items: int = 0  # links checked, resources validated in full
    count: int = 0
    problems: list[str] = field(default_factory=list)
    extra: Counter = field(default_factory=Counter)

    def add(self, other: TaskResult) -> None:
        self.files += other.files
        self.items += other.items
        self.count += other.count
        self.problems.extend(other.problems[: max(0, KEPT - len(self.problems))])
        self.extra.update(other.extra)

    def summary(self) -> str:
        n = self.extra
        found = f"发现 {self.count:,} 处问题。"
        if self.name == "links":
            return f"检查 {self.files:,} 个网页中的 {self.items:,} 个站内链接和锚点，{found}"
        if self.name == "html":
            return (f"抽查 {self.files:,} 个网页（手写页面 {n['handwritten']:,} 个全部检查，生成页面 {n['generated']:,} 个"
                    f"中按路径哈希抽取 {n['sampled']:,} 个）的 HTML，{found}")
        if self.name == "feeds":
            return (f"解析 {self.files:,} 个订阅源（全部检查 XML 结构，其中 {n['feedparser']:,} 个另用 feedparser "
                    f"按阅读器的方式解析），{found}")
        return (f"检查 {self.files:,} 个数据包的描述文件，完整校验其中 {n['full']:,} 个（{self.items:,} 个资源），{found}")


TaskResult = CheckResult  # a task returns the same shape for its share of the files


@dataclass
class Report:
    site: Path
    results: dict[str, CheckResult]

    @property
    def failed(self) -> bool:
        return any(r.count for r in self.results.values())

    def render(self, limit: int = 20) -> str:
        lines = [f"检查网站 {self.site}："]
        for name, result in self.results.items():
            lines.append(f"{TITLES[name]}：{result.summary()}")
            shown = result.problems if limit == 0 else result.problems[:limit]
            lines += [f"  {p}" for p in shown]
            if result.count > len(shown):
                lines.append(f"  ……另有 {result.count - len(shown):,} 处。")
        total = sum(r.count for r in self.results.values())
        lines.append(f"检查未通过：共 {total:,} 处问题。请修正后重新生成网站；修正前不会发布。" if total else "全部检查通过。")
        return "\n".join(lines) + "\n"


def run_checks(site: Path, checks: Iterable[str] = CHECKS, sample: int = 200, all_data: bool = False,
               workers: int | None = None) -> Report:
    """Run ``checks`` over the built site in ``site``. ``workers``: processes (default: one per
    core; 1 runs everything in this process)."""
    site = site.resolve()
    checks = [c for c in CHECKS if c in set(checks)]
    results = {name: CheckResult(name) for name in checks}
    base = site_base(site)
    workers = workers or os.cpu_count() or 1
    with _Runner(workers) as runner:
        for task in _tasks(site, base, checks, sample, all_data, results):
            runner.submit(task, results)
    for result in results.values():
        result.problems.sort()
    return Report(site, results)


def site_base(site: Path) -> str | None:
    """The site's own address, as the build wrote it into robots.txt (None if it did not)."""
    robots = site / "robots.txt"
    if robots.is_file():
        found = re.search(r"^Sitemap:\s*(\S+/)sitemap\.xml\s*$", robots.read_text(encoding="utf-8"), re.MULTILINE)
        if found:
            return found.group(1)
    return None


# ---------------------------------------------------------------------------------------------
# walking the site and handing out the work


def _tasks(site: Path, base: str | None, checks: list[str], sample: int, all_data: bool,
           results: dict[str, CheckResult]) -> Iterator[tuple]:
    root = str(site)
    links: list[str] = []
    feeds: list[str] = []
    handwritten: list[str] = []
    packages: list[str] = []
    sampled: list[tuple[bytes, str]] = []  # a max-heap (negated digests) of the lowest-hash pages
    generated = 0
    for rel in _walk(root):
        if rel.endswith(".html"):
            if "links" in checks:
                links.append(rel)
                if len(links) >= BATCH:
                    yield ("links", root, base, links)
                    links = []
            if "html" in checks:
                if rel.split("/", 1)[0] in GENERATED:
                    generated += 1
                    key = bytes(255 - b for b in hashlib.sha1(rel.encode()).digest())
                    if len(sampled) < sample:
                        heapq.heappush(sampled, (key, rel))
                    elif sample and key > sampled[0][0]:
                        heapq.heapreplace(sampled, (key, rel))
                else:
                    handwritten.append(rel)
        elif "feeds" in checks and rel.startswith("feeds/") and rel.endswith((".atom", ".rss")):
            feeds.append(rel)
            if len(feeds) >= BATCH:
                yield ("feeds", root, base, feeds)
                feeds = []
        elif "data" in checks and rel.startswith("data/") and rel.endswith("/datapackage.json"):
            packages.append(rel)
    if links:
        yield ("links", root, base, links)
    if feeds:
        yield ("feeds", root, base, feeds)
    if "html" in checks:
        pages = handwritten + sorted(rel for _, rel in sampled)
        results["html"].extra.update(handwritten=len(handwritten), generated=generated, sampled=len(sampled))
        for start in range(0, len(pages), BATCH // 8):
            yield ("html", root, base, pages[start:start + BATCH // 8])
    if "data" in checks:
        full = set(packages) if all_data else {_latest_package(site, packages)} - {None}
        results["data"].extra["full"] = len(full)
        for rel in sorted(packages):
            yield ("descriptor", root, base, [rel])
            if rel in full:
                for name in _resource_names(site / rel):
                    yield ("resource", root, base, [rel, name])
                yield ("sums", root, base, [rel])


def _walk(root: str, prefix: str = "") -> Iterator[str]:
    """Every file under ``root`` as a relative POSIX path, lazily; hidden files and folders (the
    build's state) are not part of the site."""
    with os.scandir(os.path.join(root, prefix)) as entries:
        children = sorted((e.name, e.is_dir()) for e in entries if not e.name.startswith("."))
    for name, is_dir in children:
        rel = prefix + name
        if is_dir:
            yield from _walk(root, rel + "/")
        else:
            yield rel


def _latest_package(site: Path, packages: list[str]) -> str | None:
    if "data/latest/datapackage.json" in packages:
        return "data/latest/datapackage.json"
    index = site / "data" / "releases" / "index.json"
    try:
        version = json.loads(index.read_text(encoding="utf-8"))["releases"][-1]["version"]
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return max(packages, default=None)
    return f"data/releases/{version}/datapackage.json"


def _resource_names(path: Path) -> list[str]:
    try:
        return [r["name"] for r in json.loads(path.read_text(encoding="utf-8"))["resources"]]
    except (OSError, ValueError, KeyError, TypeError):
        return []  # the descriptor check reports it


class _Runner:
    """Runs tasks in this process (one worker) or in a pool of spawned processes, with a bounded
    number of tasks in flight so that walking a huge site never queues it all up."""

    def __init__(self, workers: int):
        self.pool = None
        if workers > 1:
            # spawned, not forked: a worker needs only its paths, never the caller's memory
            self.pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
        self.limit = workers * 4
        self.pending: dict[Future, str] = {}

    def __enter__(self) -> _Runner:
        return self

    def submit(self, task: tuple, results: dict[str, CheckResult]) -> None:
        self.results = results
        if self.pool is None:
            self._collect(_KIND[task[0]], run_task(task))
            return
        while len(self.pending) >= self.limit:
            self._drain(FIRST_COMPLETED)
        self.pending[self.pool.submit(run_task, task)] = _KIND[task[0]]

    def _drain(self, when: str) -> None:
        done, _ = wait(list(self.pending), return_when=when)
        for future in done:
            self._collect(self.pending.pop(future), future.result())

    def _collect(self, name: str, result: TaskResult) -> None:
        self.results[name].add(result)

    def __exit__(self, *exc) -> None:
        try:
            if self.pending and exc[0] is None:
                self._drain("ALL_COMPLETED")
        finally:
            if self.pool is not None:
                self.pool.shutdown(cancel_futures=True)


_KIND = {"links": "links", "html": "html", "feeds": "feeds", "descriptor": "data", "resource": "data", "sums": "data"}


def run_task(task: tuple) -> TaskResult:
    kind, root, base, args = task
    return _TASKS[kind](Path(root), base, args)


# ---------------------------------------------------------------------------------------------
# links and anchors


def _check_links(site: Path, base: str | None, pages: list[str]) -> TaskResult:
    result = TaskResult("links")
    base_path = urlsplit(base).path if base else "/"
    for page in pages:
        text = _read(site / page)
        result.files += 1
        own_ids: set[str] | None = None
        for raw in _LINK.findall(text):
            href = html.unescape(raw)
            target, fragment, problem = _resolve(site, page, href, base, base_path)
            if target is None and problem is None:
                continue  # outside the site
            result.items += 1
            if problem is None and fragment:
                if target == page:
                    own_ids = own_ids if own_ids is not None else _ids_in(text)
                    known = fragment in own_ids
                else:
                    known = fragment in _ids_of(str(site), target)
                if not known:
                    where = "本页" if target == page else f" {target} "
                    problem = f"的锚点在{where}中找不到（没有 id=\"{fragment}\" 的元素）"
            if problem is not None:
                result.count += 1
                if len(result.problems) < KEPT:
                    result.problems.append(f"{page}：链接 {href} {problem}")
    return result


def _resolve(site: Path, page: str, href: str, base: str | None, base_path: str) -> tuple[str | None, str, str | None]:
    """(site-relative file, fragment, problem) for a link on ``page``; (None, "", None) when it
    leads out of the site."""
    if base and href.startswith(base):
        href = "/" + href[len(base):].lstrip("/") if base_path == "/" else base_path + href[len(base):]
    elif href.startswith("//") or _SCHEME.match(href):
        return None, "", None
    parts = urlsplit(href)
    fragment = unquote(parts.fragment)
    path = unquote(parts.path)
    if not path:
        return page, fragment, None  # this page (a fragment or a query only)
    if path.startswith("/"):
        if not path.startswith(base_path):
            return "", fragment, f"指向网站地址 {base_path} 之外"
        joined = path[len(base_path):]
    else:
        joined = posixpath.join(posixpath.dirname(page), path)
    normal = posixpath.normpath(joined) if joined else "."
    if normal == ".." or normal.startswith("../"):
        return "", fragment, "指向网站根目录之外"
    target = _file_for(str(site), "" if normal == "." else normal, path.endswith("/"))
    if target is None:
        return "", fragment, f"指向的 {normal if normal != '.' else ''}{'/' if path.endswith('/') else ''} 不存在"
    return target, fragment, None


@lru_cache(maxsize=200_000)
def _file_for(root: str, rel: str, folder: bool) -> str | None:
    """The file a request for ``rel`` is answered with: the file itself, or a folder's index.html."""
    if not folder and rel and os.path.isfile(os.path.join(root, rel)):
        return rel
    index = posixpath.join(rel, "index.html") if rel else "index.html"
    return index if os.path.isfile(os.path.join(root, index)) else None


@lru_cache(maxsize=4096)
def _ids_of(root: str, rel: str) -> frozenset[str]:
    if not rel.endswith(".html"):
        return frozenset()
    return frozenset(_ids_in(_read(Path(root) / rel)))


def _ids_in(text: str) -> set[str]:
    return {html.unescape(i) for i in _ID.findall(text)}


def _read(path: Path) -> str:
    return path.read_bytes().decode("utf-8", errors="replace")


# ---------------------------------------------------------------------------------------------
# HTML of the sampled pages


def _check_html(site: Path, base: str | None, pages: list[str]) -> TaskResult:
    import html5lib

    result = TaskResult("html")
    for page in pages:
        result.files += 1
        problems = _html_problems(html5lib, _read(site / page))
        result.count += len(problems)
        result.problems += [f"{page}：{p}" for p in problems][: max(0, KEPT - len(result.problems))]
    return result


def _html_problems(html5lib, text: str) -> list[str]:
    parser = html5lib.HTMLParser(namespaceHTMLElements=False)
    document = parser.parse(text)
    problems = []
    for (line, column), code, values in parser.errors:
        detail = ", ".join(f"{k}={v}" for k, v in sorted((values or {}).items()) if v is not None)
        problems.append(f"第 {line} 行第 {column} 列：HTML 解析错误 {code}" + (f"（{detail}）" if detail else ""))
    if not (document.get("lang") or "").strip():
        problems.append("<html> 没有 lang 属性")
    titles = [t for t in document.iter("title") if (t.text or "").strip()]
    if not titles:
        problems.append("没有 <title> 或标题为空")
    headings = sum(1 for _ in document.iter("h1"))
    if headings != 1:
        problems.append(f"有 {headings} 个 <h1>，应为 1 个")
    ids = Counter(e.get("id") for e in document.iter() if isinstance(e.tag, str) and e.get("id") is not None)
    problems += [f"id=\"{i}\" 重复 {n} 次" for i, n in sorted(ids.items()) if n > 1]
    return problems


# ---------------------------------------------------------------------------------------------
# feeds


FEEDPARSER_SHARE = 32  # subject feeds also parsed with feedparser: those whose path hash is 0 modulo this
_ATOM = "{http://www.w3.org/2005/Atom}"


def _check_feeds(site: Path, base: str | None, feeds: list[str]) -> TaskResult:
    import feedparser
    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    result = TaskResult("feeds")
    for rel in feeds:
        result.files += 1
        data = (site / rel).read_bytes()
        problem = _feed_structure(etree, parser, data, rel.endswith(".atom"))
        if problem is None and (not rel.startswith("feeds/subjects/")
                                or hashlib.sha1(rel.encode()).digest()[0] % FEEDPARSER_SHARE == 0):
            result.extra["feedparser"] += 1
            # no sanitising or URI resolution: they never set bozo, and cost half the time
            parsed = feedparser.parse(data, sanitize_html=False, resolve_relative_uris=False)
            if parsed.bozo:
                problem = f"feedparser 无法解析（{type(parsed.bozo_exception).__name__}：{parsed.bozo_exception}）"
            elif not parsed.version:
                problem = "feedparser 认不出是 Atom 还是 RSS"
        if problem:
            result.count += 1
            if len(result.problems) < KEPT:
                result.problems.append(f"{rel}：{problem}")
    return result


def _feed_structure(etree, parser, data: bytes, atom: bool) -> str | None:
    """What keeps the bytes from being the feed their extension says, or None."""
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        return f"不是格式正确的 XML（XMLSyntaxError：{exc}）"
    if root.tag == f"{_ATOM}feed":
        if not atom:
            return "扩展名与格式不符（Atom 订阅源用了 .rss）"
        missing = [f"<{n}>" for n in ("id", "title", "updated") if root.find(_ATOM + n) is None]
        entries = root.findall(_ATOM + "entry")
        bad = sum(1 for e in entries if any(e.find(_ATOM + n) is None for n in ("id", "title", "updated")))
    elif root.tag == "rss" and root.get("version") == "2.0" and root.find("channel") is not None:
        if atom:
            return "扩展名与格式不符（RSS 订阅源用了 .atom）"
        channel = root.find("channel")
        missing = [f"<{n}>" for n in ("title", "link", "description") if channel.find(n) is None]
        bad = sum(1 for i in channel.findall("item") if i.find("title") is None and i.find("description") is None)
    else:
        return "不是 Atom 或 RSS 2.0 订阅源"
    if missing:
        return f"缺少 {'、'.join(missing)}"
    if bad:
        return f"{bad} 个条目缺少必需的元素"
    return None


# ---------------------------------------------------------------------------------------------
# data packages


def _check_descriptor(site: Path, base: str | None, args: list[str]) -> TaskResult:
    (rel,) = args
    result = TaskResult("data", files=1)
    try:
        descriptor = json.loads((site / rel).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return _data_problems(result, [f"{rel}：不是有效的 JSON（{exc}）"])
    from frictionless import Package

    errors = list(Package.metadata_validate(descriptor))
    return _data_problems(result, [f"{rel}：描述文件无效：{e.message}" for e in errors])


def _check_resource(site: Path, base: str | None, args: list[str]) -> TaskResult:
    rel, name = args
    result = TaskResult("data", items=1)
    from frictionless import FrictionlessException

    try:
        resource = _package(str(site / rel)).get_resource(name)
        if resource.format == "parquet":
            return _data_problems(result, [f"{rel} 资源 {name}：{p}" for p in _parquet_problems(site / posixpath.dirname(rel),
                                                                                             resource.to_descriptor())])
        report = resource.validate()
    except FrictionlessException as exc:
        return _data_problems(result, [f"{rel} 资源 {name}：无法校验（{exc.error.message}）"])
    return _data_problems(result, [f"{rel} 资源 {name}：{_error_text(e)}" for task in report.tasks for e in task.errors])


def _package(path: str):
    """A data package read once per worker for its many resources (a release has one per
    dataset, month and format); read again when its descriptor file changed."""
    stat = os.stat(path)
    return _read_package(path, stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=4)
def _read_package(path: str, mtime_ns: int, size: int):
    from frictionless import Package

    return Package(path)


def _parquet_problems(folder: Path, descriptor: dict) -> list[str]:
    """frictionless reads Parquet through pandas one row at a time, re-reading every column per
    row (quadratic: minutes for a few thousand rows), so a Parquet resource is checked here: its
    size and SHA-256 (frictionless could not count them either), its columns against the Table
    Schema, and the schema's required and unique constraints."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    path = folder / descriptor["path"]
    checksum = descriptor.get("checksum") or {}
    if not path.is_file():
        return [f"文件 {descriptor['path']} 不存在"]
    problems = []
    if path.stat().st_size != checksum.get("bytes") or _sha256(path) != checksum.get("sha256"):
        problems.append("文件的大小或 SHA-256 与描述文件中的 checksum 不符")
    try:
        table = pq.read_table(path)
    except Exception as exc:  # any reader error: the file cannot be used
        return [*problems, f"无法读取 Parquet 文件（{exc}）"]
    schema = descriptor.get("schema", {})
    if isinstance(schema, str):  # a path in the package, as a release's resources give it
        try:
            schema = json.loads((folder / schema).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            return [*problems, f"无法读取表结构 {descriptor['schema']}（{exc}）"]
    fields = schema.get("fields", [])
    names = [f["name"] for f in fields]
    if table.column_names != names:
        return [*problems, f"列 {table.column_names} 与表结构的字段 {names} 不符"]
    for f in fields:
        column = table[f["name"]]
        constraints = f.get("constraints", {})
        if constraints.get("required") and column.null_count:
            problems.append(f"字段 {f['name']}：{column.null_count} 行为空（必填）")
        if constraints.get("unique") and pc.count_distinct(column).as_py() != len(column) - column.null_count:
            problems.append(f"字段 {f['name']}：有重复值（应唯一）")
    return problems


def _error_text(error) -> str:
    where = []
    if getattr(error, "row_number", None):
        where.append(f"第 {error.row_number} 行")
    if getattr(error, "field_name", None):
        where.append(f"字段 {error.field_name}")
    return (" ".join(where) + "：" if where else "") + f"{error.type}：{error.note or error.message}"


def _check_sums(site: Path, base: str | None, args: list[str]) -> TaskResult:
    (rel,) = args
    folder = site / posixpath.dirname(rel)
    sums = folder / "SHA256SUMS"
    result = TaskResult("data")
    if not sums.is_file():
        return _data_problems(result, [f"{posixpath.dirname(rel)}/SHA256SUMS 不存在"])
    problems = []
    for line in sums.read_text(encoding="utf-8").splitlines():
        digest, _, name = line.partition("  ")
        path = folder / name
        if not path.is_file():
            problems.append(f"{posixpath.dirname(rel)}/{name}：SHA256SUMS 列出的文件不存在")
        elif _sha256(path) != digest:
            problems.append(f"{posixpath.dirname(rel)}/{name}：SHA-256 与 SHA256SUMS 不符")
    return _data_problems(result, problems)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _data_problems(result: TaskResult, problems: list[str]) -> TaskResult:
    result.count += len(problems)
    result.problems += problems[:KEPT]
    return result


_TASKS = {"links": _check_links, "html": _check_html, "feeds": _check_feeds, "descriptor": _check_descriptor,
          "resource": _check_resource, "sums": _check_sums}
