"""Feeds: Atom and RSS 2.0 of what is published, and notices of what stopped being published.

    feeds/all.atom  feeds/all.rss                         everything, newest 100
    feeds/all/archive/<page>.atom                         the whole history (RFC 5005 archives)
    feeds/datasets/<dataset>.atom|.rss                    one dataset, newest 100
    feeds/datasets/<dataset>/archive/<page>.atom          its whole history
    feeds/authorities/<key>.atom|.rss                     one authority (its USCC, or N + a hash)
    feeds/regions/<code>.atom|.rss                        subjects registered in one GB/T 2260 code
    feeds/subjects/<page id>.atom|.rss                    one subject (natural persons have none)

**The stream.** Every feed is a window on one stream of events, newest first: a published record
(an Atom entry, an RSS item) dated by the release in which it last changed, and a withdrawn record
(an RFC 6721 ``at:deleted-entry`` in Atom, a notice item in RSS) dated by the release that dropped
it. Each record id is one event: a correction moves the entry to the correcting release (same id,
new ``updated``); a withdrawal replaces the entry, so withdrawn content is in no feed, archives
included. Order: date, release, decision date (newest first), then record id: fixed.

**Where events come from.** Records: the publication decision (``published_table``), never raw
rows. History: ``data/releases/index.json`` and each release's ``changes.json`` give, per record
id, the release of its last addition or modification and of its last removal (with the reason).
A removed record that is not published now is withdrawn; which feeds carried it (dataset,
authority, region, subject page) is read from the public columns of the release before the one
that removed it. Notices carry the record id, the reason and the date only.

**Ids and links.** Entry ids are ``tag:<authority>,<year>:record/<record id>`` from
``site["tag_authority"]`` (default :data:`DEFAULT_TAG_AUTHORITY`), never from ``site_url``, so a
move of the site keeps every id. Links are absolute under ``base_url``; without one they are
relative to the site root, which ``xml:base`` on the root element names.

**Archives.** The history of ``all`` and of each dataset is cut into pages by release; a release
with more than :data:`ARCHIVE_PAGE` changes (the counts in its immutable ``index.json`` entry) is
split into a fixed number of pages by record-id hash. Page names and the prev/next chain depend on
released files only, so they never move; a page's content changes only when a record in it is
corrected or withdrawn (the withdrawn content must go, RFC 5005 §4 notwithstanding).

**Two renderers, one output.** feedgen builds each document from objects: 0.5 ms for a small
subject feed (Atom and RSS), so a province's 333,605 subject feeds alone take 169 s on one core
(``benchmarks/feeds.py``, 1M records), and the archives hold every record twice more. So feedgen
renders the few hundred headline feeds (all, datasets, authorities, regions), and the fast renderer
the subject feeds and archive pages: a chunk's entries are assembled at once by Arrow string kernels
(escaping included) and each document is a slice of that buffer inside a formatted header, 0.026 ms
a subject feed (9 s for all). Both take the same values from :func:`entry_values`; the tests render
every feed both ways and require identical bytes. At that size writing ~670,000 files is the cost
(2-3 minutes on this disk, a third of it CPU), so documents are written by forked workers over
index ranges (``render.run_parallel``; two cores give about 1.4×), with the parent's objects frozen
(``gc.freeze``) so that the workers' garbage collector does not copy its heap.

Text is cleaned before it reaches either: characters XML 1.0 forbids (C0 controls but tab, LF, CR;
U+FFFE, U+FFFF) and C1 controls are dropped, tab/LF/CR become spaces.
"""

from __future__ import annotations

import functools
import gc
import hashlib
import json
import math
import re
import shutil
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.feather as feather
import pyarrow.parquet as pq
from feedgen.ext.base import BaseEntryExtension, BaseExtension
from feedgen.feed import FeedGenerator
from lxml import etree

from ..disclosure import Decisions
from ..errors import BuildError, ConfigError
from ..incremental import array_digests, generator_code, group_digests, keep_table, row_digests, text_digests
from ..intake import key_hashes
from ..normalize import IdIndex, hex_id_keys, one_array, string_ranks
from ..schema import DATASET_NAMES, Dataset, load_dataset
from ..subjects import page_ids, record_anchor, region_codes, subject_path
from .disclosures import authority_keys
from .history import HISTORY_SUFFIX, REMOVED, Summary, release_changes, summary
from .opendata import published_table, release_parquet_files
from .render import run_parallel, shared

WINDOW = 100  # entries in a subscription document
ARCHIVE_PAGE = 500  # events a release contributes to one archive page, at most (on average)
DEFAULT_TAG_AUTHORITY = "gongshi.invalid,2026"
CHUNKS = {"feedgen": 8, "archive": 64, "fast": 2000}  # documents per worker task
ALONE = {"feedgen": 200, "archive": 1000, "fast": 10_000}  # at most this many documents: written in this process
FEEDS_PAGE = "data/feeds/"
WITHDRAWAL_PAGE = "data/feeds/#withdrawals"
GENERATOR = "Gongshi"
LANGUAGE = "zh-CN"
ATOM_NS = "http://www.w3.org/2005/Atom"
AT_NS = "http://purl.org/atompub/tombstones/1.0"
FH_NS = "http://purl.org/syndication/history/1.0"
DC_NS = "http://purl.org/dc/elements/1.1/"
XML_NS = "http://www.w3.org/XML/1998/namespace"
ATOM_TYPE = "application/atom+xml"
RSS_TYPE = "application/rss+xml"
MIDNIGHT = "T00:00:00+08:00"

FOLDERS = {"dataset": "datasets", "authority": "authorities", "region": "regions", "subject": "subjects"}
LINK_TITLES = {"all": "全部公示信息", "authority": "本机关的公示信息", "region": "本地区的公示信息", "subject": "本主体的公示信息"}
# what an entry's summary shows, per dataset, labelled with the schema's titles
SUMMARY_FIELDS = {
    "licensing": ("decision_doc_title", "license_category", "certificate_name", "license_no", "license_content",
                  "decision_date", "valid_from", "valid_to", "status", "authority"),
    "penalties": ("violation_type", "penalty_categories", "penalty_content", "fine_amount_wan",
                  "confiscation_amount_wan", "suspended_revoked_licence", "decision_date", "authority"),
    "redlist": ("list_name", "listing_reason", "listing_basis", "listed_date", "valid_until", "status", "authority"),
    "blacklist": ("list_name", "listing_reason", "listing_basis", "listed_date", "valid_until", "status", "authority"),
}
OPEN_ENDED = ("valid_to", "valid_until")  # 2099-12-31 and later mean 长期
DOCUMENT_NUMBER = {"licensing": "decision_doc_no", "penalties": "decision_doc_no", "redlist": "listing_basis",
                   "blacklist": "listing_basis"}
# why a published record changed (changes.json "modified" reasons)
CHANGE_NOTES = {"corrected": "内容更正", "objection": "异议状态变化", "repaired": "信用修复信息变化", "revoked": "撤销信息变化",
                "expired": "公示状态变化"}
# why a record stopped being published (changes.json "removed" reasons)
WITHDRAWAL_REASONS = {"revoked": "决定已撤销、变更或依法不予公开", "repaired": "已信用修复", "expired": "公示期满",
                      "objection": "异议处理中或异议成立"}
ROUTING_COLUMNS = ("record_id", "authority", "authority_uscc", "subject_category", "subject_uscc",
                   "subject_business_reg_no")

_ILLEGAL = "[\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f-\\x9f\\x{FFFE}\\x{FFFF}]"
_ILLEGAL_PY = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff\ud800-\udfff]")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_HEX8 = re.compile(r"^[0-9a-f]{8}")
_TAG_AUTHORITY = re.compile(r"^([A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*|[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*),"
                            r"\d{4}(-\d{2}(-\d{2})?)?$")
_URI_SAFE = "^[0-9A-Za-z._~-]+$"
_VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}\.\d{1,6}$")
_KEY = re.compile(r"^[0-9A-Z]{1,40}$")
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

EVENT_SCHEMA = pa.schema([
    ("kind", pa.int8()),  # 0 published record, 1 withdrawal
    ("ds", pa.int8()),  # index in DATASET_NAMES
    ("record_id", pa.string()), ("page_id", pa.string()), ("region", pa.string()), ("authority_key", pa.string()),
    ("authority", pa.string()), ("subject", pa.string()),
    ("date", pa.string()),  # the event's date: the release of the last change or of the withdrawal
    ("rel", pa.int32()),  # that release's index in the history (-1: not in it)
    ("published", pa.string()),  # the decision date ("" for withdrawals)
    ("note", pa.string()),  # a record's last change as its summary notes it ("" for none and for withdrawals)
    ("title", pa.string()), ("text", pa.string()),
])


# ---------------------------------------------------------------------------------------------
# Results


