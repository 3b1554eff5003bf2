"""Listings: the published records by dataset, authority, region and month, newest first, and
index pages of authorities, regions and months.

A dataset, authority or region has a landing page with its counts, its newest 50 records and its
months; each month of it has its own pages. Pages are cut by content, as the search index's
shards are: a page after the month's first begins at a record whose id's hash says so (at least
PAGE_MIN records after the page before began, at most PAGE_MAX), is named by that record, and
says nothing of the month's totals; its pager links the newer and older page and the month's
first. A new record, a correction or a display period that ends then changes the page it is on
(and the month's first page, which has the counts), not every page after it: records arrive at
a month's newest end and leave from its oldest, so pages numbered from either end would all
shift.

Every listing is a slice of one table sorted once per kind (key, then newest first), so building
all of them is a few sorts plus writing pages; pages are written on every core. The table rows of
hundreds of pages are made at once from Arrow columns, with the row macros of
``templates/pages/listing_rows.html`` rendered once into stencils; the template renders the rest
of each page.

    datasets/<dataset>/            datasets/<dataset>/<YYYY-MM>/[p-<record id>/]
    authorities/<key>/             authorities/<key>/<YYYY-MM>/[p-<record id>/]       authorities/
    regions/<code>/                regions/<code>/<YYYY-MM>/[p-<record id>/]          regions/
    months/<YYYY-MM>/[p-<record id>/]                                                 months/
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from markupsafe import Markup

from ..incremental import array_digests, text_digests
from ..normalize import hex_id_keys, string_ranks
from ..schema import datasets
from ..threads import side_by_side
from .disclosures import Disclosures, Listing
from .opendata import UNDATED, month_name
from .render import OPEN, Stencil, Writer, escape_html, run_parallel, shared, string_offsets

PER_PAGE = 50  # the newest records on a landing page
# a month's pages: a page begins at a record whose id's hash is a multiple of PAGE_CUT, at least
# PAGE_MIN records after the page before began; after PAGE_MAX records without one, there (rare)
PAGE_MIN, PAGE_CUT, PAGE_MAX = 25, 32, 200
CHUNK = 500  # pages per worker task
# at most this many pages are written in this process (see render.map_parallel): listings come
# last, when the search index is done and the other core is free, so two workers pay sooner
ALONE = 1_000
# kind → (listing column that groups it, folder, index title, what a group is called)
KINDS = {
    "dataset": ("dataset", "datasets", "", ""),
    "authority": ("authority_key", "authorities", "公示机关", "机关"),
    "region": ("region", "regions", "登记地", "登记地"),
    "month": ("month", "months", "按月浏览", "月份"),
}


@dataclass
class Group:
    """A listing: a dataset, authority or region (its landing page), one month of one of them,
    or a month of everything."""

    kind: str
    key: str
    name: str
    start: int  # rows [start, end) of the kind's sorted table
    end: int
    counts: dict[str, int]
    lastmod: str = ""  # the newest record's date
    month: str = ""  # a month of a dataset, authority or region
    parent: Group | None = None
    months: list[Group] = field(default_factory=list)  # a landing page's months, newest first
    starts: list[int] = field(default_factory=list)  # a month's pages: the rows they begin at
    names: list[str] = field(default_factory=list)  # and their folders below the month's ("" the first)

    @property
    def landing(self) -> bool:
        return self.kind != "month" and not self.month

    @property
    def pages(self) -> int:
        return 1 if self.landing else len(self.starts)

    @property
    def path(self) -> str:
        return f"{KINDS[self.kind][1]}/{self.key}/" + (f"{self.month}/" if self.month else "")

    @property
    def total(self) -> int:
        return self.end - self.start


@dataclass
class ListingsResult:
    groups: dict[str, list[Group]]
    pages: int  # listing pages written (all, or in an incremental build the changed ones)
    lastmod: list[tuple[str, str]]  # (page path, newest record's date) of every listing page, for the sitemaps


@dataclass
class ListingPlan:
    """Every listing page, before any is written: task ``i`` is (kind, group, page number)."""

    listing: Listing  # newest first; columns put in that order when asked for
    orders: dict[str, np.ndarray]  # per kind, the listing's row numbers in that kind's order (no copies)
    groups: dict[str, list[Group]]  # per kind, the landing groups (months of everything for "month")
    tasks: list[tuple[str, Group, int]]

    def paths(self) -> list[str]:
        return self.page_paths

    @functools.cached_property
    def page_paths(self) -> list[str]:
        """Each task's page path (made once: the digests, the units and the sitemaps ask)."""
        return [page_path(group, page) for _, group, page in self.tasks]

    def rows(self, group: Group, page: int) -> tuple[int, int]:
        """The rows of the kind's order a page shows."""
        if group.landing:
            return group.start, min(group.start + PER_PAGE, group.end)
        return group.starts[page - 1], group.starts[page] if page < len(group.starts) else group.end

    def digests(self, records: np.ndarray) -> np.ndarray:
        """A digest per page of the rows it shows and what its header, months and pager say.
        ``records`` are the digests of the records the rows come from (a listing row is made
        from its record: :attr:`Disclosures.record_digests` taken at ``listing_records``)."""
        rows = records
        out = np.zeros((len(self.tasks), 2), np.uint64)
        for kind in KINDS:
            picked = [i for i, task in enumerate(self.tasks) if task[0] == kind]
            if not picked:
                continue
            ordered = rows[self.orders[kind]]
            bounds = np.array([self.rows(self.tasks[i][1], self.tasks[i][2]) for i in picked], np.int64)
            # pages may overlap (a landing page repeats its newest month's first rows): prefix sums
            sums = np.vstack([np.zeros((1, 2), np.uint64), np.cumsum(ordered, axis=0, dtype=np.uint64)])
            out[picked] = sums[bounds[:, 1]] - sums[bounds[:, 0]]
        paths = self.page_paths
        return out + text_digests(_meta(group, page, paths, i) for i, (_, group, page) in enumerate(self.tasks))


