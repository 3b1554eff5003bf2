"""Listings: the published records by dataset, authority, region and month, newest first, 50 to a
page, and index pages of authorities, regions and months.

Every listing is a slice of one table sorted once per kind (key, then newest first), so building
all of them is a few sorts plus writing pages; pages are written on every core.

    datasets/<dataset>/[<n>/]      authorities/<key>/[<n>/]     authorities/
    regions/<code>/[<n>/]          months/<YYYY-MM>/[<n>/]      regions/   months/
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..incremental import group_digests, row_digests, text_digests
from ..schema import datasets
from .disclosures import Disclosures
from .render import Writer, run_parallel, shared

PER_PAGE = 50
# kind → (listing column that groups it, folder, index title, what a group is called)
KINDS = {
    "dataset": ("dataset", "datasets", "", ""),
    "authority": ("authority_key", "authorities", "公示机关", "机关"),
    "region": ("region", "regions", "登记地", "登记地"),
    "month": ("month", "months", "按月浏览", "月份"),
}


@dataclass
class Group:
    kind: str
    key: str
    name: str
    start: int  # rows [start, end) of the kind's sorted table
    end: int
    counts: dict[str, int]
    lastmod: str = ""  # the newest record's date

    @property
    def pages(self) -> int:
        return max(1, -(-(self.end - self.start) // PER_PAGE))

    @property
    def path(self) -> str:
        return f"{KINDS[self.kind][1]}/{self.key}/"


@dataclass
class ListingsResult:
    groups: dict[str, list[Group]]
    pages: int  # listing pages written (all, or in an incremental build the changed ones)


@dataclass
class ListingPlan:
    """Every listing page, before any is written: task ``i`` is (kind, group, page number)."""

    listing: pa.Table
    orders: dict[str, np.ndarray]  # per kind, the listing's row numbers in that kind's order (no copies)
    groups: dict[str, list[Group]]
    tasks: list[tuple[str, Group, int]]

    def paths(self) -> list[str]:
        return [page_path(group, page) for _, group, page in self.tasks]

    def digests(self) -> np.ndarray:
        """A digest per page of the rows it shows and what its header and pager say."""
        rows = row_digests(self.listing)
        out = np.zeros((len(self.tasks), 2), np.uint64)
        for kind in KINDS:
            picked = [(i, g, page) for i, (k, g, page) in enumerate(self.tasks) if k == kind]
            if not picked:
                continue
            order = self.orders[kind]
            starts = np.array([g.start + (page - 1) * PER_PAGE for _, g, page in picked], np.int64)
            sort = np.argsort(starts, kind="stable")
            sums = group_digests(rows[order], starts[sort], len(order))
            out[np.array([i for i, _, _ in picked])[sort]] = sums
        meta = [f"{k}|{g.key}|{g.name}|{page}|{g.pages}|{g.end - g.start}|{sorted(g.counts.items())}" for k, g, page in self.tasks]
        return out + text_digests(meta)


def plan_listings(disclosures: Disclosures, region_name: Callable[[str], str]) -> ListingPlan:
    listing = disclosures.listing
    listing = listing.append_column("month", pc.utf8_slice_codeunits(listing["date"], 0, 7))
    titles = {d.name: d.title for d in datasets()}
    orders: dict[str, np.ndarray] = {}
    groups: dict[str, list[Group]] = {}
    for kind, (column, *_rest) in KINDS.items():
        order = pc.sort_indices(listing, sort_keys=[(column, "ascending"), ("date", "descending"), ("dataset", "ascending"),
                                                    ("record_id", "ascending")])
        if kind in ("region", "month"):
            order = order.filter(pc.not_equal(listing[column].take(order), ""))
        orders[kind] = order.to_numpy()
        keyed = pa.table({column: listing[column].take(order), "dataset": listing["dataset"].take(order),
                          "date": listing["date"].take(order), "authority": listing["authority"].take(order)})
        groups[kind] = _groups(kind, keyed, column, titles, region_name)
    tasks = [(kind, g, page) for kind in KINDS for g in groups[kind] for page in range(1, g.pages + 1)]
    return ListingPlan(listing, orders, groups, tasks)


def write_listings(plan: ListingPlan, writer: Writer, env, only: np.ndarray | None = None) -> ListingsResult:
    """Write the listing pages (all, or those where ``only`` is true) and the index pages."""
    titles = {d.name: d.title for d in datasets()}
    chosen = np.arange(len(plan.tasks)) if only is None else np.flatnonzero(only)
    state = {"listing": plan.listing, "orders": plan.orders, "tasks": plan.tasks, "chosen": chosen, "writer": writer,
             "template": env.get_template("pages/listing.html"), "titles": titles}
    pages = run_parallel(_write_pages, len(chosen), state, chunk=500)
    index = env.get_template("pages/index.html")
    for kind in ("authority", "region", "month"):
        _write_index(kind, plan.groups[kind], writer, index, titles)
    return ListingsResult(plan.groups, pages)


def page_path(group: Group, page: int) -> str:
    return group.path + (f"{page}/" if page > 1 else "")


def _groups(kind: str, table: pa.Table, column: str, titles: dict[str, str], region_name: Callable[[str], str]) -> list[Group]:
    keys = table[column].to_numpy(zero_copy_only=False)
    if not len(keys):
        return []
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    ends = np.r_[starts[1:], len(keys)]
    dataset = table["dataset"].to_numpy(zero_copy_only=False)
    authority = table["authority"].to_numpy(zero_copy_only=False) if kind == "authority" else None
    dates = table["date"].to_numpy(zero_copy_only=False)
    out = []
    for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
        key = keys[a]
        names, counts = np.unique(dataset[a:b], return_counts=True)
        if kind == "dataset":
            name = titles[key]
        elif kind == "authority":
            name = authority[a]  # the name on its newest record
        elif kind == "region":
            name = region_name(key)
        else:
            name = f"{key[:4]} 年 {int(key[5:7])} 月"
        out.append(Group(kind, key, name, a, b, dict(zip(names.tolist(), counts.tolist(), strict=True)), dates[a]))
    if kind == "month":
        out.reverse()  # newest month first in the index
    return out


def _write_pages(span: tuple[int, int]) -> int:
    w = shared()
    writer: Writer = w["writer"]
    for i in w["chosen"][span[0]:span[1]].tolist():
        kind, group, page = w["tasks"][i]
        lo = group.start + (page - 1) * PER_PAGE
        rows = w["listing"].take(w["orders"][kind][lo:min(lo + PER_PAGE, group.end)]).to_pylist()
        for r in rows:
            r["dataset"] = w["titles"][r["dataset"]]
        path = page_path(group, page)
        root = "../" * path.count("/")
        title = _title(group)
        crumbs = [] if kind == "dataset" else [(KINDS[kind][2], f"{KINDS[kind][1]}/")]
        counts = [] if kind == "dataset" else [(w["titles"][d], c, "") for d, c in sorted(group.counts.items())]
        feed = {"dataset": f"feeds/datasets/{group.key}.atom", "authority": f"feeds/authorities/{group.key}.atom",
                "region": f"feeds/regions/{group.key}.atom"}.get(kind, "")
        body = w["template"].render(root=root, title=title, intro=_intro(group), crumbs=crumbs, counts=counts, feed=feed,
                                    rows=rows, total=group.end - group.start, page=page, pages=group.pages, base=group.path)
        writer.page(path, title + (f"（第 {page} 页）" if page > 1 else ""), body)
    return span[1] - span[0]


def _title(group: Group) -> str:
    if group.kind == "dataset":
        return group.name
    if group.kind == "month":
        return f"{group.name}的公示"
    return group.name


def _intro(group: Group) -> str:
    return {
        "dataset": f"当前公示的全部{group.name}记录。",
        "authority": "该机关作出、当前公示的记录。",
        "region": "统一社会信用代码（或工商注册号）登记在该地区的主体的当前公示记录。",
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