@dataclass
class FeedStats:
    """What :func:`write_feeds` wrote."""

    documents: int  # feed files (Atom and RSS, archive pages included)
    entries: int  # entry and item elements about published records, over all documents
    withdrawals: int  # deleted-entry and notice elements, over all documents
    records: int  # published records in the stream
    withdrawn: int  # withdrawn records in the stream
    archive_pages: int
    bytes: int
    by_kind: dict[str, int] = field(default_factory=dict)  # documents per kind
    bytes_by_kind: dict[str, int] = field(default_factory=dict)

    def describe(self) -> str:
        return (f"订阅源 {self.documents:,} 个文件（{self.bytes / 1024**2:,.1f} MiB），含存档页 {self.archive_pages:,} 个；"
                f"公示记录 {self.records:,} 条、撤回通知 {self.withdrawn:,} 条，"
                f"共写出条目 {self.entries:,} 个、撤回通知 {self.withdrawals:,} 个。")


@dataclass(frozen=True)
class Release:
    version: str
    date: str
    changes: dict[str, int]  # dataset → records added, modified or removed in this release


@dataclass
class History:
    """What the releases say about every record id that ever was published (:mod:`.history`)."""

    releases: list[Release]
    summary: Summary
    # per release, a name for its content (version and change file's SHA-256; "" when not known)
    keys: list[str] = field(default_factory=list)
    # per release, its change rows (:func:`.history.release_changes`)
    rows_of: list[Callable[[], pa.Table]] = field(default_factory=list)

    @functools.cached_property
    def last_changes(self) -> tuple[pa.Array, np.ndarray, np.ndarray]:
        """Every id added or modified in some release, in the order the ids first appear, and
        per id the release index and the reason of its last change."""
        changed = self.summary.changed
        if not changed.num_rows:
            return pa.array([], pa.string()), np.zeros(0, np.int32), np.zeros(0, dtype=object)
        reasons = pc.dictionary_encode(one_array(changed["reason"]))
        labels = np.array(reasons.dictionary.to_pylist(), dtype=object)
        return (one_array(changed["record_id"]), one_array(changed["release"]).to_numpy().astype(np.int32),
                labels[reasons.indices.to_numpy(zero_copy_only=False)])

    @functools.cached_property
    def changed_index(self) -> IdIndex:
        """Where a record id is among the ids of :attr:`last_changes`."""
        return IdIndex(self.last_changes[0])

    def removals(self, i: int, dataset: str) -> list[str]:
        """The ids release ``i`` removed from ``dataset``, in its change file's order."""
        rows = self.rows_of[i]()
        rows = rows.filter(pc.and_(pc.equal(rows["change"], REMOVED), pc.equal(rows["dataset"], dataset)))
        return rows["record_id"].to_pylist()


@dataclass(frozen=True)
class Context:
    """Site-wide values every document uses."""

    name: str
    base: str  # absolute site URL without the final "/", or "" for root-relative links
    tag: str  # "tag:<authority>,<year>:"
    as_of: str
    region_name: Callable[[str], str]

    def url(self, path: str) -> str:
        """A site-relative path as written in a feed: absolute under ``base``, else as it is
        (resolved against the document's ``xml:base``); the root is ``./``."""
        if self.base:
            return f"{self.base}/{path}"
        return path or "./"

    def xml_base(self, path: str) -> str | None:
        return None if self.base else "../" * path.count("/")


@dataclass(frozen=True)
class Feed:
    """One feed document's own values (its entries come from the stream)."""

    kind: str  # all, dataset, authority, region, subject, archive
    path: str  # site-relative, without extension
    id: str
    title: str
    subtitle: str
    alternate: str  # site-relative HTML page
    updated: str  # YYYY-MM-DD
    links: tuple[tuple[str, str], ...] = ()  # (rel, site-relative Atom path): current, prev-/next-archive
    archive: bool = False
    rss: bool = True


@dataclass
class Family:
    """Documents of one kind whose entries are consecutive slices of ``rows`` (stream positions,
    newest first within a document): document i has ``rows[starts[i]:starts[i + 1]]``."""

    kind: str
    keys: list[str]
    names: list[str]
    rows: np.ndarray
    starts: np.ndarray
    current: list[bool]  # the document's page exists (the group has published records)
    engine: str  # "feedgen" or "fast"
    parent: str = ""  # archives: "all" or the dataset
    release_dates: list[str] = field(default_factory=list)  # archives: each page's release date
    totals: list[int] = field(default_factory=list)  # events in each document's whole stream, not only its window

    def __len__(self) -> int:
        return len(self.keys)


@dataclass
class FeedPlan:
    """Everything the feeds need, gathered and checked before anything is written."""

    context: Context
    history: History
    events: pa.Table  # the columns of SORTED, in stream order (row = position, 0 newest)
    families: list[Family]
    # every event, EVENT_SCHEMA, in the order made: row made_row[position] is at position. The
    # records' events come first, dataset after dataset (``records``: each dataset's records and
    # where its events start); their titles and summaries are made only for the entries written
    made: pa.Table
    made_row: np.ndarray
    records: list[tuple[Dataset, pa.Table, int]] = field(default_factory=list)
    # the digests of the records whose events come first in ``made`` (:attr:`Disclosures.record_digests`),
    # asked for when the events' digests are; None: every event's row is hashed
    record_digests: Callable[[], np.ndarray] | None = None

    def family(self, kind: str, parent: str = "") -> Family:
        return next(f for f in self.families if f.kind == kind and f.parent == parent)

    def rows(self, positions: np.ndarray) -> pa.Table:
        """The whole events (EVENT_SCHEMA) at these positions of the stream."""
        made = self.made_row[positions]
        rows = self.made.take(pa.array(made, pa.int64())).combine_chunks()
        if not self.records:
            return rows
        # the records' titles and summaries, dataset by dataset, back in the rows' order
        at, titles, texts = [], [], []
        for dataset, table, start in self.records:
            picked = np.flatnonzero((made >= start) & (made < start + table.num_rows))
            if len(picked):
                records = table.take(pa.array(made[picked] - start, pa.int64()))
                note = rows["note"].take(pa.array(picked, pa.int64())).combine_chunks()
                at.append(picked)
                titles.append(_titles(dataset, records))
                texts.append(_summaries(dataset, records, pc.if_else(pc.equal(note, ""), pa.scalar(None, pa.string()), note)))
        last = self.records[-1][2] + self.records[-1][1].num_rows
        rest = np.flatnonzero(made >= last)  # withdrawals carry their own
        at.append(rest)
        titles.append(rows["title"].take(pa.array(rest, pa.int64())).combine_chunks())
        texts.append(rows["text"].take(pa.array(rest, pa.int64())).combine_chunks())
        where = np.empty(len(made), np.int64)
        where[np.concatenate(at)] = np.arange(len(made))
        back = pa.array(where, pa.int64())
        rows = rows.set_column(rows.schema.get_field_index("title"), "title", pa.concat_arrays(titles).take(back))
        return rows.set_column(rows.schema.get_field_index("text"), "text", pa.concat_arrays(texts).take(back))

    @functools.cached_property
    def event_digests(self) -> np.ndarray:
        """A digest of each event's row (what its entry is written from), in stream order. A
        record's event is made from its record and its place in the history (date, release,
        change note): its digest is the record's plus a hash of those."""
        if self.record_digests is None:
            return row_digests(self.rows(np.arange(len(self.made_row))))
        records = self.record_digests()
        n = self.records[-1][2] + self.records[-1][1].num_rows if self.records else 0
        if len(records) != n:
            raise ValueError(f"{len(records)} record digests for {n} record events")
        own = self.made.slice(0, n)
        history = key_hashes(pc.binary_join_element_wise(own["date"], pc.cast(own["rel"], pa.string()), own["note"], "\x1f"))
        digests = np.vstack([records + np.column_stack([history, history * _MIX]), row_digests(self.made.slice(n))])
        return digests[self.made_row]


def family_label(family: Family) -> str:
    """How ``write_feeds``' ``only`` names a family: its kind, and an archive's parent."""
    return f"{family.kind}:{family.parent}" if family.parent else family.kind


# ---------------------------------------------------------------------------------------------
# Public API


def build_feeds(decisions: dict[str, Decisions], data_dir: Path, out: Path, as_of: date, site: dict,
                region_name: Callable[[str], str] = str, base_url: str = "", *,
                published: dict[str, pa.Table] | None = None) -> FeedStats:
    """Write every feed under ``out/feeds/``. ``data_dir`` holds ``releases/`` with this build's
    release already written; ``site`` has ``name`` (and optionally ``tag_authority``);
    ``published`` reuses the tables :func:`opendata.published_table` made."""
    return write_feeds(plan_feeds(decisions, data_dir, as_of, site, region_name, base_url, published=published), out)