def _meta(group: Group, page: int, paths: list[str], i: int) -> str:
    """What page ``i`` (``paths``: every task's page path; a group's pages are consecutive
    tasks) says besides its rows: a landing page or a month's first page its counts and months,
    a later page only where it is and its neighbours (see the module's docstring)."""
    where = f"{group.kind}|{group.key}|{group.name}|{group.month}|{paths[i]}|"
    pager = f"{paths[i - 1] if page > 1 else ''}|{paths[i + 1] if page < group.pages else ''}|"
    if page > 1:
        return where + pager
    months = [(m.month, m.total) for m in group.months]
    return where + pager + f"{group.total}|{sorted(group.counts.items())}|{months}"


def plan_listings(disclosures: Disclosures, region_name: Callable[[str], str]) -> ListingPlan:
    listing = disclosures.listing
    month = pc.utf8_slice_codeunits(listing["date"], 0, 7)
    listing.add("month", pc.if_else(pc.equal(month, ""), UNDATED, month))
    titles = {d.name: d.title for d in datasets()}
    # the columns as numbers: a key's rank among the column's distinct values (in Arrow's string
    # order), a dataset's code; strings are taken only where a group or a month begins
    ranks = dict(zip(KINDS, side_by_side(lambda kind: string_ranks(pc.fill_null(listing[KINDS[kind][0]], "")), KINDS),
                     strict=True))
    dataset = _Coded.of(listing["dataset"])

    def grouped(kind: str) -> tuple[np.ndarray, list[Group]]:
        column = KINDS[kind][0]
        # by the kind's column, then date (newest first), dataset and record id: the listing is in
        # that order already and the sort is stable, so one key is enough
        order = np.argsort(ranks[kind], kind="stable")
        if kind == "region":
            order = order[pc.not_equal(pc.fill_null(listing[column], ""), "").to_numpy(zero_copy_only=False)[order]]
        return order, _groups(kind, listing, order, ranks[kind][order], ranks["month"][order], dataset, titles, region_name)

    done = dict(zip(KINDS, side_by_side(grouped, KINDS), strict=True))  # the kinds side by side
    orders = {kind: order for kind, (order, _) in done.items()}
    groups = {kind: kind_groups for kind, (_, kind_groups) in done.items()}
    cuts = _cuts(listing["record_id"])
    for kind in KINDS:
        _cut_pages(kind, listing, orders[kind], groups[kind], cuts)
    tasks = []
    for kind in KINDS:
        for g in groups[kind]:
            for listing_group in (g, *g.months):
                tasks += [(kind, listing_group, page) for page in range(1, listing_group.pages + 1)]
    return ListingPlan(listing, orders, groups, tasks)


