"""Build the website: gather and check everything, render, then swap the new site in whole.

``build()`` reads like its table of contents. What is written comes from the intake (validated
records) and the schemas; nothing is written until everything has been gathered, and the new
site replaces the old one only when it is complete, so a failed build leaves the last good site.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from resource import RUSAGE_CHILDREN, RUSAGE_SELF, getrusage
from time import perf_counter

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import yaml
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from .clock import CHINA
from .disclosure import REASONS, Decisions, Policy
from .disclosure.kept import decide_kept
from .disclosure.policy import POLICY_FILE, SEVERITIES, load_policy
from .errors import BuildError, ConfigError
from .incremental import (
    State,
    Units,
    commit,
    fingerprint,
    journal_open,
    kept_shell,
    leftovers,
    record_digests,
    recover,
    release_writer,
    save_record_digests,
    save_release_writer,
    save_search_inputs,
    save_shell,
    search_inputs,
    site_files,
    staging_prefix,
    swap,
)
from .intake import Intake, run_intake
from .outputs.disclosures import DatasetRecords, Disclosures, gather
from .outputs.feeds import FeedPlan, alternate_head, document_digests, feeds_page_context, plan_feeds, site_feed_digests, write_feeds
from .outputs.listings import KINDS, ListingPlan, ListingsResult, plan_listings, write_listings
from .outputs.opendata import (
    FORMATS,
    KeptRecords,
    OpenData,
    Shards,
    build_open_data,
    catalog,
    keep_records,
    link_or_copy,
    month_files,
    newest_release_tables,
    published_table,
    schema_org,
    shard_path,
)
from .outputs.render import Beside, Step, Writer, environment
from .outputs.search import inputs_digest, search_tables, write_search_index
from .outputs.shell import SHELL_PAGE, Shell, source_page, take_page
from .outputs.sitemaps import write_sitemaps
from .outputs.statistics import home_context, statistics_context
from .outputs.subject_pages import SubjectIndex, SubjectPagesResult, subject_digests, subject_index, write_subject_pages
from .regions import region
from .report import to_json
from .scan import Finding, KnownNumbers, scan, scan_values
from .schema import Dataset, datasets, load_dataset
from .subjects import page_ids
from .threads import Soon, side_by_side, together

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class GeneratedPages:
    subjects: SubjectPagesResult
    listings: ListingsResult


@dataclass
class Work:
    """What an incremental build re-renders (a mask per kind of unit; None: everything) and,
    once written, what it deleted."""

    incremental: bool
    masks: dict[str, np.ndarray | None]
    moved: int = 0
    deleted: int = 0

    def changed(self, kind: str) -> int:
        mask = self.masks.get(kind)
        return -1 if mask is None else int(mask.sum())

    def _count(self, kind: str) -> str:
        changed = self.changed(kind)
        return "全部" if changed < 0 else f"{changed} 个"

    def describe(self) -> str:
        if not self.incremental:
            return "完整构建。"
        return (f"增量构建：重写主体页面 {self._count('subjects')}、列表页 {self._count('listings')}、"
                f"主体订阅源 {self._count('subject-feeds')}、其他订阅源和存档页 {self._count('feeds')}，"
                f"共更新 {self.moved} 个文件，删除 {self.deleted} 个。")


@dataclass
class BuildResult:
    out: Path
    intake: Intake
    decisions: dict[str, Decisions]
    open_data: OpenData
    pages: GeneratedPages
    phases: Phases
    work: Work

    def describe(self) -> str:
        i = self.intake
        shown = sum(int(d.table["_published"].to_numpy(zero_copy_only=False).sum()) for d in self.decisions.values())
        return (f"已生成网站 {self.out}（数据日期 {i.as_of.isoformat()}）：读取 {i.read} 行，"
                f"通过校验 {i.published} 行，暂不发布 {i.withheld} 行；按公示规则当前公示 {shown} 条。"
                + (f"开放数据新版本 {self.open_data.releases[-1].version}。" if self.open_data.made_release
                   else f"开放数据无变化，最新版本仍为 {self.open_data.releases[-1].version}。")
                + self.work.describe() + "运行 gongshi validate 查看校验详情。")


def build(datasets_dir: Path, out: Path, as_of: date, project: Path = ROOT, previous: Path | None = None,
          full: bool = False) -> BuildResult:
    """Validate the datasets and build the site into ``out``. Earlier data releases are read
    from ``previous`` (a folder holding the last published site; default: ``out`` itself). When
    ``out`` holds a site built by the same code and settings, only what changed is re-rendered
    (``full`` forces a whole build); either way the result is the same, byte for byte."""
    config = project / "mkdocs.yml"
    if not config.is_file():
        raise ConfigError(f"找不到 {config}。请在 Gongshi 仓库根目录运行，或用 --project 指定。")
    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    recover(out)  # a build that died while putting its changes in place is finished first
    leftovers(out)
    phases = Phases()
    intake = run_intake(datasets_dir, as_of, cache_dir=intake_cache(out))
    phases.done("intake (read, validate)")
    previous_data = (previous or out) / "data"
    newest = Soon(lambda: newest_release_tables(previous_data, list(intake.records),  # read while the records are decided
                                                KeptRecords(history_cache(out))))
    policy = load_policy(project / POLICY_FILE)
    decisions, published = decide_and_publish(intake, policy, decisions_cache(out))
    phases.done("publication decisions")
    site = site_settings(config)
    shaping = fingerprint(project, {"policy": (project / POLICY_FILE).read_text(encoding="utf-8")
                                    if (project / POLICY_FILE).is_file() else ""})
    before = None if full or (previous is not None and previous.resolve() != out) else State.load(out)
    if before is not None and before.fingerprint != shaping:
        before = None  # the code, templates or settings changed: every page may differ
    work = Path(tempfile.mkdtemp(prefix=staging_prefix(out), dir=out.parent))
    beside = Beside()  # steps run in another process while the build goes on
    try:
        docs = work / "docs"
        staged = work / "site"
        data = work / "data"
        newest_release = newest.result()  # before any process is forked beside
        known = KnownNumbers.of(known_id_numbers(intake))  # made ready once, for every scan
        # the longest step beside, first: from the published records, while they are gathered here
        search = beside.start(write_search, work / SEARCH_INDEX, {name: d.dataset for name, d in decisions.items()},
                              published, known, *((out / SEARCH_INDEX, search_inputs(out)) if before is not None else ()))
        disclosures = gather(decisions, published)
        phases.done("records for the pages")
        pages_plan = Soon(functools.partial(plan_pages, disclosures))  # while the release's files are written
        open_data = build_open_data(decisions, intake.provenance, as_of, previous_data if previous_data.is_dir() else None,
                                    data, site["name"], published, link_earlier=before is not None,
                                    written_by=release_writer(out) if previous is None or previous.resolve() == out else None,
                                    records_cache=history_cache(out), newest=newest_release)
        index, listings = pages_plan.result()  # before any process is forked beside
        write_catalog(data, open_data, site)
        release_scan = beside.start(finish_release, data, open_data, known, history_cache(out), published)
        if before is not None:
            take_known_digests(disclosures, open_data, record_digests(out))
        phases.done("open data")
        feeds = plan_feeds(decisions, data, as_of, site, region_name, site["url"],
                           published={name: records.table for name, records in disclosures.by_dataset.items()},
                           record_digests=disclosures.digests_of, history_cache=history_cache(out))
        phases.done("feeds (plan)")
        rendered = work / "rendered"  # mkdocs empties the folder it renders into: its own, moved in when done
        hand_written = beside.start(hand_written_pages, project, config, docs, rendered, as_of, intake, decisions, policy,
                                    open_data, disclosures, feeds, site)
        units, feed_families = plan_units(disclosures, feeds, index, listings)
        todo = Work(before is not None, {kind: u.changed(before.units.get(kind)) if before else None for kind, u in units.items()})
        phases.done("what changed")
        write_feeds(feeds, staged, feed_masks(todo, feed_families) if todo.incremental else None)
        answer_theme_sitemap_probes(staged)
        del feeds  # written: its memory goes before the pages are written
        phases.done("feeds (write)")
        # the generated pages are written inside the theme's page (its shell), which mkdocs renders;
        # it is the same while the code and settings are, so an incremental build takes the last
        # build's and does not wait, then checks it against the one rendered now
        kept = kept_shell(out) if todo.incremental else None
        kept = kept if kept is not None and Shell.usable(kept) else None  # a damaged one: wait for mkdocs
        shell = kept if kept is not None else take_hand_written(hand_written, rendered, staged, phases)
        pages = write_generated_pages(project, staged, shell, disclosures, index, listings, site, todo, phases)
        if kept is not None:
            shell = take_hand_written(hand_written, rendered, staged, phases)
            if shell != kept:  # the theme's page changed though the code and settings did not: every page again
                todo.masks.update(subjects=None, listings=None)
                pages = write_generated_pages(project, staged, shell, disclosures, index, listings, site, todo, phases)
        write_stamp(staged, as_of, open_data.releases[-1].version)
        write_sitemaps(staged, site["url"], sitemap_entries(docs, pages, as_of))
        phases.done("sitemaps")
        shutil.copytree(data, staged / "data", dirs_exist_ok=True, ignore=_linked, copy_function=link_or_copy)
        phases.done("copy data")
        digests = {name: disclosures.digests_of(name) for name in disclosures.by_dataset}
        del disclosures, published  # what the pages needed; the scan needs none of it
        found = scan_site(staged, known, open_data)  # while the steps beside finish
        phases.done("privacy scan")
        found_in_search, search_made_from = search.wait()
        found += release_scan.wait() + found_in_search
        (work / SEARCH_INDEX).rename(staged / SEARCH_INDEX)
        phases.done("search index, release scan (beside the above)")
        phases.beside_done("search index", search)
        phases.beside_done("release scan, kept records", release_scan)
        refuse_private(found)
        after = State(shaping, units, site_files(staged, unit_folders(open_data)))
        after.save(staged)
        save_release_writer(staged, open_data.written_by)
        save_search_inputs(staged, search_made_from)
        save_shell(staged, shell)
        save_record_digests(staged, open_data.releases[-1].version, digests)
        if todo.incremental:
            todo.moved, todo.deleted = commit(staged, out, deletions(before, after), whole=(SEARCH_INDEX,))
        else:
            swap(staged, out)
        phases.done("put in place")
    finally:
        beside.stop()
        if not journal_open(out):  # else the next build finishes putting this one in place
            shutil.rmtree(work, ignore_errors=True)
    return BuildResult(out, intake, decisions, open_data, pages, phases, todo)


def decide_and_publish(intake: Intake, policy: Policy, kept: Path | None = None
                       ) -> tuple[dict[str, Decisions], dict[str, pa.Table]]:
    """Every dataset's publication decisions and its published records (:func:`published_table`),
    the datasets side by side, the largest first; ``kept``: the folder where the decisions are
    kept between builds (see :mod:`.disclosure.kept`)."""
    def decided(dataset: Dataset) -> tuple[Decisions, pa.Table]:
        decisions = decide_kept(dataset, intake.records[dataset.name], intake.record_runs.get(dataset.name), intake.as_of,
                                policy, kept)
        return decisions, published_table(decisions)

    largest_first = sorted(datasets(), key=lambda d: -intake.records[d.name].num_rows)
    done = {d.name: result for d, result in zip(largest_first, side_by_side(decided, largest_first), strict=True)}
    return ({d.name: done[d.name][0] for d in datasets()}, {d.name: done[d.name][1] for d in datasets()})


def take_known_digests(disclosures: Disclosures, open_data: OpenData, saved: tuple[str, dict[str, np.ndarray]] | None) -> None:
    """The last build's record digests, for the records whose values are as they were in the
    release it left (the one this build's release was compared with)."""
    if saved is not None and open_data.compared_with and saved[0] == open_data.compared_with:
        disclosures.known_digests(open_data.unchanged, saved[1])


def history_cache(out: Path) -> Path:
    """Where the releases' change files are kept as rows between builds (``.<site>.release-history``
    beside the site): each is read once."""
    return out.with_name(f".{out.name}.release-history")


def decisions_cache(out: Path) -> Path:
    """Where the publication decisions are kept between builds (``.<site>.decisions`` beside the
    site): a record's decision is made once per build date, policy and code."""
    return out.with_name(f".{out.name}.decisions")


def intake_cache(out: Path) -> Path:
    """Where each input file's checked result is kept between builds (``.<site>.intake-cache``
    beside the site, never inside it: it holds input values, personal data included)."""
    return out.with_name(f".{out.name}.intake-cache")


UNIT_FOLDERS = ("subjects", "api/subjects", "feeds/subjects", "feeds/datasets", "feeds/authorities", "feeds/regions",
                "feeds/all", *(KINDS[k][1] for k in KINDS))


def unit_folders(open_data: OpenData) -> set[str]:
    """Folders whose files are units (or immutable releases), not regenerated by every build."""
    return {*UNIT_FOLDERS, *(f"data/releases/{r.version}" for r in open_data.releases)}


def plan_pages(disclosures: Disclosures) -> tuple[SubjectIndex, ListingPlan]:
    """The subject index and the listing plan, side by side: they need only the records."""
    index, listings = together(lambda: subject_index(disclosures), lambda: plan_listings(disclosures, region_name))
    return index, listings


def plan_units(disclosures: Disclosures, feeds: FeedPlan, index: SubjectIndex, listings: ListingPlan
               ) -> tuple[dict[str, Units], list[tuple[str, int]]]:
    """Every subject page (``index``), listing page (``listings``), subject feed and other feed
    or archive page, each with a digest of its inputs; and the feed families the last kind spans
    (label, documents)."""
    disclosures.record_digests, feeds.event_digests  # noqa: B018  (made once, before the tasks that share them)
    (keys, digests), (feed_keys, feed_digests, families) = together(
        lambda: document_digests(feeds, "subject"), lambda: site_feed_digests(feeds))
    units = {
        "subjects": Units(pa.array(index.ids, pa.string()), subject_digests(disclosures, index)),
        "listings": Units(pa.array(listings.paths(), pa.string()),
                          listings.digests(disclosures.record_digests[disclosures.listing_records])),
        "subject-feeds": Units(pa.array(keys, pa.string()), digests),
        "feeds": Units(pa.array(feed_keys, pa.string()), feed_digests),
    }
    return units, families


def feed_masks(todo: Work, families: list[tuple[str, int]]) -> dict[str, np.ndarray]:
    """Which documents of each feed family to write."""
    masks = {"subject": todo.masks["subject-feeds"]}
    ends = np.cumsum([n for _, n in families], dtype=np.int64)
    for (label, n), end in zip(families, ends.tolist(), strict=True):
        masks[label] = todo.masks["feeds"][end - n:end]
    return masks


UNIT_FILES = {
    "subjects": lambda k: (f"subjects/{k}/index.html", f"api/subjects/{k}.json"),
    "listings": lambda k: (f"{k}index.html",),
    "subject-feeds": lambda k: (f"feeds/subjects/{k}.atom", f"feeds/subjects/{k}.rss"),
    "feeds": lambda k: (f"{k}.atom", f"{k}.rss"),  # an archive page has no RSS: nothing to delete there
}


def deletions(before: State, after: State) -> list[str]:
    """Files of the last build that this one no longer has."""
    gone = [path for kind, units in after.units.items() for key in units.gone(before.units.get(kind))
            for path in UNIT_FILES[kind](key)]
    return gone + sorted(set(before.regenerated) - set(after.regenerated))


def move_into(source: Path, target: Path) -> None:
    """Move every file under ``source`` to the same place under ``target``, folders merged. The
    two hold different files: one both hold is a fault of the build, raised, not overwritten."""
    target.mkdir(parents=True, exist_ok=True)
    with os.scandir(source) as entries:
        for entry in sorted(entries, key=lambda e: e.name):
            destination = target / entry.name
            if entry.is_dir(follow_symlinks=False) and destination.is_dir():
                move_into(Path(entry.path), destination)
            elif destination.exists():
                raise BuildError(f"生成的网站中 {destination} 既由 mkdocs 生成又由生成器生成；请改名其中之一。")
            else:
                os.rename(entry.path, destination)
    source.rmdir()


def _linked(folder: str, names: list[str]) -> list[str]:
    """Earlier releases an incremental build linked instead of copying: they stay where they are."""
    return [n for n in names if os.path.islink(os.path.join(folder, n))]


def write_stamp(site: Path, as_of: date, version: str) -> None:
    """The data date and version shown (and printed) on every subject page come from one small
    stylesheet, so a new build date does not rewrite every page."""
    text = f"数据日期 {as_of.isoformat()} · 数据版本 {version}".replace("\\", "").replace('"', "")
    folder = site / "assets"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "stamp.css").write_text(f'.gs-stamp::before {{ content: "{text}"; }}\n', encoding="utf-8")