def plan_feeds(decisions: dict[str, Decisions], data_dir: Path, as_of: date, site: dict,
               region_name: Callable[[str], str] = str, base_url: str = "", *,
               published: dict[str, pa.Table] | None = None,
               record_digests: Callable[[str], np.ndarray] | None = None, history_cache: Path | None = None) -> FeedPlan:
    """Gather the stream and every document's entries; nothing is written. ``record_digests``
    gives a digest per record of a dataset's ``published`` table (see
    :attr:`FeedPlan.event_digests`); ``history_cache`` keeps the releases' changes read
    (:func:`read_history`)."""
    history = read_history(data_dir, history_cache)
    tag = str(site.get("tag_authority") or DEFAULT_TAG_AUTHORITY).strip()
    if not _TAG_AUTHORITY.match(tag):
        raise ConfigError(f"订阅源标识的 tag_authority「{clean(tag)}」不合 RFC 4151：应为「域名或电子邮件,年份」，"
                          "例如 credit.example.gov.cn,2026。请在网站设置中改正；一经发布不要再改，否则阅读器会把全部条目当作新条目。")
    context = Context(clean(str(site.get("name") or "")).strip() or "Gongshi", base_url.rstrip("/"), f"tag:{tag}:", as_of.isoformat(),
                      region_name)
    tables = {name: (published[name] if published is not None else published_table(d)) for name, d in decisions.items()}
    names = [name for name in DATASET_NAMES if name in tables]
    parts = [record_events(load_dataset(name), tables[name], history, context.as_of) for name in names]
    starts = np.r_[0, np.cumsum([part.num_rows for part in parts])].astype(int).tolist()
    records = [(load_dataset(name), tables[name], start) for name, start in zip(names, starts[:-1], strict=True)]
    digests = functools.partial(_in_order, record_digests, names) if record_digests is not None else None  # as the events
    current = pa.concat_arrays([t["record_id"].combine_chunks() for t in tables.values()]) if tables else pa.array([], pa.string())
    parts.append(withdrawal_events(history, current, data_dir, history_cache))
    # sorted, the events are only their numbers: the text is taken, in stream order, only for the
    # entries written, and the documents are grouped by ranks of the text in the order made
    # (copying it all was a third of the plan's time, and its text columns another quarter)
    made = pa.concat_tables(parts)
    made_row = stream_order(made)
    events = made.select(list(SORTED)).take(pa.array(made_row)).combine_chunks()
    return FeedPlan(context, history, events, families(events, made, made_row, history, context), made, made_row, records,
                    digests)


def stream_order(made: pa.Table) -> np.ndarray:
    """The events' positions in STREAM_ORDER. Dates are ranked and record ids read as numbers,
    so NumPy sorts integers; ids of another shape take Arrow's sort of the strings."""
    ids = hex_id_keys(made["record_id"])
    if ids is None or not made.num_rows or any(made[c].null_count for c, _ in STREAM_ORDER):
        return pc.sort_indices(made, sort_keys=STREAM_ORDER).to_numpy(zero_copy_only=False).astype(np.int64)
    rel = one_array(made["rel"]).to_numpy(zero_copy_only=False).astype(np.int64)
    keys = (ids[1], ids[0], -string_ranks(made["published"]), -rel, -string_ranks(made["date"]))  # the last key first
    return np.lexsort(keys).astype(np.int64)


def _in_order(digests: Callable[[str], np.ndarray], names: list[str]) -> np.ndarray:
    parts = [digests(name) for name in names]
    return np.vstack(parts) if parts else np.zeros((0, 2), np.uint64)


_MIX = np.uint64(0x9E3779B97F4A7C15)


STREAM_ORDER = [("date", "descending"), ("rel", "descending"), ("published", "descending"), ("record_id", "ascending")]
# the event columns the plan keeps in stream order (numbers; the text stays in the order made)
SORTED = ("kind", "ds", "rel")


def write_feeds(plan: FeedPlan, out: Path, only: dict[str, np.ndarray] | None = None) -> FeedStats:
    """Write every document of ``plan`` under ``out`` (the site root), on every core; for a
    family in ``only`` (by :func:`family_label`), just the documents whose mask is true (an
    incremental build)."""
    folders = ["feeds/all/archive", *(f"feeds/{folder}" for folder in FOLDERS.values()),
               *(f"feeds/datasets/{name}/archive" for name in DATASET_NAMES)]
    for folder in folders:
        (out / folder).mkdir(parents=True, exist_ok=True)
    kinds: dict[str, int] = {}
    written: dict[str, int] = {}
    entries = withdrawals = 0
    kind = plan.events["kind"].to_numpy()
    gc.freeze()  # forked workers then leave the parent's objects alone: no copy-on-write of its heap by the GC
    try:
        for family in plan.families:
            engine = "archive" if family.kind == "archive" else family.engine
            mask = (only or {}).get(family_label(family))
            # an incremental build writes the changed documents only, and makes only their entries:
            # a few changed feeds are written here, without starting worker processes
            docs = np.arange(len(family)) if mask is None else np.flatnonzero(mask)
            if len(docs):
                written[family.kind] = written.get(family.kind, 0) + run_parallel(
                    _write_documents, len(docs), {"plan": plan, "family": family, "out": str(out), "docs": docs},
                    chunk=CHUNKS[engine], alone=ALONE[engine])
    finally:
        gc.unfreeze()
    for family in plan.families:
        formats = 1 if family.kind == "archive" else 2
        kinds[family.kind] = kinds.get(family.kind, 0) + len(family) * formats
        rows = kind[family.rows]
        entries += int((rows == 0).sum()) * formats
        withdrawals += int((rows == 1).sum()) * formats
    return FeedStats(documents=sum(kinds.values()), entries=entries, withdrawals=withdrawals,
                     records=int((kind == 0).sum()), withdrawn=int((kind == 1).sum()), archive_pages=kinds.get("archive", 0),
                     bytes=sum(written.values()), by_kind=kinds, bytes_by_kind=written)


def document_digests(plan: FeedPlan, kind: str) -> tuple[list[str], np.ndarray]:
    """The keys of ``kind``'s documents and a digest per document of everything it is written
    from (its events and its own values), for incremental builds."""
    family = plan.family(kind)
    sums = group_digests(plan.event_digests[family.rows], family.starts[:-1], len(family.rows))
    totals = pa.array(family.totals or [0] * len(family), pa.int64())
    empty = pa.array(np.diff(family.starts) == 0)
    # key|name|current|total|the build date for a document without events: as the text of each
    meta = pc.binary_join_element_wise(
        pa.array(family.keys, pa.string()), pa.array(family.names, pa.string()),
        pc.if_else(pa.array(family.current, pa.bool_()), "True", "False"), pc.cast(totals, pa.string()),
        pc.if_else(empty, plan.context.as_of, ""), "|")
    return family.keys, sums + array_digests(meta)


SITE_FEED_KINDS = ("dataset", "authority", "region", "archive")  # the documents besides the all-disclosures and subject feeds


def site_feed_digests(plan: FeedPlan) -> tuple[list[str], np.ndarray, list[tuple[str, int]]]:
    """The dataset, authority, region feeds and archive pages: their paths, a digest each of its
    events and of the document's own values as written (title, links, updated…), and per family
    its label and number of documents (to split a mask over them). A few thousand documents:
    the values are made as the writer makes them."""
    keys: list[str] = []
    parts: list[np.ndarray] = []
    counts: list[tuple[str, int]] = []
    for family in plan.families:
        if family.kind not in SITE_FEED_KINDS:
            continue
        sums = group_digests(plan.event_digests[family.rows], family.starts[:-1], len(family.rows))
        firsts = family.starts[:-1][np.diff(family.starts) > 0]
        newest = iter(entry_values(plan.rows(family.rows[firsts]), plan.context)["updated"]
                      .to_pylist() if len(firsts) else [])
        feeds = [document(plan, family, i, next(newest)[:10] if family.starts[i + 1] > family.starts[i] else None)
                 for i in range(len(family))]
        keys += [feed.path for feed in feeds]
        parts.append(sums + text_digests([repr(feed) for feed in feeds]))
        counts.append((family_label(family), len(family)))
    return keys, (np.concatenate(parts) if parts else np.zeros((0, 2), np.uint64)), counts


def feed_links(kind: str, key: str = "") -> list[dict]:
    """The ``<link rel="alternate">`` targets of the page about ``kind``/``key`` (kind: all,
    dataset, authority, region, subject): type, title and href relative to the site root."""
    path = feed_path(kind, key)
    label = load_dataset(key).title if kind == "dataset" else LINK_TITLES[kind]
    return [{"type": ATOM_TYPE, "title": f"{label}（Atom）", "href": f"{path}.atom"},
            {"type": RSS_TYPE, "title": f"{label}（RSS）", "href": f"{path}.rss"}]


def alternate_head(page: str, base_url: str = "") -> str:
    """``<link rel="alternate">`` tags for the generated page at site-relative ``page``
    (``subjects/X/``, ``authorities/K/``, ``regions/C/``, ``datasets/D/``, their numbered pages
    ``…/K/2/``, or ``""``), for the head of that page; "" for a page without feeds."""
    parts = page.strip("/").split("/") if page.strip("/") else []
    kinds = {"subjects": "subject", "authorities": "authority", "regions": "region", "datasets": "dataset"}
    if not parts:
        kind, key = "all", ""
    elif parts[0] in kinds and (len(parts) == 2 or (len(parts) == 3 and parts[2].isdigit() and parts[0] != "subjects")):
        kind, key = kinds[parts[0]], parts[1]
    else:
        return ""
    try:
        links = feed_links(kind, key)
    except ValueError:
        return ""
    root = f"{base_url.rstrip('/')}/" if base_url else "../" * len(parts)
    return "".join(f'<link rel="alternate" type="{link["type"]}" title="{_escape_attribute(link["title"])}" '
                   f'href="{_escape_attribute(root + link["href"])}">' for link in links)