def write_listings(plan: ListingPlan, writer: Writer, env, only: np.ndarray | None = None) -> ListingsResult:
    """Write the listing pages (all, or those where ``only`` is true) and the index pages."""
    titles = {d.name: d.title for d in datasets()}
    chosen = np.arange(len(plan.tasks)) if only is None else np.flatnonzero(only)
    state = {"plan": plan, "chosen": chosen, "writer": writer, "template": env.get_template("pages/listing.html"),
             "titles": titles, "rows": env.get_template("pages/listing_rows.html")}
    pages = run_parallel(_write_pages, len(chosen), state, chunk=CHUNK, alone=ALONE)
    index = env.get_template("pages/index.html")
    for kind in ("authority", "region", "month"):
        _write_index(kind, plan.groups[kind], writer, index, titles)
    return ListingsResult(plan.groups, pages, page_dates(plan))


def page_dates(plan: ListingPlan) -> list[tuple[str, str]]:
    """(page path, its newest record's date) of every listing page, for the sitemaps."""
    if not plan.tasks:
        return []
    firsts = [int(plan.orders[kind][plan.rows(group, page)[0]]) for kind, group, page in plan.tasks]
    dates = plan.listing["date"].take(pa.array(firsts, pa.int64())).to_pylist()
    return [(path, date or "") for path, date in zip(plan.page_paths, dates, strict=True)]


def page_path(group: Group, page: int) -> str:
    return group.path + (group.names[page - 1] if page > 1 else "")