class Phases:
    """Seconds spent in each step of the build, the CPU seconds the build process (all its
    threads, not the processes it starts) spent in it, and the peak memory so far; and the user
    and system CPU seconds of each step that ran beside the build in a process of its own
    (``gongshi build --timings``)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self.peak_mib: dict[str, int] = {}
        self.beside: dict[str, tuple[float, float]] = {}
        self._started = perf_counter()
        self._cpu_started = _cpu_seconds()

    def done(self, name: str) -> None:
        now, cpu = perf_counter(), _cpu_seconds()
        self.seconds[name] = now - self._started
        self.cpu[name] = cpu - self._cpu_started
        self.peak_mib[name] = max(getrusage(RUSAGE_SELF).ru_maxrss, getrusage(RUSAGE_CHILDREN).ru_maxrss) // 1024
        self._started, self._cpu_started = now, cpu

    def beside_done(self, name: str, step: Step) -> None:
        """A step beside has ended: its process's CPU (none when it ran in the build process)."""
        if step.cpu is not None:
            self.beside[name] = step.cpu


def _cpu_seconds() -> float:
    usage = getrusage(RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def take_hand_written(step: Step, rendered: Path, staged: Path, phases: Phases) -> str:
    """Wait for the hand-written pages (:func:`hand_written_pages`), put them in the site, and take
    the theme's shell page out of it: its HTML."""
    step.wait()
    move_into(rendered, staged)
    phases.done("hand-written pages (mkdocs, beside the above)")
    phases.beside_done("hand-written pages (mkdocs)", step)
    return take_page(staged)


def write_generated_pages(project: Path, staged: Path, shell: str, disclosures: Disclosures, index: SubjectIndex,
                          listings: ListingPlan, site: dict, todo: Work, phases: Phases) -> GeneratedPages:
    """Subject pages, their JSON and the listings (all, or the changed ones), inside the theme's
    shell (``shell``: the rendered shell page)."""
    writer = Writer(staged, Shell.from_page(shell, staged, site["url"]), site["url"], alternate_head)
    env = environment(project / "templates")
    subjects = write_subject_pages(disclosures, writer, env, region_name, index, todo.masks.get("subjects"))
    phases.done("subject pages")
    written = write_listings(listings, writer, env, todo.masks.get("listings"))
    phases.done("listings")
    return GeneratedPages(subjects, written)


def write_search(folder: Path, dataset_of: dict[str, Dataset], published: dict[str, pa.Table], known: KnownNumbers,
                 previous: Path | None = None, previous_inputs: str | None = None) -> tuple[list[Finding], str]:
    """The search index of every published subject and document number (``published``: each
    dataset's :func:`published_table`), and what it holds that must not be published (see
    :func:`refuse_private`), named by its place in the site: scanned here, beside the build, not
    with the pages; and the digest of its inputs. In an incremental
    build, files the site's index (``previous``) holds byte for byte are linked, not written,
    and not scanned again: as an unchanged page is not. When the inputs are those the site's
    index was made from (``previous_inputs``), that index is linked whole and nothing is made."""
    subjects, documents = search_tables(SearchRecords({name: DatasetRecords(dataset_of[name], table.append_column(
        "page_id", page_ids(table))) for name, table in published.items()}))
    inputs = inputs_digest(subjects, documents)
    if previous is not None and inputs == previous_inputs and (previous / "meta.json").is_file():
        shutil.copytree(previous, folder, copy_function=link_or_copy)
        return [], inputs
    linked = write_search_index(folder, subjects, documents, previous=previous)["linked"]
    return [Finding(f"{SEARCH_INDEX}/{f.file}", f.kind, f.value) for f in scan(folder, known, leave_out=linked)], inputs


SEARCH_INDEX = "searchindex"


@dataclass
class SearchRecords:
    """What :func:`search_tables` reads of :class:`Disclosures`: each dataset's published records
    with their subjects' page ids."""

    by_dataset: dict[str, DatasetRecords]


def answer_theme_sitemap_probes(site: Path) -> None:
    """The theme's script fetches ``sitemap.xml`` beside every ``<link rel="alternate">`` target
    (it looks for translations of the page); our alternates are feeds, so each feed folder gets
    an empty sitemap instead of a 404 on every page view."""
    empty = '<?xml version="1.0" encoding="UTF-8"?>\n<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"></urlset>\n'
    for folder in ("", "datasets", "authorities", "regions", "subjects"):
        if (site / "feeds" / folder).is_dir():
            (site / "feeds" / folder / "sitemap.xml").write_text(empty, encoding="utf-8")


def region_name(code: str) -> str:
    found = region(code)
    return found.full_name if found else f"行政区划 {code}"


def sitemap_entries(docs: Path, pages: GeneratedPages, as_of: date) -> list[tuple[Sequence[str] | pa.Array, Sequence[str] | pa.Array]]:
    """Every page of the site with the day it last changed, as (paths, days) blocks: the build
    date for the hand-written pages, the newest record's date for subject pages and listings."""
    today = as_of.isoformat()
    hand_written = []
    for md in sorted(docs.rglob("*.md")):
        path = md.relative_to(docs).with_suffix("").as_posix()
        if not path.startswith("_"):
            hand_written.append("" if path == "index" else (path[:-len("/index")] if path.endswith("/index") else path) + "/")
    indexes = [KINDS[kind][1] + "/" for kind in pages.listings.groups if kind != "dataset"]
    listing_paths, listing_days = zip(*pages.listings.lastmod, strict=True) if pages.listings.lastmod else ((), ())
    return [(hand_written, [today] * len(hand_written)), pages.subjects.lastmod, (listing_paths, listing_days),
            (indexes, [today] * len(indexes))]


def hand_written_pages(project: Path, config: Path, docs: Path, rendered: Path, as_of: date, intake: Intake,
                       decisions: dict[str, Decisions], policy: Policy, open_data: OpenData, disclosures: Disclosures,
                       feeds: FeedPlan, site: dict) -> None:
    """The hand-written pages and the pages generated from the records and the schemas
    (:func:`gather_pages`) into ``docs``, rendered by mkdocs into ``rendered``: beside the build,
    which meanwhile finds what changed and writes the feeds."""
    gather_pages(project, docs, intake, decisions, policy, open_data, disclosures, feeds, site)
    render_site(config, docs, rendered, as_of)


def gather_pages(project: Path, docs: Path, intake: Intake, decisions: dict[str, Decisions], policy: Policy,
                 open_data: OpenData, disclosures: Disclosures, feeds: FeedPlan, site: dict) -> None:
    """The hand-written pages, plus pages generated from the schemas and the intake."""
    shutil.copytree(project / "site_src", docs)
    (docs / SHELL_PAGE).mkdir()
    (docs / SHELL_PAGE / "index.md").write_text(source_page(), encoding="utf-8")
    env = template_environment(project)
    generated = {
        "index.md": ("首页", "docs/home.html", home_context(disclosures, open_data_date(open_data))),
        "statistics.md": ("统计", "docs/statistics.html", statistics_context(disclosures, open_data_date(open_data), region_name)),
        "data/dictionary.md": ("数据字典", "docs/data-dictionary.html", {"datasets": datasets()}),
        "data/quality.md": ("数据质量", "docs/quality.html", public_quality(intake, decisions)),
        "guide/disclosure.md": ("公示规则", "docs/disclosure-rules.html", policy_context(policy)),
        "data/downloads.md": ("数据下载", "docs/downloads.html", downloads_context(open_data, site)),
        "data/feeds.md": ("订阅", "feeds/feeds-page.html", feeds_page_context(feeds)),
    }
    for path, (title, template, context) in generated.items():
        html = env.get_template(template).render(**context)
        target = docs / path
        target.parent.mkdir(parents=True, exist_ok=True)
        intro = (docs / path).read_text(encoding="utf-8") if target.exists() else f"# {title}\n"
        wide = "---\nhide:\n  - toc\n---\n\n"  # wide tables: the page's own contents column gives way
        target.write_text(wide + intro.rstrip() + "\n\n" + html + "\n", encoding="utf-8")


def open_data_date(open_data: OpenData) -> date:
    return date.fromisoformat(open_data.releases[-1].date) if open_data.releases else date.today()


def public_quality(intake: Intake, decisions: dict[str, Decisions]) -> dict:
    """Counts per file, per rule and per publication decision, without any problem's value or
    message: withheld content is never published."""
    report = to_json(intake, "datasets")
    context = {key: report[key] for key in ("as_of", "totals", "files", "rules")}
    context["decisions"] = [{"dataset": d.dataset.title, "counts": [
        {"reason": reason, "label": REASONS[reason][0], "published": REASONS[reason][1], "count": count}
        for reason, count in d.counts().items()]} for d in decisions.values()]
    return context


def site_settings(config: Path) -> dict:
    """The site's name and URL from mkdocs.yml (``site_url`` may be empty: URLs stay relative)."""
    settings = yaml.load(config.read_text(encoding="utf-8"), Loader=_MkdocsLoader) or {}
    url = (settings.get("site_url") or "").rstrip("/")
    feeds = ((settings.get("extra") or {}).get("feeds") or {})
    return {"name": settings.get("site_name", "Gongshi"), "url": url, "data_base": f"{url}/data/" if url else "",
            "tag_authority": feeds.get("tag_authority") or ""}


class _MkdocsLoader(yaml.SafeLoader):
    """mkdocs.yml may use mkdocs' own tags: ``!ENV [NAME, default]`` is read as mkdocs reads it,
    the others (``!relative``) are not needed here."""


def _env_tag(loader: yaml.SafeLoader, node: yaml.Node) -> str | None:
    names = loader.construct_sequence(node) if isinstance(node, yaml.SequenceNode) else [loader.construct_scalar(node)]
    *variables, default = names if len(names) > 1 else (*names, None)
    return next((os.environ[v] for v in variables if os.environ.get(v)), default)


_MkdocsLoader.add_constructor("!ENV", _env_tag)
_MkdocsLoader.add_multi_constructor("!", lambda loader, suffix, node: None)


def write_catalog(data: Path, open_data: OpenData, site: dict) -> None:
    document = catalog(open_data, datasets(), site["data_base"], site["name"])
    (data / "catalog.jsonld").write_text(json.dumps(document, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


def downloads_context(open_data: OpenData, site: dict) -> dict:
    latest = open_data.releases[-1]
    base = site["data_base"] or "../"
    return {
        "latest": latest, "releases": list(reversed(open_data.releases)), "datasets": datasets(), "formats": FORMATS,
        "months": {d.name: month_files(latest.files, d.name) for d in datasets()},
        # JSON inside <script>: "<" escaped so no value can close the element
        "jsonld": {d.name: json.dumps(schema_org(open_data, d, base), ensure_ascii=False).replace("<", "\\u003c")
                   for d in datasets()},
    }


def policy_context(policy: Policy) -> dict:
    return {
        "regimes": policy.regimes, "severities": SEVERITIES, "publish_minor": policy.publish_minor_penalties,
        "severe_categories": policy.severe_categories, "minor_categories": policy.minor_categories,
        "large_fine_wan": policy.large_fine_wan, "large_fine_wan_person": policy.large_fine_wan_person,
        "repair_before_minimum": policy.repair_before_minimum, "suppress_under_objection": policy.suppress_under_objection,
        "licence_history_months": policy.licence_history_months, "open_end_from": policy.open_end_from,
    }


def template_environment(project: Path) -> Environment:
    env = Environment(loader=FileSystemLoader(project / "templates"), autoescape=select_autoescape(default=True),
                      undefined=StrictUndefined, keep_trailing_newline=True)
    env.filters["size"] = human_size
    env.filters["months"] = lambda m: f"{m // 12} 年" if m and m % 12 == 0 else f"{m} 个月"
    return env


def render_site(config: Path, docs: Path, site: Path, as_of: date) -> None:
    """mkdocs-material renders the pages; the build date drives every date it writes."""
    from mkdocs.commands.build import build as mkdocs_build
    from mkdocs.config import load_config
    from mkdocs.exceptions import MkDocsException

    epoch = int(datetime.combine(as_of, time(0), CHINA).timestamp())
    previous = os.environ.get("SOURCE_DATE_EPOCH")
    os.environ["SOURCE_DATE_EPOCH"] = str(epoch)
    messages = _MkdocsMessages()
    logger = logging.getLogger("mkdocs")
    logger.addHandler(messages)
    try:
        mkdocs_build(load_config(str(config), docs_dir=str(docs), site_dir=str(site)))
    except (MkDocsException, SystemExit) as exc:
        details = "\n".join(messages.lines) or str(exc)
        raise BuildError(f"网页生成失败，原网站保持不变：\n{details}\n请修正 site_src/ 或 mkdocs.yml 后重试。") from None
    finally:
        logger.removeHandler(messages)
        if previous is None:
            os.environ.pop("SOURCE_DATE_EPOCH", None)
        else:
            os.environ["SOURCE_DATE_EPOCH"] = previous


class _MkdocsMessages(logging.Handler):
    """Keeps mkdocs' warnings so a failed build can say what failed."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.levelname}: {record.getMessage()}")


def finish_release(data: Path, open_data: OpenData, known: KnownNumbers, records_cache: Path,
                   published: dict[str, pa.Table]) -> list[Finding]:
    """Beside the build, once the release is written: keep its records for the next build
    (:func:`keep_records`) and scan it (:func:`scan_new_release`)."""
    if open_data.made_release:
        keep_records(records_cache, open_data.releases[-1], published)
    return scan_new_release(data, open_data, known)


def scan_new_release(data: Path, open_data: OpenData, known: KnownNumbers) -> list[Finding]:
    """What the release this build made holds that must not be published (see
    :func:`refuse_private`), named by its place in the site. A month's CSV and JSON Lines files
    are its Parquet file's values in other encodings (tests/test_opendata.py holds them equal):
    its values are scanned once. Of a dataset's records, only those that are new or changed
    since the release before: the others, the same values, were scanned when it was made (a
    month whose records all are is the release before's files, linked)."""
    if not open_data.made_release:
        return []
    latest = open_data.releases[-1]
    version = latest.version
    earlier = [r.version for r in open_data.releases[:-1]]
    fresh = open_data.fresh or {}
    folders = sorted({f["path"].split("/", 1)[0] for f in latest.files if f["path"].endswith(".parquet")})
    found = scan(data / "releases", known, skip=earlier, encoded=[f"{version}/{folder}" for folder in folders],
                 leave_out=[f"{version}/{f['path']}" for f in latest.files
                            if f["path"].endswith(".parquet") and f["path"].split("/", 1)[0] in fresh])
    for name, records in fresh.items():
        shards = Shards.of(load_dataset(name), records)
        for month, rows in zip(shards.months, shards.rows, strict=True):
            found += scan_values(f"{version}/{shard_path(name, month, 'parquet')}", records.take(pa.array(rows)), known)
    return sorted((Finding(f"data/releases/{f.file}", f.kind, f.value) for f in found), key=lambda f: f.file)


def scan_site(site: Path, known: KnownNumbers, open_data: OpenData) -> list[Finding]:
    """What the staged site holds that must not be published (see :func:`refuse_private`),
    but for what the steps beside scan. ``known`` are the ID numbers the input carried. The
    data releases and the search index are not scanned here: ``data/latest/`` is the newest
    release byte for byte (hard links), earlier releases were scanned when they were made and
    are never rewritten, and :func:`scan_new_release` scans the one this build made and
    :func:`write_search` the search index."""
    releases = [f"data/releases/{r.version}" for r in open_data.releases]
    return scan(site, known, skip=("data/latest", SEARCH_INDEX, *releases))


def refuse_private(findings: list[Finding]) -> None:
    """No ID number in clear, no legal representative's ID, no phone number: else no site."""
    if findings:
        findings = sorted(findings, key=lambda f: f.file)
        listed = "\n".join(f.describe() for f in findings[:20])
        more = f"\n…共 {len(findings)} 处。" if len(findings) > 20 else ""
        raise BuildError(f"生成的网站中发现个人信息，未发布，原网站保持不变：\n{listed}{more}\n"
                         "请检查模板或数据中是否绕过了遮蔽（generator/disclosure/privacy.py）。")


def known_id_numbers(intake: Intake) -> set[str]:
    """Every ID number the input carried for a person or a legal representative."""
    numbers: set[str] = set()
    for records in intake.records.values():
        for name in ("subject_id_no", "legal_rep_id_no"):
            if name in records.column_names:
                numbers.update(v for v in pc.unique(records[name]).to_pylist() if v)
    return numbers


def human_size(size: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return str(size)