def feed_path(kind: str, key: str = "") -> str:
    """The site-relative path of a subscription document, without extension."""
    if kind == "all":
        return "feeds/all"
    if kind == "dataset":
        if key not in DATASET_NAMES:
            raise ValueError(f"unknown dataset {key!r}")
        return f"feeds/datasets/{key}"
    if kind not in FOLDERS or not _KEY.match(key):
        raise ValueError(f"no feed for {kind!r} {key!r}")
    return f"feeds/{FOLDERS[kind]}/{key}"


def feeds_page_context(plan: FeedPlan, root: str = "../../") -> dict:
    """What ``templates/feeds/feeds-page.html`` lists; ``root`` leads from the page to the site root."""
    def rows(kind: str) -> list[dict]:
        family = plan.family(kind)
        return [{"key": k, "name": n, "count": family.totals[i],
                 "atom": f"{root}{feed_path(kind, k)}.atom", "rss": f"{root}{feed_path(kind, k)}.rss"}
                for i, (k, n) in enumerate(zip(family.keys, family.names, strict=True))]

    archive = plan.family("archive", "all")
    return {
        "root": root, "window": WINDOW,
        "all": {"atom": f"{root}feeds/all.atom", "rss": f"{root}feeds/all.rss",
                "archive": f"{root}{archive_path('all', archive.keys[-1])}.atom" if len(archive) else ""},
        "datasets": rows("dataset"), "authorities": rows("authority"), "regions": rows("region"),
        "subjects": len(plan.family("subject")),
        "records": int(pc.sum(pc.equal(plan.events["kind"], 0)).as_py() or 0),
        "withdrawn": int(pc.sum(pc.equal(plan.events["kind"], 1)).as_py() or 0),
    }


# ---------------------------------------------------------------------------------------------
# History and events


def read_history(data_dir: Path, cache: Path | None = None) -> History:
    """Every release (oldest first) and, per record id, its last change and last removal. Each
    release's change file is read once and kept in ``cache`` (a folder beside the site) as rows."""
    index_file = data_dir / "releases" / "index.json"
    if not index_file.is_file():
        raise BuildError(f"找不到开放数据版本目录 {index_file}：订阅源依据版本历史生成。请先生成开放数据（build_open_data）。")
    index = json.loads(index_file.read_text(encoding="utf-8"))
    releases = [Release(r["version"], r["date"], {ds: sum(c.values()) for ds, c in r.get("changes", {}).items()})
                for r in index["releases"]]
    if not releases:
        raise BuildError(f"{index_file} 中没有任何版本：订阅源依据版本历史生成。请先生成开放数据（build_open_data）。")
    for release in releases:  # versions become archive file names
        if not (_VERSION.match(release.version) and _DATE.match(release.date) and _is_date(release.date)):
            raise BuildError(f"{index_file} 中的版本「{release.version}」（{release.date}）不是 YYYY-MM-DD.N 形式。"
                             "请检查开放数据目录是否被改动过。")
    files = [{f["path"]: f.get("sha256", "") for f in r.get("files", [])}.get("changes.json", "") for r in index["releases"]]
    keys = [f"{release.version}-{sha}" if sha else "" for release, sha in zip(releases, files, strict=True)]
    rows_of = [functools.partial(release_changes, data_dir / "releases" / release.version / "changes.json", i, cache,
                                 key if key and cache is not None else None)
               for i, (release, key) in enumerate(zip(releases, keys, strict=True))]
    if cache is not None and cache.is_dir():  # entries of releases this history no longer has
        wanted = {f"{key}{HISTORY_SUFFIX}" for key in keys}
        for path in cache.iterdir():
            if path.name.endswith(HISTORY_SUFFIX) and path.name not in wanted:
                path.unlink(missing_ok=True)
    if cache is not None and (cache / ROUTING_FOLDER).is_dir():  # routings other code made, or of releases gone
        for folder in (cache / ROUTING_FOLDER).iterdir():
            if folder.name != _routing_code():
                shutil.rmtree(folder, ignore_errors=True) if folder.is_dir() else folder.unlink(missing_ok=True)
                continue
            for path in folder.iterdir():
                if path.name.partition("~")[0] not in keys:
                    path.unlink(missing_ok=True)
    return History(releases, summary(rows_of, keys, cache), keys, rows_of)


def record_events(dataset: Dataset, table: pa.Table, history: History, as_of: str) -> pa.Table:
    """One event per published record: dated by the release of its last change (else its decision
    date), with its change note; its title and summary are made from the record when its entry
    is written (:meth:`FeedPlan.rows`)."""
    n = table.num_rows
    if not n:
        return EVENT_SCHEMA.empty_table()
    _, releases, reasons = history.last_changes
    where = history.changed_index.positions(table["record_id"])
    found = where >= 0
    rel = np.where(found, releases[np.maximum(where, 0)] if len(releases) else -1, -1).astype(np.int32)
    release_date = pa.array(np.array([r.date for r in history.releases] + [""], dtype=object)[rel], pa.string())
    decided = valid_dates(table[dataset.decision_date_field])
    # dated by the later of its last change and its decision; without a change, by its decision
    # (or the build date when it has none)
    dates = pc.if_else(pc.equal(release_date, ""), pc.if_else(pc.equal(decided, ""), as_of, decided),
                       pc.max_element_wise(release_date, decided))
    noted = np.flatnonzero(found)
    noted = noted[reasons[where[noted]] != "new"] if len(noted) else noted
    notes = np.full(n, None, dtype=object)
    notes[noted] = [f"{history.releases[r].date} 更新：{CHANGE_NOTES.get(reason, '记录更新')}"
                    for r, reason in zip(rel[noted].tolist(), reasons[where[noted]].tolist(), strict=True)]
    authority = column(table, "authority")
    note = pa.array(notes.tolist(), pa.string())
    return pa.table({
        "kind": pa.array(np.zeros(n, np.int8)), "ds": pa.array(np.full(n, DATASET_NAMES.index(dataset.name), np.int8)),
        "record_id": column(table, "record_id"),
        # made already when the table is a Disclosures' one
        "page_id": table["page_id"] if "page_id" in table.column_names else page_ids(table),
        "region": table["region"] if "region" in table.column_names else region_codes(table),
        "authority_key": table["authority_key"] if "authority_key" in table.column_names
        else authority_keys(table["authority"], table["authority_uscc"]),
        "authority": authority, "subject": column(table, "subject_name"),
        "date": dates,
        "rel": pa.array(rel),
        "published": decided, "note": pc.fill_null(note, ""),
        "title": pa.nulls(n, pa.string()), "text": pa.nulls(n, pa.string()),  # made for the entries written: FeedPlan.rows
    }, schema=EVENT_SCHEMA)


def withdrawal_events(history: History, current: pa.Array, data_dir: Path, cache: Path | None = None) -> pa.Table:
    """One event per record that was published once and is not now, at the release that removed
    it, routed by the public columns of the release before (kept in ``cache``: see
    :func:`_kept_routing`)."""
    removed = history.summary.removed
    if not removed.num_rows:
        return EVENT_SCHEMA.empty_table()
    ids = one_array(removed["record_id"])
    # the ids published again, found with a hash table of the removed ids, not of every current one
    again = current.filter(pc.is_in(current, value_set=ids))
    gone = np.flatnonzero(pc.invert(pc.is_in(ids, value_set=again)).to_numpy(zero_copy_only=False))
    # in batches of one release and dataset, in that order; each in the order of the removals
    names = sorted(pc.unique(removed["dataset"]).to_pylist())
    dataset_of = pc.index_in(one_array(removed["dataset"]), value_set=pa.array(names, pa.string())).to_numpy(zero_copy_only=False)[gone]
    release_of = one_array(removed["release"]).to_numpy()[gone]
    by_batch = np.lexsort((dataset_of, release_of))  # stable: the removals' order within a batch
    order, batch_of = gone[by_batch], np.column_stack([release_of[by_batch], dataset_of[by_batch]])
    starts = np.flatnonzero(np.r_[True, (batch_of[1:] != batch_of[:-1]).any(axis=1)]) if len(order) else order
    all_ids, all_reasons = ids.take(pa.array(order)), one_array(removed["reason"]).take(pa.array(order))
    parts = []
    for start, end in zip(starts.tolist(), [*starts[1:].tolist(), len(order)], strict=True):
        i, dataset_name = int(batch_of[start, 0]), names[int(batch_of[start, 1])]
        rids, reasons = all_ids.slice(start, end - start), all_reasons.slice(start, end - start)
        dataset = load_dataset(dataset_name)
        release = history.releases[i]
        routing = (_kept_routing(cache, history, i, dataset_name, data_dir, rids) if cache is not None
                   else _routing(data_dir, history.releases[i - 1] if i > 0 else None, dataset_name, rids))
        shown = column(pa.table({"record_id": rids}), "record_id")
        n = len(rids)
        parts.append(pa.table({
            "kind": pa.array(np.ones(n, np.int8)), "ds": pa.array(np.full(n, DATASET_NAMES.index(dataset_name), np.int8)),
            "record_id": shown,
            "page_id": routing["page_id"], "region": routing["region"], "authority_key": routing["authority_key"],
            "authority": routing["authority"], "subject": pa.repeat(pa.scalar("", pa.string()), n),
            "date": pa.repeat(pa.scalar(release.date, pa.string()), n), "rel": pa.array(np.full(n, i, np.int32)),
            "published": pa.repeat(pa.scalar("", pa.string()), n), "note": pa.repeat(pa.scalar("", pa.string()), n),
            "title": pa.repeat(pa.scalar("", pa.string()), n),
            "text": withdrawal_comments(dataset, shown, reasons, release.date),
        }, schema=EVENT_SCHEMA))
    return pa.concat_tables(parts) if parts else EVENT_SCHEMA.empty_table()