def _cuts(ids: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Per record of the listing, whether a month's page may begin at it: its id's hash is a
    multiple of PAGE_CUT. Record ids are themselves hashes (read as numbers when they are hex);
    others are hashed."""
    keys = hex_id_keys(ids)
    if keys is not None:
        mixed = (keys[0] ^ keys[1]) * np.uint64(0x9E3779B97F4A7C15)
    else:
        mixed = array_digests(ids.combine_chunks() if isinstance(ids, pa.ChunkedArray) else ids)[:, 0]
    return (mixed >> np.uint64(40)) % np.uint64(PAGE_CUT) == 0


def _cut_pages(kind: str, listing: Listing, order: np.ndarray, groups: list[Group], cuts: np.ndarray) -> None:
    """The pages of every month of ``kind``: where each begins (:data:`PAGE_MIN`,
    :data:`PAGE_CUT`, :data:`PAGE_MAX`) and its folder, ``p-<its first record's id>/``."""
    months = [m for g in groups for m in (g.months if kind != "month" else [g])]
    if not months:
        return
    candidates = np.flatnonzero(cuts[order])
    for m in months:
        starts, last = [m.start], m.start
        at = np.searchsorted(candidates, m.start + PAGE_MIN)
        for c in candidates[at:np.searchsorted(candidates, m.end)].tolist():
            if c - last < PAGE_MIN:
                continue
            while c - last > PAGE_MAX:
                last += PAGE_MAX
                starts.append(last)
            starts.append(c)
            last = c
        while m.end - last > PAGE_MAX:
            last += PAGE_MAX
            starts.append(last)
        m.starts = starts
    later = [s for m in months for s in m.starts[1:]]
    ids = iter(listing["record_id"].take(pa.array(order[later], pa.int64())).to_pylist()) if later else iter(())
    for m in months:
        m.names = ["", *(f"p-{_folder_name(next(ids))}/" for _ in m.starts[1:])]


def _folder_name(record_id: str) -> str:
    """A record id as a folder name: itself (hexadecimal digits), or its digest when it holds
    anything else."""
    return record_id if _PLAIN.fullmatch(record_id) else hashlib.blake2b(record_id.encode("utf-8"), digest_size=10).hexdigest()


_PLAIN = re.compile(r"[0-9a-z]{1,64}")


def _groups(kind: str, listing: Listing, order: np.ndarray, key_ranks: np.ndarray, month_ranks: np.ndarray,
            datasets: _Coded, titles: dict[str, str], region_name: Callable[[str], str]) -> list[Group]:
    """The groups of ``kind``: the listing's rows in ``order`` (by the kind's key), cut where the
    key's rank (``key_ranks``, in that order) changes, and each group's months where the month's
    rank (``month_ranks``) changes."""
    n = len(order)
    if not n:
        return []
    column = KINDS[kind][0]
    key_begins = _begins(key_ranks)
    month_begins = np.flatnonzero(key_begins | _begins(month_ranks))
    starts = np.flatnonzero(key_begins)
    ends = np.r_[starts[1:], n]
    at = pa.array(order[month_begins])
    keys = dict(zip(month_begins.tolist(), listing[column].take(at).to_pylist(), strict=True))
    dates = dict(zip(month_begins.tolist(), listing["date"].take(at).to_pylist(), strict=True))
    months = dict(zip(month_begins.tolist(), listing["month"].take(at).to_pylist(), strict=True))
    authority = dict(zip(starts.tolist(), listing["authority"].take(pa.array(order[starts])).to_pylist(), strict=True)) \
        if kind == "authority" else None
    dataset = datasets.taken(order)
    out = []
    for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
        key = keys[a]
        if kind == "dataset":
            name = titles[key]
        elif kind == "authority":
            name = authority[a]  # the name on its newest record
        elif kind == "region":
            name = region_name(key)
        else:
            name = month_name(key)
        group = Group(kind, key, name, a, b, dataset.counts(a, b), dates[a])
        if kind != "month":
            bounds = [*month_begins[np.searchsorted(month_begins, a):np.searchsorted(month_begins, b)].tolist(), b]
            group.months = [Group(kind, key, name, lo, hi, dataset.counts(lo, hi), dates[lo], months[lo], group)
                            for lo, hi in itertools.pairwise(bounds)]
        out.append(group)
    if kind == "month":
        out.reverse()  # newest month first in the index
    return out


def _begins(values: np.ndarray) -> np.ndarray:
    """Per row, whether it differs from the row before (the first row does)."""
    return np.r_[True, values[1:] != values[:-1]]


class _Coded:
    """A text column as numbers (its distinct values in sorted order), so that the values of a
    run of rows are counted with ``bincount`` rather than by sorting strings."""

    def __init__(self, names: list[str], codes: np.ndarray) -> None:
        self.names = names  # the distinct values, sorted
        self.codes = codes  # per row, its value's place in names

    @classmethod
    def of(cls, values: pa.ChunkedArray | pa.Array) -> _Coded:
        encoded = pc.dictionary_encode(values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values)
        names = encoded.dictionary.to_pylist()
        order = sorted(range(len(names)), key=names.__getitem__)
        rank = np.empty(len(names), np.int64)
        rank[order] = np.arange(len(names))
        return cls([names[i] for i in order],
                   rank[encoded.indices.to_numpy(zero_copy_only=False)] if len(names) else np.zeros(0, np.int64))

    def taken(self, order: np.ndarray) -> _Coded:
        """The same values in ``order``."""
        return _Coded(self.names, self.codes[order])

    def counts(self, lo: int, hi: int) -> dict[str, int]:
        """Each value's count among rows [lo, hi), in sorted order of the values."""
        counts = np.bincount(self.codes[lo:hi], minlength=len(self.names))
        return {self.names[i]: int(counts[i]) for i in np.flatnonzero(counts).tolist()}


def _write_pages(span: tuple[int, int]) -> int:
    w = shared()
    plan: ListingPlan = w["plan"]
    writer: Writer = w["writer"]
    tasks = [plan.tasks[i] for i in w["chosen"][span[0]:span[1]].tolist()]
    bounds = [plan.rows(group, page) for _, group, page in tasks]
    paths = [page_path(group, page) for _, group, page in tasks]
    rows = _rows_html(plan, tasks, bounds, ["../" * p.count("/") for p in paths], w["titles"], w["rows"])
    html = memoryview(rows.buffers()[2] or b"")
    offsets = string_offsets(rows)
    first = 0
    for (kind, group, page), (lo, hi), path in zip(tasks, bounds, paths, strict=True):
        root = "../" * path.count("/")
        title = _title(group)
        crumbs = [] if kind == "dataset" else [(KINDS[kind][2], f"{KINDS[kind][1]}/")]
        if group.month:
            crumbs.append((group.name, group.parent.path))
        counts = [] if kind == "dataset" else [(w["titles"][d], c, "") for d, c in sorted(group.counts.items())]
        feed = {"dataset": f"feeds/datasets/{group.key}.atom", "authority": f"feeds/authorities/{group.key}.atom",
                "region": f"feeds/regions/{group.key}.atom"}.get(kind, "")
        months = [(month_name(m.month), m.total, m.path) for m in group.months]
        newer = page_path(group, page - 1) if page > 1 else ""
        older = page_path(group, page + 1) if page < group.pages else ""
        shown = hi - lo
        page_rows = Markup(str(html[offsets[first]:offsets[first + shown]], "utf-8"))
        first += shown
        first_date = plan.listing["date"][int(plan.orders[kind][lo])].as_py() if page > 1 else ""
        if page > 1:  # a later page of a month: nothing of the month's totals (see the module's docstring)
            counts = []
        body = w["template"].render(root=root, title=title, intro=_intro(group) if page == 1 else "", crumbs=crumbs, counts=counts,
                                    feed=feed, rows=page_rows, shown=shown, total=group.total, page=page,
                                    landing=group.landing, months=months, newer=newer, older=older,
                                    first=group.path if page > 2 else "", since=first_date)
        writer.page(path, title + (f"（{first_date} 及以前）" if page > 1 else ""), body)
    return span[1] - span[0]


def _rows_html(plan: ListingPlan, tasks: list[tuple[str, Group, int]], bounds: list[tuple[int, int]], roots: list[str],
               titles: dict[str, str], template) -> pa.Array:
    """The table rows of these pages, one string per row, page after page."""
    picked = [plan.orders[kind][lo:hi] for (kind, _, _), (lo, hi) in zip(tasks, bounds, strict=True)]
    rows = plan.listing.take(np.concatenate(picked) if picked else np.zeros(0, np.int64))
    if not rows.num_rows:
        return pa.array([], pa.string())
    root = pa.array(roots, pa.string()).take(pa.array(np.repeat(np.arange(len(tasks)), [len(p) for p in picked])))
    m = template.make_module()
    text = {c: _text(rows[c]) for c in ("date", "dataset", "page_id", "record_id", "subject_name", "reference", "gist",
                                        "authority_key", "authority")}
    names = list(titles)
    dataset = pa.array([titles[n] for n in names], pa.string()).take(pc.index_in(text["dataset"], pa.array(names, pa.string())))
    name = escape_html(text["subject_name"])
    subject = pc.if_else(pc.equal(text["page_id"], ""), Stencil(m.person, OPEN).fill(name),
                         Stencil(m.subject_link, OPEN, OPEN, OPEN, OPEN).fill(root, escape_html(text["page_id"]),
                                                                              escape_html(text["record_id"]), name))
    reference = escape_html(text["reference"])
    reference = pc.if_else(pc.equal(text["gist"], ""), reference,
                           Stencil(m.with_gist, OPEN, OPEN).fill(reference, escape_html(text["gist"])))
    return Stencil(m.row, *[OPEN] * 7).fill(root, escape_html(text["date"]), escape_html(dataset), subject, reference,
                                            escape_html(text["authority_key"]), escape_html(text["authority"]))


def _text(values: pa.ChunkedArray | pa.Array) -> pa.Array:
    """A listing column as one string array; a missing value (none is expected: intake makes
    every field a string) shows as empty rather than stopping the build."""
    values = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    return pc.fill_null(values, "") if values.null_count else values


def _title(group: Group) -> str:
    if group.month:
        return f"{group.name}：{month_name(group.month)}"
    if group.kind == "month":
        return f"{group.name}的公示"
    return group.name


def _intro(group: Group) -> str:
    if group.month:
        return "这个月作出决定或列入名单、当前仍在公示的记录。"
    return {
        "dataset": f"当前公示的全部{group.name}记录：最新 {PER_PAGE} 条，以及按月份的全部记录。",
        "authority": "该机关作出、当前公示的记录：最新的，以及按月份的全部记录。",
        "region": "统一社会信用代码（或工商注册号）登记在该地区的主体的当前公示记录：最新的，以及按月份的全部记录。",
        "month": "该月作出决定或列入名单、当前仍在公示的记录。",
    }[group.kind]


def _write_index(kind: str, groups: list[Group], writer: Writer, template, titles: dict[str, str]) -> None:
    folder, title, heading = KINDS[kind][1], KINDS[kind][2], KINDS[kind][3]
    intros = {"authority": "作出当前公示记录的行政机关，按统一社会信用代码排列。",
              "region": "主体登记地（统一社会信用代码第 3–8 位的行政区划代码），按代码排列。",
              "month": "按决定日期或列入日期所在月份浏览，最新的月份在前。"}
    entries = [{"name": g.name, "href": g.path, "counts": g.counts, "total": g.end - g.start} for g in groups]
    body = template.render(root="../", title=title, intro=intros[kind], heading=heading, entries=entries,
                           datasets=[(d.name, titles[d.name]) for d in datasets()])
    writer.page(f"{folder}/", title, body)