def _routing(data_dir: Path, before: Release | None, dataset: str, rids: pa.Array | list[str]) -> dict[str, pa.Array]:
    """Page id, region, authority key and name of withdrawn records, from the public columns of
    the release that still had them; blank where that release is missing (history cut short)."""
    wanted = rids if isinstance(rids, pa.Array) else pa.array(rids, pa.string())
    paths = release_parquet_files(data_dir / "releases" / before.version, dataset) if before else []
    if paths:
        table = pa.concat_tables([pq.read_table(path, columns=list(ROUTING_COLUMNS)) for path in paths])
        table = pa.table({c: pc.fill_null(table[c].cast(pa.string()), "") for c in ROUTING_COLUMNS})
        table = table.filter(pc.is_in(table["record_id"], value_set=wanted))
    else:
        table = pa.table({c: pa.array([], pa.string()) for c in ROUTING_COLUMNS})
    at = pc.index_in(wanted, value_set=table["record_id"].combine_chunks())
    found = pc.is_valid(at)
    columns = {
        "page_id": page_ids(table), "region": region_codes(table),
        "authority_key": authority_keys(table["authority"], table["authority_uscc"]) if table.num_rows else pa.array([], pa.string()),
        "authority": column(table, "authority"),
    }
    return {name: pc.if_else(found, pc.take(values, pc.fill_null(at, 0)) if len(values) else pa.nulls(len(wanted), pa.string()), "")
            for name, values in columns.items()}


ROUTING_FOLDER = "routing"  # in the history cache


def _kept_routing(cache: Path, history: History, i: int, dataset: str, data_dir: Path, rids: pa.Array
                  ) -> dict[str, pa.Array]:
    """:func:`_routing` of ``rids`` (records of ``dataset`` whose last removal was release ``i``),
    from the routing of every record release ``i`` removed from ``dataset``, made once from the
    release before and kept in ``cache``: releases never change once published, and otherwise
    every build would read the Parquet files of every release that ever removed a record (a
    site rebuilt daily gains one such release a day)."""
    before = i - 1 if i > 0 else None
    key = history.keys[i] if i < len(history.keys) else ""
    before_key = history.keys[before] if before is not None and before < len(history.keys) else ""
    if not key or (before is not None and not before_key):  # the releases' content is not known: not kept
        return _routing(data_dir, history.releases[before] if before is not None else None, dataset, rids)
    kept = (cache / ROUTING_FOLDER / _routing_code()
            / f"{key}~{dataset}~{hashlib.sha256(before_key.encode()).hexdigest()[:16]}{HISTORY_SUFFIX}")
    table = None
    if kept.is_file():
        try:
            table = feather.read_table(kept)
        except (OSError, pa.ArrowInvalid):
            table = None
        if table is not None and table.column_names != ["record_id", *ROUTED]:
            table = None
    if table is None:
        ids = history.removals(i, dataset)
        routed = _routing(data_dir, history.releases[before] if before is not None else None, dataset, ids)
        table = pa.table({"record_id": pa.array(ids, pa.string()), **{c: routed[c] for c in ROUTED}})
        keep_table(table, kept)
    at = pc.index_in(rids, value_set=table["record_id"].combine_chunks())
    found = pc.is_valid(at)
    return {c: pc.if_else(found, pc.take(table[c].combine_chunks(), pc.fill_null(at, 0)) if table.num_rows
                          else pa.nulls(len(rids), pa.string()), "") for c in ROUTED}


ROUTED = ("page_id", "region", "authority_key", "authority")  # what _routing gives


def _routing_code() -> str:
    """The folder of the kept routings: named by the generator's code, which makes the page ids,
    region codes and authority keys from a release's columns (other code's are removed)."""
    return generator_code()[:16]


def withdrawal_comment(dataset: Dataset, rid: str, reason: str, when: str) -> str:
    """What a withdrawal notice says (``rid``: the record id as shown)."""
    return f"{WITHDRAWAL_REASONS.get(reason, '已停止公示')}：{dataset.title}记录（记录标识 {rid}）自 {when} 起停止公示。"


def withdrawal_comments(dataset: Dataset, shown: pa.Array, reasons: pa.Array, when: str) -> pa.Array:
    """:func:`withdrawal_comment` of every record, made by Arrow: no Python string per record (a
    site rebuilt daily for years has withdrawn most records it ever published)."""
    reasons = pc.fill_null(reasons, "")
    known = pa.array(list(WITHDRAWAL_REASONS), pa.string())
    labels = pa.array([*WITHDRAWAL_REASONS.values(), "已停止公示"], pa.string())
    label = pc.take(labels, pc.fill_null(pc.index_in(reasons, value_set=known), len(known)))
    text = functools.partial(pa.scalar, type=pa.string())
    return pc.binary_join_element_wise(label, text(f"：{dataset.title}记录（记录标识 "), shown,
                                       text(f"）自 {when} 起停止公示。"), text(""))


def _titles(dataset: Dataset, table: pa.Table) -> pa.Array:
    """行政处罚：<subject>（<document number>）"""
    number = column(table, DOCUMENT_NUMBER[dataset.name])
    bracketed = pc.if_else(pc.not_equal(number, ""), _join("（", number, "）"), "")
    return _join(f"{dataset.title}：", column(table, "subject_name"), bracketed)


def _summaries(dataset: Dataset, table: pa.Table, notes: pa.Array) -> pa.Array:
    """Label：value pairs of the fields that say what was decided, the last day shown, whether an
    objection is pending and, for a changed record, when and why it changed."""
    pieces = []
    for name in SUMMARY_FIELDS[dataset.name]:
        values = column(table, name)
        if name in OPEN_ENDED:
            values = pc.if_else(pc.greater_equal(values, "2099-12-31"), "长期", values)
        pieces.append(pc.if_else(pc.not_equal(values, ""), _join(f"{dataset.field(name).title}：", values), None))
    until = column(table, "display_until")
    pieces.append(pc.if_else(pc.not_equal(until, ""), _join("公示截止日：", until), None))
    pieces.append(pc.if_else(pc.equal(column(table, "under_objection"), "true"), "异议处理中", None))
    pieces.append(notes)
    return pc.binary_join_element_wise(*pieces, "；", null_handling="skip")


# ---------------------------------------------------------------------------------------------
# Documents


def families(events: pa.Table, made: pa.Table, made_row: np.ndarray, history: History, context: Context) -> list[Family]:
    """Every document: the all-disclosures and dataset feeds (feedgen); authority, region and subject
    feeds and archive pages (the fast renderer)."""
    n = events.num_rows
    ds = events["ds"].to_numpy()
    kind = events["kind"].to_numpy()
    result = [Family("all", ["all"], [context.name], np.arange(min(n, WINDOW)), np.array([0, min(n, WINDOW)]),
                     [True], "feedgen")]
    rows = [np.flatnonzero(ds == i)[:WINDOW] for i in range(len(DATASET_NAMES))]
    result.append(Family("dataset", list(DATASET_NAMES), [load_dataset(d).title for d in DATASET_NAMES],
                         np.concatenate(rows), np.concatenate([[0], np.cumsum([len(r) for r in rows])]),
                         [True] * len(DATASET_NAMES), "feedgen",
                         totals=[int((ds == i).sum()) for i in range(len(DATASET_NAMES))]))
    # hundreds of authority and region feeds: the fast renderer (the tests hold it byte for byte
    # to feedgen's output for every document)
    result.append(_grouped("authority", made["authority_key"], made_row, kind, made["authority"], "fast"))
    result.append(_grouped("region", made["region"], made_row, kind, None, "fast", context.region_name))
    result.append(_grouped("subject", made["page_id"], made_row, kind, made["subject"], "fast"))
    buckets = _hash_prefixes(made["record_id"].combine_chunks())[made_row]
    rel = events["rel"].to_numpy().astype(np.int64)
    rel = np.where(rel < 0, len(history.releases) - 1, rel)
    result.append(_archive("all", np.ones(n, bool), rel, buckets, history, list(DATASET_NAMES)))
    for i, name in enumerate(DATASET_NAMES):
        result.append(_archive(name, ds == i, rel, buckets, history, [name]))
    return result


def _grouped(kind: str, keys: pa.ChunkedArray, made_row: np.ndarray, event_kind: np.ndarray,
             event_names: pa.ChunkedArray | None, engine: str, name_of_key: Callable[[str], str] | None = None) -> Family:
    """One document per non-empty key: its newest WINDOW events, keys in ascending order.
    ``keys`` and ``event_names`` are in the order the events were made (stream position p is
    made row ``made_row[p]``): the text is ranked where it is and only the ranks are put in
    stream order, so no string is copied but the groups' keys and names."""
    keys = pc.fill_null(one_array(keys), "")
    positions = np.flatnonzero(pc.not_equal(keys, "").to_numpy(zero_copy_only=False)[made_row])  # in the stream
    if not len(positions):
        return Family(kind, [], [], np.zeros(0, np.int64), np.zeros(1, np.int64), [], engine)
    in_stream = made_row[positions]  # their rows as made
    # by key, then position: the positions ascend, so a stable sort by the keys' ranks is enough
    ranks = string_ranks(keys)[in_stream]
    order = np.argsort(ranks, kind="stable")
    sorted_rows = positions.astype(np.int64)[order]
    sorted_ranks = ranks[order]
    bounds = np.concatenate([[0], np.flatnonzero(sorted_ranks[1:] != sorted_ranks[:-1]) + 1, [len(sorted_rows)]])
    sizes = np.minimum(np.diff(bounds), WINDOW)
    rank = np.arange(len(sorted_rows)) - np.repeat(bounds[:-1], np.diff(bounds))
    rows = sorted_rows[rank < WINDOW]
    starts = np.concatenate([[0], np.cumsum(sizes)])
    group_keys = keys.take(pa.array(in_stream[order[bounds[:-1]]])).to_pylist()
    # per document, the newest published record (if any) names it and says its page exists
    is_record = event_kind[rows] == 0
    index = np.where(is_record, np.arange(len(rows)), len(rows))
    first_record = np.minimum.reduceat(index, starts[:-1]) if len(rows) else np.zeros(0, np.int64)
    has_record = first_record < starts[1:]
    current = has_record.tolist()
    if name_of_key is not None:
        names = [clean(name_of_key(key)) or key for key in group_keys]
    else:
        # named after the newest published record; a withdrawal still names its authority, not its subject
        fallback = starts[:-1] if kind == "authority" else None
        pick = np.where(has_record, first_record, fallback if fallback is not None else 0)
        found = event_names.take(pa.array(made_row[rows[pick]])).to_pylist()
        names = [n if (n and (has or fallback is not None)) else key
                 for n, has, key in zip(found, current, group_keys, strict=True)]
    return Family(kind, group_keys, names, rows, starts, current, engine, totals=np.diff(bounds).tolist())


def _hash_prefixes(record_ids: pa.Array) -> np.ndarray:
    """The first 32 bits of each record id (hexadecimal hashes), or a CRC of ids of another shape."""
    keys = hex_id_keys(record_ids)  # the common case: every id is 20 hexadecimal digits
    if keys is not None:
        return keys[0] >> np.uint64(32)
    prefixes = pc.utf8_slice_codeunits(record_ids, 0, 8)
    if len(prefixes) and pc.all(pc.match_substring_regex(prefixes, "^[0-9a-f]{8}$")).as_py():
        offsets = np.frombuffer(prefixes.buffers()[1], np.int32)[prefixes.offset: prefixes.offset + len(prefixes) + 1]
        digits = np.frombuffer(prefixes.buffers()[2], np.uint8)[offsets[0]: offsets[-1]].reshape(-1, 8)
        values = np.where(digits >= ord("a"), digits - ord("a") + 10, digits - ord("0")).astype(np.uint64)
        return (values << (np.arange(28, -1, -4, dtype=np.uint64))).sum(axis=1, dtype=np.uint64)
    return np.array([int(r[:8], 16) if _HEX8.match(r) else zlib.crc32(r.encode()) for r in record_ids.to_pylist()],
                    dtype=np.uint64)


def _archive(parent: str, member: np.ndarray, rel: np.ndarray, buckets: np.ndarray, history: History,
             datasets: list[str]) -> Family:
    """The archive pages of one logical feed: per release, ceil(changes / ARCHIVE_PAGE) pages (at
    least one when it has events), events spread over them by record-id hash."""
    positions = np.flatnonzero(member)
    group = rel[positions]
    releases = history.releases
    present = np.bincount(group, minlength=len(releases)) if len(positions) else np.zeros(len(releases), np.int64)
    pages = [max(math.ceil(sum(r.changes.get(d, 0) for d in datasets) / ARCHIVE_PAGE), int(present[i] > 0))
             for i, r in enumerate(releases)]
    offsets = np.concatenate([[0], np.cumsum(pages)]).astype(np.int64)
    per_release = np.array(pages, np.uint64)
    bucket = (buckets[positions] * per_release[group]) >> np.uint64(32) if len(positions) else np.zeros(0, np.uint64)
    page = offsets[group] + bucket.astype(np.int64)
    order = np.argsort(page, kind="stable")
    rows = positions[order]
    starts = np.searchsorted(page[order], np.arange(offsets[-1] + 1))
    keys, dates = [], []
    for i, r in enumerate(releases):
        width = len(str(pages[i]))
        keys += [r.version if pages[i] == 1 else f"{r.version}-{b + 1:0{width}d}" for b in range(pages[i])]
        dates += [r.date] * pages[i]
    return Family("archive", keys, keys, rows.astype(np.int64), starts.astype(np.int64), [True] * len(keys), "fast",
                  parent, dates)


def _logical_path(parent: str) -> str:
    return "all" if parent == "all" else f"datasets/{parent}"


def archive_path(parent: str, key: str) -> str:
    return f"feeds/{_logical_path(parent)}/archive/{key}"


def document(plan: FeedPlan, family: Family, i: int, newest: str | None) -> Feed:
    """The values of ``family``'s document ``i``; ``newest`` is its newest event's date."""
    context = plan.context
    kind, key, name = family.kind, family.keys[i], family.names[i]
    if kind == "archive":
        parent = feed_meta(plan, "all" if family.parent == "all" else "dataset", family.parent,
                           load_dataset(family.parent).title if family.parent != "all" else context.name, True, None)
        links = [("current", f"{parent.path}.atom")]
        if i > 0:
            links.append(("prev-archive", f"{archive_path(family.parent, family.keys[i - 1])}.atom"))
        if i + 1 < len(family):
            links.append(("next-archive", f"{archive_path(family.parent, family.keys[i + 1])}.atom"))
        return Feed("archive", archive_path(family.parent, key), parent.id, f"{parent.title}（存档 {key}）",
                    f"{parent.title}的存档页：{family.release_dates[i]} 发布的版本中新增、更正或撤回的记录"
                    "（此后又有变化的记录在更新的存档页中）。", parent.alternate,
                    newest or family.release_dates[i], tuple(links), archive=True, rss=False)
    return feed_meta(plan, kind, key, name, family.current[i], newest)


def feed_meta(plan: FeedPlan, kind: str, key: str, name: str, current: bool, newest: str | None) -> Feed:
    context = plan.context
    path = feed_path(kind, key)
    updated = newest or context.as_of
    feed_id = f"{context.tag}feed/{kind}" + (f"/{key}" if kind != "all" else "")
    tail = f"最新 {WINDOW} 条公示记录；停止公示的记录以撤回通知列出。"
    if kind == "all":
        title, subtitle, page = f"{context.name}：全部公示信息", f"行政许可、行政处罚、守信激励名单和严重失信主体名单，{tail}", ""
    elif kind == "dataset":
        title, subtitle, page = f"{context.name}：{name}", f"{name}，{tail}", f"datasets/{key}/"
    elif kind == "authority":
        title, subtitle, page = f"{name}：公示信息", f"{name}作出或认定的行政许可、行政处罚和名单，{tail}", f"authorities/{key}/"
    elif kind == "region":
        title, subtitle, page = f"{name}：公示信息", f"登记地在{name}的主体的公示信息，{tail}", f"regions/{key}/"
    else:
        who = name if current else f"主体（{key}）"
        title, subtitle, page = f"{who}：公示信息", f"{who}的公示信息，{tail}", subject_path(key)
    links: tuple[tuple[str, str], ...] = ()
    if kind in ("all", "dataset"):
        archive = plan.family("archive", "all" if kind == "all" else key)
        if len(archive):
            links = (("prev-archive", f"{archive_path(archive.parent, archive.keys[-1])}.atom"),)
    return Feed(kind, path, feed_id, clean(title), clean(subtitle), page if current or kind in ("all", "dataset") else FEEDS_PAGE,
                updated, links)


# ---------------------------------------------------------------------------------------------
# Entry values: the one source both renderers take


def entry_values(rows: pa.Table, context: Context) -> pa.Table:
    """The final (unescaped) text of every element of each event's entry, item or notice."""
    withdrawn = pc.equal(rows["kind"], 1)
    rid = _uri_safe(rows["record_id"])  # as written in ids and links; the text shows it as it is
    names = pa.array(DATASET_NAMES, pa.string()).take(rows["ds"])
    titles = pa.array([load_dataset(d).title for d in DATASET_NAMES], pa.string()).take(rows["ds"])
    entry_id = _join(f"{context.tag}record/", rid)
    published = rows["published"]
    has_published = pc.not_equal(published, "")
    page_id = rows["page_id"]
    page = pc.if_else(withdrawn, WITHDRAWAL_PAGE, pc.if_else(
        pc.not_equal(page_id, ""), _join("subjects/", page_id, f"/#{record_anchor('')}", rid), _join("datasets/", names, "/")))
    authority = rows["authority"]
    return pa.table({
        "kind": rows["kind"],
        "id": entry_id,
        "guid": pc.if_else(withdrawn, _join(f"{context.tag}withdrawal/", rid, "/", rows["date"]), entry_id),
        "title": pc.if_else(withdrawn, _join("撤回公示：", titles, "记录 ", rows["record_id"]), rows["title"]),
        "updated": _join(rows["date"], MIDNIGHT),
        "published": pc.if_else(has_published, _join(published, MIDNIGHT), ""),
        "author": pc.if_else(pc.not_equal(authority, ""), authority, context.name),
        "href": _join(f"{context.base}/", page) if context.base else page,
        "text": pc.if_else(pc.not_equal(rows["text"], ""), rows["text"], rows["title"]),  # never an empty element
        "term": names, "label": titles,
        "rss_date": pc.if_else(withdrawn, rfc822(rows["date"]), pc.if_else(has_published, rfc822(published), "")),
    })


# ---------------------------------------------------------------------------------------------
# feedgen renderer


class _AtomExtension(BaseExtension):
    """Declares the tombstone and feed-history namespaces; marks archive documents."""

    archive = False

    def extend_ns(self) -> dict:
        return {"at": AT_NS, "fh": FH_NS}

    def extend_atom(self, feed):
        if self.archive:
            etree.SubElement(feed, f"{{{FH_NS}}}archive")
        return feed


class _RssExtension(BaseExtension):
    def extend_ns(self) -> dict:
        return {"dc": DC_NS}


class _RssCreator(BaseEntryExtension):
    """dc:creator: RSS's author element must hold an e-mail address, an authority has none."""

    creator = ""

    def extend_rss(self, item):
        if self.creator:
            etree.SubElement(item, f"{{{DC_NS}}}creator").text = self.creator
        return item


def feedgen_documents(feed: Feed, values: pa.Table, context: Context) -> tuple[bytes, bytes | None]:
    """The Atom (and RSS) document of ``feed`` built with feedgen; tombstones are placed by lxml."""
    rows = values.to_pylist()
    atom = _feedgen_atom(feed, rows, context)
    return atom, (_feedgen_rss(feed, rows, context) if feed.rss else None)


def _feed_generator(feed: Feed, context: Context) -> FeedGenerator:
    fg = FeedGenerator()
    fg.id(feed.id)
    fg.title(feed.title)
    fg.updated(_datetime(feed.updated + MIDNIGHT))
    fg.generator(GENERATOR)
    fg.language(LANGUAGE)
    fg.subtitle(feed.subtitle)
    return fg


def _feedgen_atom(feed: Feed, rows: list[dict], context: Context) -> bytes:
    fg = _feed_generator(feed, context)
    fg.register_extension("gongshi", _AtomExtension, None, atom=True, rss=False)
    fg.gongshi.archive = feed.archive
    fg.author({"name": context.name})
    fg.link(href=context.url(f"{feed.path}.atom"), rel="self", type=ATOM_TYPE)
    fg.link(href=context.url(feed.alternate), rel="alternate", type="text/html")
    for rel, path in feed.links:
        fg.link(href=context.url(path), rel=rel, type=ATOM_TYPE)
    for row in rows:
        if row["kind"] == 0:
            fe = fg.add_entry(order="append")
            fe.id(row["id"])
            fe.title(row["title"])
            fe.updated(_datetime(row["updated"]))
            fe.author({"name": row["author"]})
            fe.link(href=row["href"], rel="alternate")
            fe.summary(row["text"])
            fe.category(term=row["term"], label=row["label"])
            if row["published"]:
                fe.published(_datetime(row["published"]))
    root = etree.fromstring(fg.atom_str(pretty=False))
    _set_base(root, feed, context)
    entries = root.findall(f"{{{ATOM_NS}}}entry")
    for entry in entries:
        root.remove(entry)
    queue = iter(entries)
    for row in rows:
        if row["kind"] == 0:
            root.append(next(queue))
        else:
            tombstone = etree.SubElement(root, f"{{{AT_NS}}}deleted-entry", ref=row["id"], when=row["updated"])
            etree.SubElement(tombstone, f"{{{AT_NS}}}comment").text = row["text"]
    return etree.tostring(root, pretty_print=True, xml_declaration=True, encoding="UTF-8")


def _feedgen_rss(feed: Feed, rows: list[dict], context: Context) -> bytes:
    fg = _feed_generator(feed, context)
    fg.register_extension("gongshi", _RssExtension, _RssCreator, atom=False, rss=True)
    fg.link(href=context.url(f"{feed.path}.rss"), rel="self", type=RSS_TYPE)
    fg.link(href=context.url(feed.alternate), rel="alternate", type="text/html")  # the last link is RSS's <link>
    for row in rows:
        fe = fg.add_entry(order="append")
        fe.title(row["title"])
        fe.link(href=row["href"], rel="alternate")
        fe.description(row["text"])
        fe.guid(row["guid"], permalink=False)
        fe.category(term=row["term"], label=row["label"])
        if row["rss_date"]:
            fe.pubDate(_datetime(row["published"] if row["kind"] == 0 else row["updated"]))
        if row["kind"] == 0:
            fe.gongshi.creator = row["author"]
    root = etree.fromstring(fg.rss_str(pretty=False))
    _set_base(root, feed, context)
    return etree.tostring(root, pretty_print=True, xml_declaration=True, encoding="UTF-8")


def _set_base(root, feed: Feed, context: Context) -> None:
    base = context.xml_base(feed.path)
    if base is not None:
        root.set(f"{{{XML_NS}}}base", base)


def _datetime(text: str) -> datetime:
    return datetime.fromisoformat(text)


# ---------------------------------------------------------------------------------------------
# Fast renderer: the same bytes, from Arrow string kernels


XML_DECLARATION = "<?xml version='1.0' encoding='UTF-8'?>\n"
ATOM_FOOTER = b"</feed>\n"
RSS_FOOTER = b"  </channel>\n</rss>\n"


def atom_fragments(values: pa.Table) -> pa.Array:
    """Each event's ``<entry>`` or ``<at:deleted-entry>``, indented as in the document."""
    text = {name: _escape_text_array(values[name]) for name in ("id", "title", "author", "text")}
    attribute = {name: _escape_attribute_array(values[name]) for name in ("id", "href", "term", "label")}
    published = values["published"]
    entry = _join(
        "  <entry>\n    <id>", text["id"], "</id>\n    <title>", text["title"], "</title>\n    <updated>", values["updated"],
        "</updated>\n    <author>\n      <name>", text["author"], "</name>\n    </author>\n    <link href=\"",
        attribute["href"], "\"/>\n    <summary>", text["text"], "</summary>\n    <category term=\"", attribute["term"],
        "\" label=\"", attribute["label"], "\"/>\n",
        pc.if_else(pc.not_equal(published, ""), _join("    <published>", published, "</published>\n"), ""),
        "  </entry>\n")
    tombstone = _join("  <at:deleted-entry ref=\"", attribute["id"], "\" when=\"", values["updated"],
                      "\">\n    <at:comment>", text["text"], "</at:comment>\n  </at:deleted-entry>\n")
    return pc.if_else(pc.equal(values["kind"], 1), tombstone, entry)


def rss_fragments(values: pa.Table) -> pa.Array:
    """Each event's ``<item>``: a record, or a withdrawal notice."""
    text = {name: _escape_text_array(values[name]) for name in ("title", "href", "text", "guid", "label", "author")}
    record = pc.equal(values["kind"], 0)
    date = values["rss_date"]
    return _join(
        "    <item>\n      <title>", text["title"], "</title>\n      <link>", text["href"], "</link>\n      <description>",
        text["text"], "</description>\n      <guid isPermaLink=\"false\">", text["guid"], "</guid>\n      <category>",
        text["label"], "</category>\n",
        pc.if_else(pc.not_equal(date, ""), _join("      <pubDate>", date, "</pubDate>\n"), ""),
        pc.if_else(record, _join("      <dc:creator>", text["author"], "</dc:creator>\n"), ""),
        "    </item>\n")


def atom_header(feed: Feed, context: Context) -> bytes:
    base = context.xml_base(feed.path)
    links = [(context.url(f"{feed.path}.atom"), "self", ATOM_TYPE), (context.url(feed.alternate), "alternate", "text/html")]
    links += [(context.url(path), rel, ATOM_TYPE) for rel, path in feed.links]
    lines = [
        XML_DECLARATION,
        f'<feed xmlns:at="{AT_NS}" xmlns:fh="{FH_NS}" xmlns="{ATOM_NS}" xml:lang="{LANGUAGE}"'
        + (f' xml:base="{_escape_attribute(base)}"' if base is not None else "") + ">\n",
        f"  <id>{_escape_text(feed.id)}</id>\n",
        f"  <title>{_escape_text(feed.title)}</title>\n",
        f"  <updated>{feed.updated}{MIDNIGHT}</updated>\n",
        f"  <author>\n    <name>{_escape_text(context.name)}</name>\n  </author>\n",
        *(f'  <link href="{_escape_attribute(href)}" rel="{rel}" type="{kind}"/>\n' for href, rel, kind in links),
        f"  <generator>{GENERATOR}</generator>\n",
        f"  <subtitle>{_escape_text(feed.subtitle)}</subtitle>\n",
        "  <fh:archive/>\n" if feed.archive else "",
    ]
    return "".join(lines).encode()


def rss_header(feed: Feed, context: Context) -> bytes:
    base = context.xml_base(feed.path)
    lines = [
        XML_DECLARATION,
        f'<rss xmlns:dc="{DC_NS}" xmlns:atom="{ATOM_NS}" xmlns:content="http://purl.org/rss/1.0/modules/content/" '
        'version="2.0"' + (f' xml:base="{_escape_attribute(base)}"' if base is not None else "") + ">\n",
        "  <channel>\n",
        f"    <title>{_escape_text(feed.title)}</title>\n",
        f"    <link>{_escape_text(context.url(feed.alternate))}</link>\n",
        f"    <description>{_escape_text(feed.subtitle)}</description>\n",
        f'    <atom:link href="{_escape_attribute(context.url(feed.path + ".rss"))}" rel="self" type="{RSS_TYPE}"/>\n',
        "    <docs>http://www.rssboard.org/rss-specification</docs>\n",
        f"    <generator>{GENERATOR}</generator>\n",
        f"    <language>{LANGUAGE}</language>\n",
        f"    <lastBuildDate>{_rfc822_one(feed.updated)}</lastBuildDate>\n",
    ]
    return "".join(lines).encode()


def fast_documents(feed: Feed, values: pa.Table, context: Context) -> tuple[bytes, bytes | None]:
    """The Atom (and RSS) document of ``feed``, one at a time (the writer slices chunks instead)."""
    atom = atom_header(feed, context) + _concatenated(atom_fragments(values)) + ATOM_FOOTER
    rss = rss_header(feed, context) + _concatenated(rss_fragments(values)) + RSS_FOOTER if feed.rss else None
    return atom, rss


# ---------------------------------------------------------------------------------------------
# Writing


def _write_documents(span: tuple[int, int]) -> int:
    """Write the shared family's documents ``docs[span]``; returns the bytes written."""
    state = shared()
    plan, family, out = state["plan"], state["family"], state["out"]
    chosen = state["docs"][span[0]:span[1]]
    # their entries, document after document: one slice when the documents are consecutive
    lengths = family.starts[chosen + 1] - family.starts[chosen]
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    if chosen[-1] - chosen[0] == len(chosen) - 1:
        rows = family.rows[family.starts[chosen[0]]:family.starts[chosen[-1] + 1]]
    else:
        rows = family.rows[np.repeat(family.starts[chosen] - offsets[:-1], lengths) + np.arange(offsets[-1])]
    values = entry_values(plan.rows(rows), plan.context)
    updated = values["updated"].to_pylist()
    written = 0
    if family.engine == "fast":
        atom = _buffer(atom_fragments(values))
        rss = _buffer(rss_fragments(values)) if family.kind != "archive" else None
    for k, i in enumerate(chosen.tolist()):
        lo, hi = int(offsets[k]), int(offsets[k + 1])
        feed = document(plan, family, i, updated[lo][:10] if hi > lo else None)
        if family.engine == "fast":
            atom_bytes = atom_header(feed, plan.context) + atom.slice(lo, hi) + ATOM_FOOTER
            rss_bytes = rss_header(feed, plan.context) + rss.slice(lo, hi) + RSS_FOOTER if rss is not None else None
        else:
            atom_bytes, rss_bytes = feedgen_documents(feed, values.slice(lo, hi - lo), plan.context)
        written += _write(f"{out}/{feed.path}.atom", atom_bytes)
        if rss_bytes is not None:
            written += _write(f"{out}/{feed.path}.rss", rss_bytes)
    return written


def _write(path: str, data: bytes) -> int:
    with open(path, "wb") as f:
        f.write(data)
    return len(data)


@dataclass
class _Buffer:
    """A string array's bytes and offsets, for slicing whole runs of fragments."""

    data: bytes
    offsets: np.ndarray

    def slice(self, lo: int, hi: int) -> bytes:
        return self.data[self.offsets[lo]:self.offsets[hi]]


def _buffer(values: pa.Array) -> _Buffer:
    values = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    if not len(values):
        return _Buffer(b"", np.zeros(1, np.int64))
    offsets = np.frombuffer(values.buffers()[1], dtype=np.int32)[values.offset: values.offset + len(values) + 1]
    data = values.buffers()[2].to_pybytes()
    return _Buffer(data, offsets.astype(np.int64))


def _concatenated(values: pa.Array) -> bytes:
    buffer = _buffer(values)
    return buffer.slice(0, len(buffer.offsets) - 1)


# ---------------------------------------------------------------------------------------------
# Text


def clean(text: str) -> str:
    """A string XML 1.0 can carry: forbidden and C1 control characters dropped, tab/LF/CR as spaces."""
    return _ILLEGAL_PY.sub("", text).replace("\t", " ").replace("\n", " ").replace("\r", " ")


def column(table: pa.Table, name: str) -> pa.Array:
    """A text column, nulls as "", cleaned like :func:`clean` (clean columns, the rule, cost one
    look at their bytes)."""
    if name not in table.column_names:
        return pa.array([""] * table.num_rows, pa.string())
    values = pc.fill_null(table[name].combine_chunks().cast(pa.string()), "")
    if _needs_cleaning(values):
        values = pc.replace_substring_regex(values, _ILLEGAL, "")
        values = pc.replace_substring_regex(values, "[\t\n\r]", " ")
    return values


def _needs_cleaning(values: pa.Array) -> bool:
    """Whether a value may hold a C0 or C1 control, U+FFFE or U+FFFF, read off the UTF-8 bytes."""
    if not len(values) or values.buffers()[2] is None:
        return False
    offsets = np.frombuffer(values.buffers()[1], dtype=np.int32)[values.offset: values.offset + len(values) + 1]
    data = np.frombuffer(values.buffers()[2], dtype=np.uint8)[offsets[0]: offsets[-1]]
    if ((data < 0x20) | (data == 0x7F) | (data == 0xC2)).any():  # C1 controls are C2 80–9F
        return True
    lead = np.flatnonzero(data[:-2] == 0xEF)  # U+FFFE, U+FFFF are EF BF BE, EF BF BF
    return bool(((data[lead + 1] == 0xBF) & (data[lead + 2] >= 0xBE)).any())


def valid_dates(values: pa.ChunkedArray | pa.Array) -> pa.Array:
    """ISO dates that are real calendar dates; "" for anything else."""
    text = pc.fill_null(values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values, "")
    unique = pc.unique(text).to_pylist()
    good = {v for v in unique if _DATE.match(v) and _is_date(v)}
    return pc.if_else(pc.is_in(text, value_set=pa.array(sorted(good), pa.string())), text, "")


def _is_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def rfc822(values: pa.Array) -> pa.Array:
    """RFC 822 dates (as feedgen writes them, C locale) of ISO dates; "" stays ""."""
    unique = pc.unique(values)
    formatted = pa.array([_rfc822_one(v) if v else "" for v in unique.to_pylist()], pa.string())
    return formatted.take(pc.index_in(values, value_set=unique))


def _rfc822_one(day: str) -> str:
    d = date.fromisoformat(day)
    return f"{_DAYS[d.weekday()]}, {d.day:02d} {_MONTHS[d.month - 1]} {d.year:04d} 00:00:00 +0800"


def _escape_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _escape_attribute(text: str) -> str:
    return _escape_text(text).replace('"', "&quot;")


def _escape_text_array(values: pa.Array) -> pa.Array:
    for raw, entity in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;")):
        values = pc.replace_substring(values, raw, entity)
    return values


def _escape_attribute_array(values: pa.Array) -> pa.Array:
    return pc.replace_substring(_escape_text_array(values), '"', "&quot;")


def _uri_safe(values: pa.Array) -> pa.Array:
    """Record ids percent-encoded where they hold more than unreserved URI characters (a record id
    is hexadecimal; this only guards the ids and links against a damaged history)."""
    values = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    odd = pc.invert(pc.match_substring_regex(values, _URI_SAFE))
    if not pc.any(odd).as_py():
        return values
    fixed = pa.array([quote(v, safe="") for v in values.filter(odd).to_pylist()], pa.string())
    return pc.replace_with_mask(values, odd, fixed)


def _join(*parts) -> pa.Array:
    """Concatenate strings and string arrays element-wise."""
    pieces = [pa.scalar(p, pa.string()) if isinstance(p, str) else p for p in parts]
    return pc.binary_join_element_wise(*pieces, "")


__all__ = ["FeedPlan", "FeedStats", "alternate_head", "build_feeds", "feed_links", "feed_path",
           "feeds_page_context", "plan_feeds", "write_feeds"]
